/** effect-smtp: a declarative SMTP/LMTP server built on Effect. Each concept is a namespace. */
export * as Address from "./protocol/Address.js"
export * as Command from "./protocol/Command.js"
export * as DataDecoder from "./protocol/DataDecoder.js"
export * as Ehlo from "./protocol/Ehlo.js"
export * as LineFramer from "./protocol/LineFramer.js"
export * as Reply from "./protocol/Reply.js"
export * as Hooks from "./core/Hooks.js"
export * as Server from "./core/Server.js"
export * as ServerConfig from "./core/ServerConfig.js"
export * as Session from "./core/Session.js"
/** The typed refusal hooks fail with, and why a body stream stopped. */
export { MessageError, SmtpError } from "./core/SmtpError.js"
export * as Transport from "./core/Transport.js"
export * as NodeSmtpServer from "./node/NodeSmtpServer.js"
/** The smtp-server compatible facade; also the `effect-smtp/compat` entry. */
export { SMTPServer } from "./compat/SMTPServer.js"

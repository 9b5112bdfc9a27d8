/**
 * `effect-smtp/compat`: the `SMTPServer` facade with smtp-server's documented callback API.
 * Moving over is changing the import; the data stream is a Web `ReadableStream` unless
 * `streamType: "node"` is set.
 */
import { SMTPServer } from "./SMTPServer.js"

/** The server class: options, callbacks, events, listen/close. */
export { SMTPServer }
/** The documented types: options, session, address, auth, streams, in smtp-server's spelling. */
export type * from "./Types.js"
/** The adapters from callbacks to hook Layers, for mixing callback code into an Effect server. */
export * as Callbacks from "./Callbacks.js"

/** smtp-server's default export shape: `import smtp from "..."; new smtp.SMTPServer()`. */
export default { SMTPServer }

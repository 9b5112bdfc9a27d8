/**
 * The documented types of the `SMTPServer` facade (reference/callbacks.md, reference/api.md),
 * in smtp-server's spelling, so existing callback code type-checks after changing its import.
 */
import type { Readable } from "node:stream"

declare global {
  interface Error {
    /** The SMTP reply code a callback error asks for (callbacks.md: `err.responseCode = 550`). */
    responseCode?: number | undefined
  }
}

/** An error handed to a callback; `responseCode` picks the reply code, else the stage's default. */
export interface SMTPError extends Error {
  responseCode?: number | undefined
}

/** ESMTP parameters of MAIL FROM / RCPT TO, upper-case keys; a keyword without a value is `true`. */
export type SMTPAddressArgs = Record<string, string | true>

/** Parsed per-recipient DSN parameters (RFC 3461), present only when DSN is shown (`hideDSN: false`). */
export interface SMTPAddressDsn {
  notify?: Array<string> | undefined
  orcpt?: string | undefined
}

/** A MAIL FROM or RCPT TO path: `address` is "" for the null sender; `args` is false when there were none. */
export interface SMTPAddress {
  address: string
  args: SMTPAddressArgs | false
  dsn?: SMTPAddressDsn | undefined
}

/** DSN parameters of MAIL FROM (RFC 3461), present only when DSN is shown (`hideDSN: false`). */
export interface SMTPEnvelopeDsn {
  ret: "FULL" | "HDRS" | null
  envid: string | null
}

/** The transaction under way as the callbacks see it. */
export interface SMTPEnvelope {
  mailFrom: SMTPAddress | false
  rcptTo: Array<SMTPAddress>
  bodyType: "7bit" | "8bitmime" | "binarymime"
  smtpUtf8: boolean
  requireTLS: boolean
  dsn?: SMTPEnvelopeDsn | undefined
}

/** The cipher of a secure connection, as `session.tlsOptions` shows it. */
export interface SMTPTlsOptions {
  name: string
  standardName: string
  version: string
}

/** The session every callback receives: one object per connection, so properties an application sets stay. */
export interface SMTPSession {
  id: string
  secure: boolean
  /** The server name the client asked for with SNI, once secure. */
  servername: string | undefined
  localAddress: string
  localPort: number
  remoteAddress: string
  remotePort: number
  /** Reverse DNS name of the client, or `[address]`. */
  clientHostname: string
  /** The HELO/EHLO/LHLO argument, lower-cased; false before the greeting. */
  hostNameAppearsAs: string | false
  openingCommand: "HELO" | "EHLO" | "LHLO" | false
  /** 1-based number of the current transaction; in onClose, those completed plus one if it closed mid-transaction. */
  transaction: number
  /** RFC 3848 transmission type: SMTP, ESMTP, ESMTPS, ESMTPSA, LMTP... */
  transmissionType: string
  tlsOptions: SMTPTlsOptions | false
  /** What onAuth returned as `user` (`any`, as in smtp-server's types, so `session.user.name` type-checks). */
  user: any
  xClient: Map<string, string | false>
  xForward: Map<string, string | false>
  envelope: SMTPEnvelope
  /**
   * Aborted when the connection has ended, or when the callback under way was cut off (hookTimeout,
   * shutdown) and its answer will not be used (then `reason.code` is "ECANCELED"): cancel work
   * started for it. The next callback gets a fresh one.
   */
  readonly signal: AbortSignal
}

/** What `onAuth` receives; which fields are set depends on `method` (api.md, "auth"). */
export interface AuthObject {
  method: "PLAIN" | "LOGIN" | "CRAM-MD5" | "XOAUTH2" | "XCLIENT"
  username: string
  /** PLAIN and LOGIN. */
  password?: string | undefined
  /** XOAUTH2. */
  accessToken?: string | undefined
  /** CRAM-MD5: the challenge sent to the client. */
  challenge?: string | undefined
  /** CRAM-MD5: the client's answer. */
  challengeResponse?: string | undefined
  /** CRAM-MD5: true when the client's answer proves knowledge of `password`; false for other methods. */
  validatePassword: (password: string) => boolean
}

/** What `onAuth` answers with (callbacks.md, "The response object"). */
export interface AuthResponse {
  /** Stored on `session.user`; without it the login fails. */
  user?: unknown
  /** Text of the reply (235 on success, the refusal otherwise). */
  message?: string | undefined
  /** Code of the refusal when there is no `user`. */
  responseCode?: number | undefined
  /** XOAUTH2: sent to the client as a 334 base64 JSON error challenge. */
  data?: Record<string, string> | undefined
}

/** The message body handed to `onData`: a Web stream whose counters update while it is read. */
export interface DataStream extends ReadableStream<Uint8Array>, AsyncIterable<Uint8Array> {
  /** Body bytes received so far. */
  readonly byteLength: number
  /** True once the body passed `size`; the stream then ends early. */
  readonly sizeExceeded: boolean
}

/** The message body with `streamType: "node"`: a Node `Readable`, for code written against smtp-server's stream. */
export interface NodeDataStream extends Readable {
  readonly byteLength: number
  readonly sizeExceeded: boolean
}

/** The plain accept-or-refuse callback. */
export type Callback = (err?: Error | null) => void

/** `onData`'s callback: an optional 250 text, or in LMTP one entry per recipient. */
export type DataCallback = (err: Error | null, message?: string | Array<string | SMTPError>) => void

/** `onAuth`'s callback. */
export type AuthCallback = (err: Error | null, response?: AuthResponse) => void

/** The lifecycle callbacks, as options or as properties of the server. */
export interface Callbacks<Stream = DataStream> {
  onConnect(session: SMTPSession, callback: Callback): void
  onSecure(socket: unknown, session: SMTPSession, callback: Callback): void
  onAuth(auth: AuthObject, session: SMTPSession, callback: AuthCallback): void
  onMailFrom(address: SMTPAddress, session: SMTPSession, callback: Callback): void
  onRcptTo(address: SMTPAddress, session: SMTPSession, callback: Callback): void
  onData(stream: Stream, session: SMTPSession, callback: DataCallback): void
  onClose(session: SMTPSession, callback?: Callback): void
}

/** A bunyan-style logger; missing levels fall back to another one, as in smtp-server. */
export interface ExternalLogger {
  // Methods with `any` arguments, so typed loggers (bunyan, pino) are assignable.
  trace?(...args: Array<any>): void
  debug?(...args: Array<any>): void
  info?(...args: Array<any>): void
  warn?(...args: Array<any>): void
  error?(...args: Array<any>): void
  fatal?(...args: Array<any>): void
}

/** TLS material as Node's `tls` takes it. */
export type TlsMaterial = string | Uint8Array | ReadonlyArray<string | Uint8Array | { pem: string | Uint8Array }>

/** The TLS options the facade accepts (api.md, "TLS"). */
export interface TlsOptions {
  key?: TlsMaterial | undefined
  cert?: TlsMaterial | undefined
  ca?: TlsMaterial | undefined
  requestCert?: boolean | undefined
  rejectUnauthorized?: boolean | undefined
  minVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3" | undefined
  maxVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3" | undefined
  honorCipherOrder?: boolean | undefined
  sessionIdContext?: string | undefined
}

/** A custom reverse resolver, shaped like `dns.reverse`. */
export interface Resolver {
  reverse(ip: string, callback: (err: Error | null, hostnames?: Array<string>) => void): void
}

/** Which stream `onData` receives. */
export type StreamType = "web" | "node"

/** The data stream of a stream type. */
export type StreamOf<T extends StreamType> = T extends "node" ? NodeDataStream : DataStream

/** Every documented option (api.md); options the facade does not know are ignored, as smtp-server ignores them. */
export interface SMTPServerOptions<T extends StreamType = "web"> extends Partial<Callbacks<StreamOf<T>>>, TlsOptions {
  secure?: boolean | undefined
  needsUpgrade?: boolean | undefined
  name?: string | undefined
  banner?: string | undefined
  lmtp?: boolean | undefined
  heloResponse?: string | undefined
  authMethods?: Array<string> | undefined
  authOptional?: boolean | undefined
  allowInsecureAuth?: boolean | undefined
  authRequiredMessage?: string | undefined
  hideSTARTTLS?: boolean | undefined
  hideSize?: boolean | undefined
  hidePIPELINING?: boolean | undefined
  /** Default true, as in smtp-server. */
  hideDSN?: boolean | undefined
  /** Default true, as in smtp-server. */
  hideENHANCEDSTATUSCODES?: boolean | undefined
  /** Default true, as in smtp-server. */
  hideREQUIRETLS?: boolean | undefined
  hide8BITMIME?: boolean | undefined
  hideSMTPUTF8?: boolean | undefined
  disabledCommands?: Array<string> | undefined
  size?: number | undefined
  /** Answer 552 past `size` whatever onData says (smtp-server's option; default false: onData decides). */
  rejectOversized?: boolean | undefined
  maxClients?: number | undefined
  maxRecipients?: number | undefined
  /** Longest command line in bytes (512 to 1 MiB). */
  maxCommandLength?: number | undefined
  socketTimeout?: number | undefined
  closeTimeout?: number | undefined
  maxAllowedUnauthenticatedCommands?: number | false | undefined
  /** Milliseconds before the greeting; a client that talks earlier gets 421 (default 100, 0 disables). */
  greetingDelay?: number | undefined
  useXClient?: boolean | Array<string> | undefined
  useXForward?: boolean | Array<string> | undefined
  useProxy?: boolean | Array<string> | undefined
  disableReverseLookup?: boolean | undefined
  resolver?: Resolver | undefined
  sniOptions?: Record<string, TlsOptions> | Map<string, TlsOptions> | undefined
  logger?: boolean | ExternalLogger | undefined
  component?: string | undefined
  /** `"web"` (default): onData gets a Web ReadableStream; `"node"`: a Node Readable, as smtp-server. */
  streamType?: T | undefined
}

/** What the `connect` event carries. */
export interface ConnectionInfo {
  id: string
  localAddress: string
  localPort: number
  remoteAddress: string
  remotePort: number
  clientHostname: string
  hostNameAppearsAs: string | false
}

/** smtp-server's names for the same types, so imported type names keep working. */
export type SMTPServerSession = SMTPSession
/** smtp-server's name for `SMTPAddress`. */
export type SMTPServerAddress = SMTPAddress
/** smtp-server's name for `AuthObject`. */
export type SMTPServerAuthentication = AuthObject
/** smtp-server's name for `AuthResponse`. */
export type SMTPServerAuthenticationResponse = AuthResponse
/** smtp-server's name for the data stream. */
export type SMTPServerDataStream = DataStream
/** smtp-server's name for `SMTPEnvelope`. */
export type SMTPServerEnvelope = SMTPEnvelope

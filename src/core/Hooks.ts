/**
 * One service per lifecycle hook. The server requires all of them; each has a `Default` that
 * accepts (the data hook drains the body), and `layer` fills in the ones a user leaves out, so
 * precedence is decided in one place. Hooks accept or refuse: they fail with `SmtpError` to
 * refuse, and the core writes every reply. A hook is interrupted (its finalizers run) when its
 * client goes away, when `hookTimeout` passes, or at shutdown past `closeTimeout`; see
 * core/Cancellation.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as Address from "../protocol/Address.js"
import * as Reply from "../protocol/Reply.js"
import { type MessageError, SmtpError } from "./SmtpError.js"
import type * as Session from "./Session.js"
import type * as Transport from "./Transport.js"

/** What a hook may use from the connection it runs for. */
export type HookContext = Session.Session

/** A message being received: its envelope and its body as a stream with backpressure. */
export interface Message {
  readonly envelope: Session.Envelope
  /**
   * The dot-unstuffed body. The socket is read only as fast as this is pulled. It fails with
   * `MessageError` when the client goes away while it is being pulled, and, unless the facade
   * asked otherwise, when the body passes the size limit or breaks the bare-line-ending policy.
   * Sent with BDAT (RFC 3030), it is the concatenated chunks, verbatim; a client that gives the
   * message up between two chunks (RSET, QUIT, a new greeting) interrupts the data hook.
   */
  readonly body: Stream.Stream<Uint8Array, MessageError>
  /**
   * The low-level pull under `body`: the decoded pieces of the next chunk read from the peer
   * (never empty), or `undefined` at the end of the body. It fails as `body` does, except past
   * the size limit with `rejectOversized: false`, where it ends. The facade builds its Web and
   * Node streams directly on it (one run per chunk, never per byte); use `body` or `pull`, not both.
   */
  readonly pull: Effect.Effect<ReadonlyArray<Uint8Array> | undefined, MessageError>
  /** Body bytes received so far. */
  readonly byteLength: number
  /** True once the body passed the configured size. */
  readonly sizeExceeded: boolean
}

/** The data hook's verdict when it accepts: optionally its own text for the 250 reply. */
export interface Accepted {
  readonly message?: string | undefined
}

/**
 * What the data hook returns: nothing or `Accepted` to accept; in LMTP mode, one entry per
 * recipient, in envelope order (RFC 2033 §4.2), each accepting or refusing that recipient.
 */
export type DataResult = void | Accepted | ReadonlyArray<Accepted | SmtpError>

/** Called when a client connects, before the greeting; fail to refuse the connection (default 554). */
export class OnConnect extends Context.Tag("effect-smtp/Hooks/OnConnect")<
  OnConnect,
  (session: Session.SessionState) => Effect.Effect<void, SmtpError, HookContext>
>() {
  /** Accepts every connection. */
  static readonly Default = Layer.succeed(OnConnect, () => Effect.void)
}

/** Called after every TLS handshake (implicit TLS and STARTTLS); fail to end the session. */
export class OnSecure extends Context.Tag("effect-smtp/Hooks/OnSecure")<
  OnSecure,
  (tls: Transport.TlsInfo, session: Session.SessionState) => Effect.Effect<void, SmtpError, HookContext>
>() {
  /** Accepts every handshake. */
  static readonly Default = Layer.succeed(OnSecure, () => Effect.void)
}

/** What a client proved with AUTH (RFC 4954), by SASL mechanism; XCLIENT LOGIN comes from a trusted proxy. */
export type Credentials =
  | {
    readonly method: "PLAIN" | "LOGIN"
    readonly username: string
    readonly password: string
    /** PLAIN only (RFC 4616 §2): the identity the client asks to act as, when it sent a non-empty one. */
    readonly authzid?: string | undefined
  }
  | {
    readonly method: "CRAM-MD5"
    readonly username: string
    readonly challenge: string
    readonly challengeResponse: string
    /** Computes the expected HMAC-MD5 for `password` and compares in constant time (RFC 2195). */
    readonly validatePassword: (password: string) => boolean
  }
  | { readonly method: "XOAUTH2"; readonly username: string; readonly accessToken: string }
  | { readonly method: "XCLIENT"; readonly username: string }

/** The auth hook's verdict when it accepts: the user stored on the session, and optionally its own 235 text. */
export interface Authenticated {
  /** Stored as `session.user`; `undefined` or `null` counts as a refusal (535 5.7.8). */
  readonly user: unknown
  readonly message?: string | undefined
  /** A 2xx code for the success reply instead of 235 (the facade's `responseCode`); other codes are ignored. */
  readonly code?: number | undefined
}

/**
 * Called for AUTH with the decoded credentials; fail with SmtpError to refuse (default 535 5.7.8).
 * For XOAUTH2, `SmtpError.xoauth2Refused(data)` first sends `data` as a 334 error challenge.
 */
export class OnAuth extends Context.Tag("effect-smtp/Hooks/OnAuth")<
  OnAuth,
  (credentials: Credentials, session: Session.SessionState) => Effect.Effect<Authenticated, SmtpError, HookContext>
>() {
  /** Refuses every login: a server that offers AUTH must say who may log in. */
  static readonly Default = Layer.succeed(
    OnAuth,
    () => Effect.fail(new SmtpError({ reply: Reply.make(535, "Error: Authentication credentials invalid", "5.7.8") }))
  )
}

/** Called for MAIL FROM; fail to refuse the sender. */
export class OnMailFrom extends Context.Tag("effect-smtp/Hooks/OnMailFrom")<
  OnMailFrom,
  (from: Address.Address, session: Session.SessionState) => Effect.Effect<void, SmtpError, HookContext>
>() {
  /** Accepts every sender. */
  static readonly Default = Layer.succeed(OnMailFrom, () => Effect.void)
}

/** Called for each RCPT TO; fail to refuse that recipient only. */
export class OnRcptTo extends Context.Tag("effect-smtp/Hooks/OnRcptTo")<
  OnRcptTo,
  (rcpt: Address.Address, session: Session.SessionState) => Effect.Effect<void, SmtpError, HookContext>
>() {
  /** Accepts every recipient. */
  static readonly Default = Layer.succeed(OnRcptTo, () => Effect.void)
}

/** Called with each message; consume the body, then accept or fail with SmtpError. */
export class OnData extends Context.Tag("effect-smtp/Hooks/OnData")<
  OnData,
  (message: Message, session: Session.SessionState) => Effect.Effect<DataResult, SmtpError | MessageError, HookContext>
>() {
  /** Drains the body and accepts. */
  static readonly Default = Layer.succeed(OnData, (message) => drain(message))
}

/** Reads the body to its end through the low-level pull, without a Stream (which costs more than a small message). */
export const drain = (message: Message): Effect.Effect<void, MessageError> => {
  const step: Effect.Effect<void, MessageError> = Effect.flatMap(message.pull, (pieces) => (pieces === undefined ? Effect.void : step))
  return step
}

/**
 * Runs `f` on each piece of the body in order, to its end: what `Stream.runForEach(message.body, f)`
 * does, through `pull`. Running a Stream has a fixed cost, about 500 Effect operations and a
 * fiber per run with effect 3.22 (0.5 ms of CPU, more than the rest of a small message; see
 * bench/core.ts `--data=stream`), and a cost per piece; this loop costs a few operations per
 * piece. The next piece is read off the connection only once `f` has finished with this one.
 */
export const runForEach = <E, R>(
  message: Message,
  f: (chunk: Uint8Array) => Effect.Effect<unknown, E, R>
): Effect.Effect<void, MessageError | E, R> => {
  const next: Effect.Effect<void, MessageError | E, R> = Effect.flatMap(
    message.pull,
    (pieces) => (pieces === undefined ? Effect.void : each(pieces, 0))
  )
  const each = (pieces: ReadonlyArray<Uint8Array>, i: number): Effect.Effect<void, MessageError | E, R> =>
    i === pieces.length ? next : Effect.flatMap(f(pieces[i]!), () => each(pieces, i + 1))
  return next
}

/** Called once when a connection ends, for whatever reason. */
export class OnClose extends Context.Tag("effect-smtp/Hooks/OnClose")<
  OnClose,
  (session: Session.SessionState) => Effect.Effect<void, never, HookContext>
>() {
  /** Does nothing. */
  static readonly Default = Layer.succeed(OnClose, () => Effect.void)
}

/** Every hook the server requires. */
export type Hooks = OnConnect | OnSecure | OnAuth | OnMailFrom | OnRcptTo | OnData | OnClose

/** Hook implementations by name, as `layer` takes them. */
export interface Implementations {
  readonly onConnect?: Context.Tag.Service<OnConnect>
  readonly onSecure?: Context.Tag.Service<OnSecure>
  readonly onAuth?: Context.Tag.Service<OnAuth>
  readonly onMailFrom?: Context.Tag.Service<OnMailFrom>
  readonly onRcptTo?: Context.Tag.Service<OnRcptTo>
  readonly onData?: Context.Tag.Service<OnData>
  readonly onClose?: Context.Tag.Service<OnClose>
}

/** Every hook from plain functions; the ones left out are the defaults. */
export const layer = (implementations: Implementations = {}): Layer.Layer<Hooks> =>
  Layer.mergeAll(
    implementations.onConnect ? Layer.succeed(OnConnect, implementations.onConnect) : OnConnect.Default,
    implementations.onSecure ? Layer.succeed(OnSecure, implementations.onSecure) : OnSecure.Default,
    implementations.onAuth ? Layer.succeed(OnAuth, implementations.onAuth) : OnAuth.Default,
    implementations.onMailFrom ? Layer.succeed(OnMailFrom, implementations.onMailFrom) : OnMailFrom.Default,
    implementations.onRcptTo ? Layer.succeed(OnRcptTo, implementations.onRcptTo) : OnRcptTo.Default,
    implementations.onData ? Layer.succeed(OnData, implementations.onData) : OnData.Default,
    implementations.onClose ? Layer.succeed(OnClose, implementations.onClose) : OnClose.Default
  )

/** All the defaults: a server that accepts and drains everything. */
export const Default: Layer.Layer<Hooks> = layer()

/** The resolved hook functions, looked up once per server rather than per command. */
export interface Resolved {
  readonly onConnect: Context.Tag.Service<OnConnect>
  readonly onSecure: Context.Tag.Service<OnSecure>
  readonly onAuth: Context.Tag.Service<OnAuth>
  readonly onMailFrom: Context.Tag.Service<OnMailFrom>
  readonly onRcptTo: Context.Tag.Service<OnRcptTo>
  readonly onData: Context.Tag.Service<OnData>
  readonly onClose: Context.Tag.Service<OnClose>
}

/** Reads every hook from the context. */
export const resolve: Effect.Effect<Resolved, never, Hooks> = Effect.all({
  onConnect: OnConnect,
  onSecure: OnSecure,
  onAuth: OnAuth,
  onMailFrom: OnMailFrom,
  onRcptTo: OnRcptTo,
  onData: OnData,
  onClose: OnClose
}).pipe(Effect.map((hooks): Resolved => ({
  onConnect: contained(hooks.onConnect),
  onSecure: contained(hooks.onSecure),
  onAuth: contained(hooks.onAuth),
  onMailFrom: contained(hooks.onMailFrom),
  onRcptTo: contained(hooks.onRcptTo),
  onData: contained(hooks.onData),
  onClose: contained(hooks.onClose)
})))

// A hook function that throws instead of returning an Effect fails its own Effect (a defect,
// answered 451 4.3.0 for that command), rather than the command that called it. Called at
// once, not suspended, so an Effect that is already settled (Effect.void, Effect.fail) can be
// decided without running it (see ConnectionContext.hook).
const contained = <Args extends ReadonlyArray<unknown>, A, E, R>(
  hook: (...args: Args) => Effect.Effect<A, E, R>
) =>
(...args: Args): Effect.Effect<A, E, R> => {
  try {
    return hook(...args)
  } catch (defect) {
    return Effect.die(defect)
  }
}

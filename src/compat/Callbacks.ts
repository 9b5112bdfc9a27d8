/**
 * Adapters from the documented callbacks to the core's hook Layers. Each reads the current
 * callback from its host when the hook runs, so `server.onRcptTo = fn` after construction
 * works. `callback(err)` becomes an `SmtpError`: `err.responseCode` when it is a 4xx/5xx code,
 * else smtp-server's code for that stage, with the error's message as the text. A callback
 * that throws or returns a rejected promise answers with that error; a second answer is
 * ignored and logged. Nothing a callback does can take the session or the process down.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Readable } from "node:stream"
import * as Hooks from "../core/Hooks.js"
import * as Session from "../core/Session.js"
import { type MessageError, SmtpError } from "../core/SmtpError.js"
import type * as Transport from "../core/Transport.js"
import * as Reply from "../protocol/Reply.js"
import { BodySource, NodeDataStream, WebDataStream } from "./DataStream.js"
import type * as Logging from "./Logging.js"
import * as SessionView from "./SessionView.js"
import type * as Types from "./Types.js"

/** The callbacks as the adapters call them: either stream type. */
export type AnyCallbacks = Types.Callbacks<Types.DataStream | Types.NodeDataStream>

/** What the adapters need from the server they serve. */
export interface Host {
  /** Where the callbacks are read from, at call time (the server itself). */
  readonly callbacks: AnyCallbacks
  readonly sessions: SessionView.Registry
  readonly log: Logging.Log
  readonly streamType: Types.StreamType
  /** Called when onConnect accepted a connection: the server's `connect` event. */
  readonly connected: (session: SessionView.SessionView) => void
}

/** smtp-server's default callbacks: accept; onData drains; onAuth refuses (XOAUTH2 with its error challenge). */
export const defaults: AnyCallbacks = {
  onConnect(_session, callback) {
    callback()
  },
  onSecure(_socket, _session, callback) {
    callback()
  },
  onAuth(auth, _session, callback) {
    if (auth.method === "XOAUTH2") return callback(null, { data: { status: "401", schemes: "bearer" } })
    // A proxy's XCLIENT LOGIN passes through without an identity.
    if (auth.method === "XCLIENT") return callback(null)
    callback(null, { message: "Authentication not implemented" })
  },
  onMailFrom(_address, _session, callback) {
    callback()
  },
  onRcptTo(_address, _session, callback) {
    callback()
  },
  onData(stream, _session, callback) {
    if (stream instanceof Readable) {
      stream.on("end", () => callback(null))
      stream.on("error", (error) => callback(error))
      stream.resume()
      return
    }
    const reader = stream.getReader()
    const next = (): Promise<void> => reader.read().then((r) => (r.done ? callback(null) : next()))
    next().catch((error: Error) => callback(error))
  },
  onClose() {}
}

/** The reply code and text a callback's error asks for; `fallback` is the stage's default. */
export const refusal = (err: unknown, fallback: (text: string) => Reply.Reply): SmtpError => {
  const text = messageOf(err)
  const code = typeof err === "object" && err !== null ? (err as { responseCode?: unknown }).responseCode : undefined
  // Only refusal codes: a 2xx or 3xx here would tell the client a command it must retry had worked.
  if (typeof code === "number" && Number.isInteger(code) && code >= 400 && code <= 599) {
    // smtp-server falls back to X.0.0 for a code its table lacks (RFC 3463 "other or undefined").
    const enhanced = Reply.defaultEnhanced(code) ?? (`${Math.floor(code / 100)}.0.0` as Reply.Enhanced)
    return new SmtpError({ reply: Reply.make(code, text, enhanced), cause: err })
  }
  return new SmtpError({ reply: fallback(text), cause: err })
}

const messageOf = (err: unknown): string => {
  if (typeof err === "string") return err
  if (typeof err === "object" && err !== null && typeof (err as { message?: unknown }).message === "string") {
    return (err as { message: string }).message
  }
  return ""
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function"

/**
 * One callback call and its answer. The first answer wins: the callback's arguments, a
 * synchronous throw, or a rejected promise (both as an error, never an acceptance). Later
 * answers are logged and ignored; an answer after the hook was cut off is dropped.
 */
class Pending<A, E> {
  private settled = false
  private cutOff = false
  private resume: ((effect: Effect.Effect<A, E>) => void) | undefined = undefined
  /** The decided answer when it came before anyone waited for it (a callback that answers at once). */
  result: Effect.Effect<A, E> | undefined = undefined

  constructor(
    private readonly host: Host,
    private readonly stage: string,
    private readonly session: SessionView.SessionView,
    private readonly decide: (err: unknown, value: unknown) => Effect.Effect<A, E>
  ) {}

  /** The `callback` argument the application calls. */
  readonly callback = (err?: unknown, value?: unknown): void => {
    if (this.cutOff) return
    if (this.settled) {
      this.host.log.write("warn", `${this.stage} called back more than once; the later call is ignored`, { cid: this.session.id })
      return
    }
    this.settled = true
    const effect = this.decide(err, value)
    const resume = this.resume
    if (resume === undefined) this.result = effect
    else resume(effect)
  }

  /** What a throw or a rejection of the callback function becomes. */
  failed(error: unknown): void {
    this.host.log.write("error", `${this.stage} failed: ${messageOf(error) || String(error)}`, { cid: this.session.id, err: error })
    if (!this.settled) {
      this.callback(error instanceof Error || typeof error === "string" ? error : new Error("Error: internal server error"))
    }
  }

  /** Sends the answer to `resume` from now on (the one already given is in `result`). */
  listen(resume: (effect: Effect.Effect<A, E>) => void): void {
    this.resume = resume
  }

  /** The hook was interrupted (hookTimeout, shutdown): the answer will not be used, and `session.signal` says so. */
  cancel(): void {
    this.cutOff = true
    SessionView.SessionView.cutOff(this.session)
  }

  /** Waits for an answer not given yet; interrupting the wait cancels. */
  wait(resume: (effect: Effect.Effect<A, E>) => void): Effect.Effect<void> {
    this.resume = resume
    return Effect.sync(() => this.cancel())
  }
}

// Calls the application's callback function; a throw or a rejected promise goes to `failed`.
const call = (pending: Pending<unknown, unknown>, run: (callback: Pending<unknown, unknown>["callback"]) => unknown): void => {
  try {
    const result = run(pending.callback)
    if (isThenable(result)) result.then(undefined, (error: unknown) => pending.failed(error))
  } catch (error) {
    pending.failed(error)
  }
}

/**
 * Runs one callback as an Effect that completes with its first answer. A callback that answers
 * before it returns costs no suspension: the Effect waits only for answers still to come.
 */
const fromCallback = <A, E>(
  host: Host,
  stage: string,
  session: SessionView.SessionView,
  run: (callback: Pending<A, E>["callback"]) => unknown,
  decide: (err: unknown, value: unknown) => Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    const pending = new Pending(host, stage, session, decide)
    call(pending as Pending<unknown, unknown>, run)
    return pending.result ?? Effect.async<A, E>((resume) => pending.wait(resume))
  })

const accept = (refuse: (text: string) => Reply.Reply) => (err: unknown): Effect.Effect<void, SmtpError> =>
  err ? Effect.fail(refusal(err, refuse)) : Effect.void

/** Runs `onConnect(session, callback)` as the OnConnect hook; refusals default to 554, and end the connection. */
export const fromOnConnect = (host: Host): Layer.Layer<Hooks.OnConnect> =>
  Layer.succeed(Hooks.OnConnect, (state) => {
    const session = host.sessions.view(state)
    if (host.log.enabled) host.log.write("info", `Connection from ${state.clientHostname}`, { cid: state.id })
    if (host.callbacks.onConnect === defaults.onConnect) return Effect.sync(() => host.connected(session))
    return fromCallback(
      host,
      "onConnect",
      session,
      (callback) => host.callbacks.onConnect(session, callback),
      accept(Reply.table.connectionRefused)
    ).pipe(Effect.tap(() => host.connected(session)))
  })

/** Runs `onSecure(socket, session, callback)` as the OnSecure hook; refusals default to 554, and end the connection. */
export const fromOnSecure = (host: Host): Layer.Layer<Hooks.OnSecure> =>
  Layer.succeed(Hooks.OnSecure, (tls, state) =>
    host.callbacks.onSecure === defaults.onSecure ? Effect.void : Effect.flatMap(Effect.flatMap(Session.Session, (current) => current.raw), (socket) => {
      const session = host.sessions.view(state)
      // The handshake's facts win over a snapshot taken before it.
      session.secure = true
      session.servername = tls.servername
      session.tlsOptions = tlsOptionsOf(tls)
      return fromCallback(
        host,
        "onSecure",
        session,
        (callback) => host.callbacks.onSecure(socket, session, callback),
        accept(Reply.table.connectionRefused)
      )
    }))

const tlsOptionsOf = (tls: Transport.TlsInfo): Types.SMTPTlsOptions => ({
  name: tls.name,
  standardName: tls.standardName,
  version: tls.version
})

/** The `auth` object onAuth receives for the core's credentials. */
export const authObject = (credentials: Hooks.Credentials): Types.AuthObject => {
  switch (credentials.method) {
    case "PLAIN":
    case "LOGIN":
      return { method: credentials.method, username: credentials.username, password: credentials.password, validatePassword: never }
    case "CRAM-MD5":
      return {
        method: "CRAM-MD5",
        username: credentials.username,
        challenge: credentials.challenge,
        challengeResponse: credentials.challengeResponse,
        validatePassword: credentials.validatePassword
      }
    case "XOAUTH2":
      return { method: "XOAUTH2", username: credentials.username, accessToken: credentials.accessToken, validatePassword: never }
    case "XCLIENT":
      return { method: "XCLIENT", username: credentials.username, validatePassword: never }
  }
}

const never = () => false

const authFailed = "Error: Authentication credentials invalid"

/**
 * Runs `onAuth(auth, session, callback)` as the OnAuth hook. A response with `user` logs in
 * (its `message` is the 235 text). Without one: XOAUTH2 with `data` refuses with a 334 error
 * challenge (the AUTH command then reads the client's empty line and answers 535), XCLIENT
 * with no response at all passes without an identity, and the rest refuse with 535.
 */
export const fromOnAuth = (host: Host): Layer.Layer<Hooks.OnAuth> =>
  Layer.succeed(Hooks.OnAuth, (credentials, state) => {
    const session = host.sessions.view(state)
    const auth = authObject(credentials)
    return fromCallback(
      host,
      "onAuth",
      session,
      (callback) => host.callbacks.onAuth(auth, session, callback),
      (err, value): Effect.Effect<Hooks.Authenticated, SmtpError> => {
        const response = typeof value === "object" && value !== null ? (value as Types.AuthResponse) : undefined
        if (response?.user) return Effect.succeed({ user: response.user, message: response.message })
        // api.md: both callback(err, { data }) and callback(null, { data }) send the challenge.
        if (auth.method === "XOAUTH2" && response?.data !== undefined) {
          const challenge = Buffer.from(JSON.stringify(response.data)).toString("base64")
          return Effect.fail(new SmtpError({ reply: Reply.table.authChallenge(challenge) }))
        }
        if (err) return Effect.fail(refusal(err, Reply.table.authRefused))
        if (auth.method === "XCLIENT" && response === undefined) return Effect.succeed({ user: undefined })
        return Effect.fail(refusal(
          { responseCode: response?.responseCode, message: response?.message || authFailed },
          Reply.table.authRefused
        ))
      }
    )
  })

/** Runs `onMailFrom(address, session, callback)` as the OnMailFrom hook; refusals default to 550. */
export const fromOnMailFrom = (host: Host): Layer.Layer<Hooks.OnMailFrom> =>
  Layer.succeed(Hooks.OnMailFrom, (from, state) => {
    // No callback given: the core's default, with no session view to refresh.
    if (host.callbacks.onMailFrom === defaults.onMailFrom) return Effect.void
    const address = host.sessions.address(from, false)
    const session = host.sessions.viewForMail(state, from)
    return fromCallback(
      host,
      "onMailFrom",
      session,
      (callback) => host.callbacks.onMailFrom(address, session, callback),
      accept(Reply.table.mailboxUnavailable)
    )
  })

/** Runs `onRcptTo(address, session, callback)` as the OnRcptTo hook; refusals default to 550. */
export const fromOnRcptTo = (host: Host): Layer.Layer<Hooks.OnRcptTo> =>
  Layer.succeed(Hooks.OnRcptTo, (rcpt, state) => {
    if (host.callbacks.onRcptTo === defaults.onRcptTo) return Effect.void
    const address = host.sessions.address(rcpt, true)
    const session = host.sessions.view(state)
    return fromCallback(
      host,
      "onRcptTo",
      session,
      (callback) => host.callbacks.onRcptTo(address, session, callback),
      accept(Reply.table.mailboxUnavailable)
    )
  })

// callback(err) refuses (450 by default); a string is the 250 text; an array answers per LMTP recipient.
const dataVerdict = (err: unknown, value: unknown): Effect.Effect<Hooks.DataResult, SmtpError> => {
  if (err) return Effect.fail(refusal(err, Reply.table.messageRefused))
  if (Array.isArray(value)) {
    return Effect.succeed(value.map((entry: unknown) =>
      entry instanceof Error ? refusal(entry, Reply.table.messageRefused) : { message: typeof entry === "string" ? entry : undefined }
    ))
  }
  return Effect.succeed(typeof value === "string" ? { message: value } : undefined)
}

/**
 * Runs `onData(stream, session, callback)` as the OnData hook, with the body as a Web stream
 * (or a Node one). Whatever the callback leaves unread the core drains after it answered.
 */
export const fromOnData = (host: Host): Layer.Layer<Hooks.OnData> =>
  Layer.succeed(Hooks.OnData, (message, state) => {
    if (host.callbacks.onData === defaults.onData) return drain(host, message, state.id)
    return Effect.suspend(() => {
      const session = host.sessions.view(state)
      const pending = new Pending(host, "onData", session, dataVerdict)
      const source = new BodySource(message, pending)
      pending.listen((verdict) => source.settle(verdict))
      const stream = host.streamType === "node" ? new NodeDataStream(source) : new WebDataStream(source)
      call(pending as Pending<unknown, unknown>, (callback) => host.callbacks.onData(stream as unknown as Types.DataStream, session, callback))
      return source.serve
    })
  })

// The default onData without a stream: the core drains the body; when logging, read it first to count it.
const drain = (host: Host, message: Hooks.Message, cid: string): Effect.Effect<void, never> =>
  host.log.enabled
    ? pullAll(message).pipe(
      Effect.ignore,
      Effect.tap(() => host.log.write("info", `<received ${message.byteLength} bytes>`, { cid }))
    )
    : Effect.void

// Reads the body to its end through the low-level pull (a Stream costs far more per message).
const pullAll = (message: Hooks.Message): Effect.Effect<void, MessageError> =>
  Effect.flatMap(message.pull, (pieces) => (pieces === undefined ? Effect.void : pullAll(message)))

/** Calls `onClose(session)` as the OnClose hook; what it throws or rejects with is logged. */
export const fromOnClose = (host: Host): Layer.Layer<Hooks.OnClose> =>
  Layer.succeed(Hooks.OnClose, (state) =>
    Effect.sync(() => {
      const session = host.sessions.end(state)
      if (host.log.enabled) host.log.write("info", `Connection closed to ${state.clientHostname}`, { cid: state.id })
      const failed = (error: unknown) =>
        host.log.write("error", `onClose failed: ${messageOf(error) || String(error)}`, { cid: state.id, err: error })
      try {
        const result: unknown = host.callbacks.onClose(session, () => {})
        if (isThenable(result)) result.then(undefined, failed)
      } catch (error) {
        failed(error)
      }
    }))

/** Every hook from the host's callbacks. */
export const layer = (host: Host): Layer.Layer<Hooks.Hooks> =>
  Layer.mergeAll(
    fromOnConnect(host),
    fromOnSecure(host),
    fromOnAuth(host),
    fromOnMailFrom(host),
    fromOnRcptTo(host),
    fromOnData(host),
    fromOnClose(host)
  )

/**
 * What every command handler of one connection shares: configuration, hooks, the session
 * `Ref`, the input framer and the reply queue. Handlers read input and queue replies through
 * it; only the connection loop and the handlers change the session.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Ehlo from "../protocol/Ehlo.js"
import * as LineFramer from "../protocol/LineFramer.js"
import * as Reply from "../protocol/Reply.js"
import * as AuthPolicy from "./AuthPolicy.js"
import * as Observability from "./Observability.js"
import * as StartTls from "./commands/StartTls.js"
import type * as Hooks from "./Hooks.js"
import * as Proxying from "./Proxying.js"
import type { Config } from "./ServerConfig.js"
import * as Session from "./Session.js"
import { MessageError, SmtpError } from "./SmtpError.js"
import * as Transport from "./Transport.js"

const maxQueuedReplies = 16 * 1024

/** State the server shares with all its connections. */
export interface ServerState {
  /** Set when the server shuts down: connections end at the next command boundary. */
  closing: boolean
}

/** The mutable machinery of one connection. */
export class ConnectionContext {
  /** Input in command mode; body readers take its remaining bytes and give back what follows the body. */
  readonly framer: LineFramer.LineFramer
  /** Whether replies carry enhanced status codes (RFC 2034: only when advertised). */
  readonly enhanced: boolean
  /** Set once the connection is to end: after QUIT, a 421, or the peer going away. */
  closed = false
  /** True while waiting for a command outside a transaction: safe to end at shutdown. */
  idle = false
  /** Unrecognized commands so far; reset by a completed transaction, as in smtp-server. */
  unrecognized = 0
  /** Commands before AUTH on a server that requires it (see AuthPolicy). */
  unauthenticated = 0
  /** MAIL commands so far, accepted or refused: what MAILMAX limits (RFC 9422). */
  mailCommands = 0
  /** Code of the reply queued last, for metrics and spans (see Observability); 0 when none since the command began. */
  lastReplyCode = 0
  /** The command line being answered and when it began, for its metrics and span (see Observability). */
  commandLine = ""
  commandStart = 0
  /** Whether this session's commands run in spans: set when the session starts (see Observability). */
  tracing = false
  /**
   * The address trust lists (`useXClient`, `useXForward`) are checked against: the TCP peer,
   * or the client a trusted PROXY header named. XCLIENT/XFORWARD never change it.
   */
  peerAddress: string
  /** True while a hook runs through `hook` or `guard` (see Cancellation). */
  inHook = false
  /** Set once the transport reported the peer gone: no hook starts after that (see Cancellation). */
  peerGone = false
  private out = ""

  constructor(
    readonly config: Config,
    readonly hooks: Hooks.Resolved,
    readonly transport: Transport.Transport,
    readonly session: Session.SessionRef,
    readonly server: ServerState
  ) {
    this.framer = new LineFramer.LineFramer(config.maxLineLength)
    this.enhanced = !config.hideENHANCEDSTATUSCODES
    this.peerAddress = transport.info.remoteAddress
  }

  /** The session as it is now, read in plain code between Effect steps. */
  get state(): Session.SessionState {
    return this.session.current
  }

  /** Replaces the session; only the connection loop and the command handlers do. */
  set state(next: Session.SessionState) {
    this.session.current = next
  }

  /** True when enough replies are queued that they go out before the next pipelined command runs. */
  get outputFull(): boolean {
    return this.out.length > maxQueuedReplies
  }

  /**
   * Queues a reply; pipelined replies go out together at the next flush (RFC 2920 §3.2). A 421
   * ends the session. Returns undefined so that a handler answers and ends in one `return`.
   */
  reply(reply: Reply.Reply): undefined {
    this.out += Reply.format(reply, this.enhanced)
    this.lastReplyCode = reply.code
    if (Reply.closesConnection(reply)) this.closed = true
    return undefined
  }

  /**
   * Writes the queued replies now if they passed 16 KiB (the socket's own high-water mark).
   * RFC 2920 §3.2 lets pipelined replies go out in pieces; a client that pipelines commands
   * with long replies and reads none then holds no more reply text than that, not the replies
   * to a whole chunk of commands (EHLO's is 25 times its command).
   */
  get flushIfFull(): Effect.Effect<void> {
    return this.out.length > maxQueuedReplies ? this.flush : Effect.void
  }

  /** Writes the queued replies in one write. */
  get flush(): Effect.Effect<void> {
    if (this.out === "") return Effect.void
    const data = this.out
    this.out = ""
    return this.transport.write(data)
  }

  /**
   * Flushes, then waits for the next chunk from the peer within the idle limit. Callers count
   * what they receive (`Observability.received`), which costs no Effect step of its own.
   */
  get read(): Effect.Effect<Transport.ReadResult> {
    const flushed = this.flush
    // The usual case: the kernel took the replies at once, and only the read is left to run.
    if (flushed === Effect.void) return this.transport.read(this.config.socketTimeout)
    return Effect.zipRight(flushed, Effect.suspend(() => this.transport.read(this.config.socketTimeout)))
  }

  /**
   * The next command line, `TooLong` for a line past the limit, or why input ended. Reads
   * more from the peer only when no complete line is buffered (pipelined commands cost no read).
   */
  get nextLine(): Effect.Effect<string | typeof LineFramer.TooLong | Transport.ReadEnd> {
    const item = this.framer.next()
    if (item !== LineFramer.NeedMore) return Effect.succeed(item)
    return Effect.flatMap(this.read, (chunk) => {
      Observability.received(chunk)
      if (typeof chunk === "string") return Effect.succeed(chunk)
      this.framer.push(chunk)
      return this.nextLine
    })
  }

  /** The capability lines of an EHLO reply for the session as it is now. */
  capabilities(session: Session.SessionState): Array<string> {
    return Ehlo.capabilities({
      ...this.config,
      authMethods: AuthPolicy.offered(this.config, session),
      startTls: StartTls.advertised(this, session),
      // RFC 8689 §4: offered only where the session itself is protected by TLS.
      requireTls: session.tls !== undefined && !this.config.hideREQUIRETLS,
      extra: Proxying.capabilities(this, session)
    })
  }

  /**
   * Calls a hook for a command and hands its verdict to `decide`, which queues the reply and
   * returns what is left to do, if anything. A hook whose Effect is already settled (the
   * defaults, `Effect.void`, `Effect.fail(new SmtpError…)`) is decided here in plain code, and
   * the result is what `decide` left: undefined when nothing is left to run. Any other hook runs
   * within `hookTimeout`, its failures turned into replies as `guard` documents, and the result
   * is the Effect that runs it and then what `decide` left. Once the peer has gone the hook is not called at all (see Cancellation).
   */
  hook<A>(
    stage: string,
    start: () => Effect.Effect<A, SmtpError | MessageError, Hooks.HookContext>,
    decide: (verdict: Either.Either<A, Reply.Reply>) => Effect.Effect<void> | undefined
  ): Effect.Effect<void, never, Hooks.HookContext> | undefined {
    if (this.peerGone) {
      this.closed = true
      return Effect.interrupt
    }
    const effect = start()
    if (Exit.isExit(effect)) {
      const settled = effect as Exit.Exit<A, SmtpError | MessageError>
      if (Exit.isSuccess(settled)) return decide(Either.right(settled.value))
      const failure = Cause.failureOption(settled.cause)
      if (Option.isSome(failure) && failure.value instanceof SmtpError) return decide(Either.left(failure.value.reply))
    }
    // Anything else may take time, be interrupted or need logging. The returned Effect runs at
    // once, so the hook counts as running from here (see Cancellation).
    this.inHook = true
    return Effect.matchCauseEffect(this.timed(effect), {
      onSuccess: (a) => {
        this.inHook = false
        return decide(Either.right(a)) ?? Effect.void
      },
      onFailure: (cause) => {
        if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
        this.inHook = false
        return Effect.flatMap(this.refusal(stage, cause), (reply) => decide(Either.left(reply)) ?? Effect.void)
      }
    })
  }

  /**
   * Runs a hook and gives its verdict as a value, for commands written as one Effect. The
   * failures become replies as everywhere (through `hook`): `SmtpError` is the refusal it
   * chose; any other failure, defect or overrun becomes 451 4.3.0 for this command only,
   * logged with its cause. Interruption passes through. Once the peer has gone no hook starts:
   * the connection is interrupted instead (see Cancellation).
   */
  guard<A>(
    stage: string,
    start: () => Effect.Effect<A, SmtpError | MessageError, Hooks.HookContext>
  ): Effect.Effect<Either.Either<A, Reply.Reply>, never, Hooks.HookContext> {
    // The same rules as `hook`, checked when the guard runs; the verdict becomes its value.
    return Effect.suspend(() => {
      let verdict: Either.Either<A, Reply.Reply> = Either.left(Reply.table.internalError)
      const running = this.hook(stage, start, (v) => {
        verdict = v
        return undefined
      })
      return Effect.map(running ?? Effect.void, () => verdict)
    })
  }


  private timed<A>(
    effect: Effect.Effect<A, SmtpError | MessageError, Hooks.HookContext>
  ): Effect.Effect<A, SmtpError | MessageError, Hooks.HookContext> {
    if (this.config.hookTimeout <= 0) return effect
    return Effect.timeoutFail(effect, {
      duration: this.config.hookTimeout,
      onTimeout: () => new SmtpError({ reply: Reply.table.hookTimeout })
    })
  }

  // The reply for a hook that failed: SmtpError is the refusal it chose; any other failure or
  // defect is 451 4.3.0, logged with its cause. Interruption passes through.
  private refusal(stage: string, cause: Cause.Cause<SmtpError | MessageError>): Effect.Effect<Reply.Reply> {
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure) && failure.value instanceof SmtpError) return Effect.succeed(failure.value.reply)
    // The body reader knows why the body stopped; the data command turns that into the reply.
    if (Option.isSome(failure) && failure.value instanceof MessageError) return Effect.succeed(Reply.table.internalError)
    return Effect.as(Effect.logError(`${stage} hook failed`, cause), Reply.table.internalError)
  }


  /** A snapshot of the session, for handing to a hook. */
  get snapshot(): Effect.Effect<Session.SessionState> {
    return this.session.get
  }
}

/**
 * One SMTP connection: greeting, then frame → parse → check the sequence → dispatch, until
 * QUIT, a 421, the peer leaving, or the server shutting down. The logic of each command lives
 * in `commands/`; this loop only frames, dispatches and writes.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import * as Command from "../protocol/Command.js"
import * as LineFramer from "../protocol/LineFramer.js"
import * as Reply from "../protocol/Reply.js"
import * as AuthPolicy from "./AuthPolicy.js"
import * as Cancellation from "./Cancellation.js"
import * as Auth from "./commands/Auth.js"
import * as Bdat from "./commands/Bdat.js"
import * as Data from "./commands/Data.js"
import * as Hello from "./commands/Hello.js"
import * as Info from "./commands/Info.js"
import * as Mail from "./commands/Mail.js"
import * as Quit from "./commands/Quit.js"
import * as Rcpt from "./commands/Rcpt.js"
import * as Rset from "./commands/Rset.js"
import * as XClient from "./commands/XClient.js"
import * as XForward from "./commands/XForward.js"
import * as StartTls from "./commands/StartTls.js"
import { ConnectionContext, type ServerState } from "./ConnectionContext.js"
import type * as Hooks from "./Hooks.js"
import * as Observability from "./Observability.js"
import * as Opening from "./Opening.js"
import type { Config } from "./ServerConfig.js"
import * as Session from "./Session.js"
import * as Transport from "./Transport.js"

/**
 * Serves one connection to its end; never fails. Run it in a fiber of its own, as `Server`
 * does: it sets that fiber's context (the `Session` service) and log annotations for good
 * rather than for a region, which would keep two more frames on every idle connection's stack.
 * `onReady` receives the context, for the server's shutdown bookkeeping; `onEnd` runs once
 * the connection is closed.
 */
export const run = (
  transport: Transport.Transport,
  config: Config,
  hooks: Hooks.Resolved,
  server: ServerState,
  onReady: (ctx: ConnectionContext) => void = () => {},
  onEnd: () => void = () => {}
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const state = Session.make(Session.newId(), transport.info, transport.tls)
    const ref = new Session.SessionRef(state)
    const ctx = new ConnectionContext(config, hooks, transport, ref, server)
    onReady(ctx)
    Observability.sessionStarted()
    const session: Session.Session["Type"] = { get: ref.get, raw: Effect.sync(() => transport.raw) }
    const setUp = Effect.zipRight(
      FiberRef.update(FiberRef.currentContext, Context.add(Session.Session, session)),
      FiberRef.update(
        FiberRef.currentLogAnnotations,
        (annotations) => HashMap.set(HashMap.set(annotations, "session", state.id), "remote", state.remoteAddress)
      )
    )
    // One exit handler for everything a session's end involves, so an idle connection's fiber
    // carries one finalizer frame rather than one per concern.
    const end = (exit: Exit.Exit<void>): Effect.Effect<void, never, Session.Session> =>
      Effect.suspend(() => {
        // Interrupted by shutdown: say so (before the close hook runs), unless the session already ended.
        const interrupted = Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) && !ctx.closed
        if (interrupted) ctx.reply(Reply.table.shuttingDown)
        const told = interrupted ? ctx.flush : Effect.void
        return Effect.zipRight(
          told,
          Effect.suspend(() => hooks.onClose(ref.current)).pipe(
            Effect.catchAllCause((cause) => Effect.logError("onClose hook failed", cause)),
            Effect.zipRight(Effect.suspend(() => ctx.flush)),
            Effect.zipRight(transport.close),
            Effect.zipRight(Effect.sync(() => {
              Observability.sessionEnded()
              onEnd()
            }))
          )
        )
      })
    return Effect.zipRight(
      setUp,
      sessionInContext(Effect.onExit(Effect.zipRight(Cancellation.watch(ctx), serve(ctx)), end)).pipe(
        Observability.session(ctx)
      )
    )
  })

// `setUp` put the Session service in the fiber's context, where the type cannot see it.
const sessionInContext = <A>(effect: Effect.Effect<A, never, Session.Session>): Effect.Effect<A> =>
  effect as Effect.Effect<A>

const serve = (ctx: ConnectionContext): Effect.Effect<void, never, Session.Session> =>
  Effect.gen(function*() {
    const { config, hooks } = ctx
    if (!(yield* Opening.proxyHeader(ctx))) return
    // Implicit TLS: the handshake comes before anything else is said (after a PROXY header, which is plaintext).
    if (config.secure && !(yield* StartTls.handshake(ctx))) return
    yield* Opening.resolveClient(ctx)
    if (config.greetingDelay > 0) {
      yield* Effect.sleep(config.greetingDelay)
      // An early talker is most likely a spam bot that does not wait for the greeting.
      if (ctx.transport.hasPendingInput() || ctx.framer.hasInput) return ctx.reply(Reply.table.talkTooSoon(config.name))
    }
    const connected = yield* ctx.guard("onConnect", () => hooks.onConnect(ctx.state))
    if (Either.isLeft(connected)) {
      ctx.reply(connected.left)
      ctx.closed = true
      return
    }
    if (config.secure && !(yield* StartTls.secureHook(ctx))) return
    ctx.reply(Reply.table.greeting(config.name, config.lmtp, config.banner))

    // Pipelined commands already received run one after another in plain code; the loop yields
    // only to read, to run a hook that has not settled, or to flush a long run of replies.
    while (!ctx.closed) {
      const item = ctx.framer.next()
      if (item === LineFramer.NeedMore) {
        ctx.idle = !Session.inTransaction(ctx.state)
        // Shutting down: a session between transactions has nothing left to finish.
        if (ctx.idle && ctx.server.closing) return ctx.reply(Reply.table.shuttingDown)
        const chunk = Observability.received(yield* ctx.read)
        ctx.idle = false
        if (chunk === Transport.EOF) return
        if (chunk === Transport.TIMEOUT) return ctx.reply(Reply.table.timeout)
        ctx.framer.push(chunk)
        continue
      }
      if (item === LineFramer.TooLong) {
        ctx.reply(Reply.table.lineTooLong)
        continue
      }
      if (ctx.server.closing) return ctx.reply(Reply.table.shuttingDown)
      Observability.begin(ctx, item)
      const step = dispatch(ctx, item)
      if (step !== undefined || ctx.tracing) yield* Observability.traced(ctx, step ?? Effect.void)
      Observability.end(ctx)
      if (ctx.outputFull) yield* ctx.flush
    }
  })

// Commands that need a greeting first (RFC 5321 §4.1.4).
const needsHello = new Set(["Mail", "Rcpt", "Data", "Bdat", "Auth"])

/** What a command leaves to run: an Effect, or undefined when it was answered in plain code. */
type Step = Effect.Effect<void, never, Session.Session> | undefined

const dispatch = (ctx: ConnectionContext, line: string): Step => {
  const session = ctx.state
  const command = Command.parse(line, { smtputf8: session.envelope.smtpUtf8 })
  const { config } = ctx
  if (command._tag === "Http") return ctx.reply(Reply.table.httpNotAllowed)
  if (command._tag === "Hello" && config.lmtp !== (command.verb === "LHLO")) {
    // RFC 2033 §4.1: an LMTP server answers HELO/EHLO with an error; plain SMTP knows no LHLO.
    return config.lmtp ? ctx.reply(Reply.table.notAllowedInLmtp(command.verb)) : unrecognized(ctx)
  }
  if (command._tag === "Unknown" || isDisabled(config, line)) return unrecognized(ctx)
  if (AuthPolicy.refuses(ctx, session, command)) return
  if (needsHello.has(command._tag) && session.heloName === undefined) {
    return ctx.reply(Reply.table.sendHeloFirst(config.lmtp))
  }
  const startTls = command._tag === "StartTls" || (command._tag === "Invalid" && command.verb === "STARTTLS")
  if (startTls && !StartTls.available(ctx)) return unrecognized(ctx)
  if (StartTls.refusedBeforeTls(ctx, session, command)) return ctx.reply(Reply.table.mustStartTls)
  switch (command._tag) {
    case "Invalid":
      return ctx.reply(command.reply)
    case "Hello":
      return Hello.handle(ctx, command)
    case "Mail":
      return Mail.handle(ctx, command)
    case "Rcpt":
      return Rcpt.handle(ctx, command)
    case "Data":
      return Data.handle(ctx)
    case "Bdat":
      return Bdat.handle(ctx, command)
    case "Rset":
      return Rset.handle(ctx)
    case "Noop":
      return Info.noop(ctx)
    case "Vrfy":
      return Info.vrfy(ctx)
    case "Help":
      return Info.help(ctx)
    case "Quit":
      return Quit.handle(ctx)
    case "Auth":
      return Auth.handle(ctx, command)
    case "XClient":
      return XClient.handle(ctx, command)
    case "XForward":
      return XForward.handle(ctx, command)
    case "StartTls":
      return StartTls.handle(ctx)
    default:
      // Extensions that are not enabled on this server (STARTTLS without TLS, AUTH without a mechanism, ...).
      return unrecognized(ctx)
  }
}

// Most servers disable nothing: the verb is only cut out of the line when there is a list to look in.
const isDisabled = (config: Config, line: string): boolean =>
  config.disabledCommands.length > 0 && config.disabledCommands.includes(Command.verbOf(line))

const unrecognized = (ctx: ConnectionContext): undefined => {
  ctx.unrecognized++
  ctx.reply(
    ctx.unrecognized >= ctx.config.maxUnrecognizedCommands ? Reply.table.tooManyUnrecognized : Reply.table.unrecognized
  )
}

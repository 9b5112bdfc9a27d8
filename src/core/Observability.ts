/**
 * What a running server reports about itself: Effect Metrics for connections, transactions,
 * bytes and command latency, and a span per session and per command with the client's address,
 * the command and its reply code, so any metrics reader or OpenTelemetry exporter picks them
 * up. The connection loop calls `session`, `begin`/`traced`/`end` and `received`, the message
 * commands `transaction`; on the hot path they are plain code, never an extra Effect step.
 *
 * Spans are built only when a tracer other than Effect's built-in one is installed (e.g. with
 * `Layer.setTracer` or an OpenTelemetry layer): with nobody to export them, a span per command
 * costs a measurable share of a pipelined command's time for nothing (see bench/commands.ts).
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type * as Tracer from "effect/Tracer"
import type * as Reply from "../protocol/Reply.js"
import type { ConnectionContext } from "./ConnectionContext.js"

/** The metrics' names, for readers of `Metric.snapshot`. */
export const names = {
  connectionsActive: "effect_smtp_connections_active",
  connectionsTotal: "effect_smtp_connections_total",
  transactionsTotal: "effect_smtp_transactions_total",
  receivedBytesTotal: "effect_smtp_received_bytes_total",
  commandDuration: "effect_smtp_command_duration_seconds"
} as const

/** Connections open now. */
export const connectionsActive = Metric.gauge(names.connectionsActive, {
  description: "SMTP connections open now"
})

/** Connections accepted since the process started. */
export const connectionsTotal = Metric.counter(names.connectionsTotal, {
  description: "SMTP connections accepted",
  incremental: true
})

/** Messages answered after their body, tagged `class` with the reply's class (2xx accepted, 4xx/5xx refused). */
export const transactionsTotal = Metric.counter(names.transactionsTotal, {
  description: "Messages answered after their body, by reply class",
  incremental: true
})

/** Bytes read from clients: commands and message bodies as they came off the connection. */
export const receivedBytesTotal = Metric.counter(names.receivedBytesTotal, {
  description: "Bytes received from clients",
  incremental: true
})

/**
 * Time from a command line to its replies being queued, tagged `command` (the verb) and
 * `class` (of its last reply). DATA and BDAT include the body and the data hook.
 */
export const commandDuration = Metric.histogram(
  names.commandDuration,
  MetricBoundaries.exponential({ start: 0.0001, factor: 4, count: 10 }),
  "Time to answer a command, by command and reply class"
)

// Only these verbs become label values and span names: a client must not be able to create
// new time series (or span names) by sending made-up commands.
const verbs: ReadonlySet<string> = new Set([
  "HELO",
  "EHLO",
  "LHLO",
  "MAIL",
  "RCPT",
  "DATA",
  "BDAT",
  "RSET",
  "NOOP",
  "VRFY",
  "EXPN",
  "HELP",
  "QUIT",
  "AUTH",
  "STARTTLS",
  "XCLIENT",
  "XFORWARD"
])

/** The verb of a command line as metrics and spans name it: upper case, `UNKNOWN` for a verb the server does not know. */
export const verbOf = (line: string): string => {
  const space = line.indexOf(" ")
  const verb = space < 0 ? line : line.slice(0, space)
  // Clients send verbs in upper case; only the others pay for the conversion.
  if (verbs.has(verb)) return verb
  const upper = verb.toUpperCase()
  return verbs.has(upper) ? upper : "UNKNOWN"
}

/** The class of a reply code as metrics label it, e.g. `5xx`. */
export const classOf = (code: number): string => `${Math.floor(code / 100)}xx`

// One array per label set, reused: Effect caches a metric's series by the identity of its
// label array, so a fresh array per update would mean a registry lookup per command.
// Indexed by verb ("" for transactions), then by the first digit of the reply code.
const labelCache = new Map<string, Array<ReadonlyArray<MetricLabel.MetricLabel> | undefined>>()
const labels = (command: string, code: number): ReadonlyArray<MetricLabel.MetricLabel> => {
  let byClass = labelCache.get(command)
  if (byClass === undefined) {
    byClass = []
    labelCache.set(command, byClass)
  }
  const digit = Math.floor(code / 100)
  let cached = byClass[digit]
  if (cached === undefined) {
    const replyClass = MetricLabel.make("class", classOf(code))
    cached = command === "" ? [replyClass] : [MetricLabel.make("command", command), replyClass]
    byClass[digit] = cached
  }
  return cached
}

const builtInTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

const spanOptions = (attributes: Record<string, unknown>): Tracer.SpanOptions => ({
  attributes,
  kind: "server",
  // A stack trace per span is the most expensive part of a span, and says nothing here.
  captureStackTrace: false
})

/** Counts bytes read from a client; passes the read result through. */
export const received = <A>(result: A): A => {
  if (result instanceof Uint8Array) receivedBytesTotal.unsafeUpdate(result.length, [])
  return result
}

/** Counts a connection as open; `sessionEnded` when it closes. Plain code, called by the connection. */
export const sessionStarted = (): void => {
  connectionsTotal.unsafeUpdate(1, [])
  connectionsActive.unsafeModify(1, [])
}

/** Counts a connection as closed. */
export const sessionEnded = (): void => {
  connectionsActive.unsafeModify(-1, [])
}

/** Runs one connection in an `SMTP session` span with the client's address when a tracer is installed; otherwise as it is. */
export const session = (ctx: ConnectionContext) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tracerWith((tracer) => {
    ctx.tracing = tracer !== builtInTracer
    if (!ctx.tracing) return effect
    const info = ctx.transport.info
    return Effect.useSpan(
      "SMTP session",
      spanOptions({
        "client.address": info.remoteAddress,
        "client.port": info.remotePort,
        "server.address": info.localAddress,
        "server.port": info.localPort
      }),
      (span) =>
        Effect.withParentSpan(effect, span).pipe(
          // A trusted PROXY header may have named another client since the span began.
          Effect.ensuring(Effect.map(ctx.snapshot, (session) => {
            span.attribute("client.address", session.remoteAddress)
            span.attribute("client.port", session.remotePort)
            span.attribute("smtp.session.id", session.id)
            span.attribute("smtp.transactions", session.transactions)
          }))
        )
    )
  })

/** Starts observing a command line, just before it is dispatched: plain code, no Effect, nothing allocated. */
export const begin = (ctx: ConnectionContext, line: string): void => {
  ctx.lastReplyCode = 0
  ctx.commandLine = line
  ctx.commandStart = performance.now()
}

/**
 * Runs the dispatch of an observed command in an `SMTP <verb>` span with its reply code when
 * the session is traced; otherwise returns it unchanged, at no cost.
 */
export const traced = <R>(ctx: ConnectionContext, dispatch: Effect.Effect<void, never, R>): Effect.Effect<void, never, R> => {
  if (!ctx.tracing) return dispatch
  const verb = verbOf(ctx.commandLine)
  return Effect.useSpan(`SMTP ${verb}`, spanOptions({ "smtp.command": verb }), (span) =>
    Effect.withParentSpan(
      Effect.tap(dispatch, () => {
        if (ctx.lastReplyCode !== 0) span.attribute("smtp.reply.code", ctx.lastReplyCode)
      }),
      span
    ))
}

/** Records a command's latency by verb and the class of its last reply, once it was answered. */
export const end = (ctx: ConnectionContext): void => {
  const code = ctx.lastReplyCode
  // No reply: the client went away mid-command.
  if (code === 0) return
  commandDuration.unsafeUpdate((performance.now() - ctx.commandStart) / 1000, labels(verbOf(ctx.commandLine), code))
}

/**
 * Counts a message answered after its body. In LMTP it has a reply per recipient, and counts
 * as accepted when any recipient accepted it.
 */
export const transaction = (replies: ReadonlyArray<Reply.Reply>): void => {
  if (replies.length === 0) return
  let code = replies[0]!.code
  for (const reply of replies) if (reply.code < code) code = reply.code
  transactionsTotal.unsafeUpdate(1, labels("", code))
}

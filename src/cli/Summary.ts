/**
 * What the server did while it ran, for the line printed at shutdown: connections and
 * rejections from the core's metrics (counted from when this service started), messages and
 * bytes from the deliveries the storage hook reports.
 */
import { Effect, Metric, Ref } from "effect"
import * as Observability from "../core/Observability.js"

/** Counts since the server started. */
export interface Counts {
  readonly connections: number
  /** Messages stored. */
  readonly messages: number
  /** Body bytes of the messages stored. */
  readonly bytes: number
  /** Senders, recipients, logins and messages refused with a 4xx or 5xx reply. */
  readonly rejections: number
}

const refusedClasses = ["4xx", "5xx"] as const

// The commands whose refusal counts as a rejection, besides a message refused after its body.
const refusableCommands = ["MAIL", "RCPT", "AUTH"] as const

const countOf = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)

// What the core's metrics say now; the summary reports the change since start.
const fromMetrics = Effect.gen(function*() {
  let rejections = 0
  for (const replyClass of refusedClasses) {
    rejections += yield* countOf(Metric.tagged(Observability.transactionsTotal, "class", replyClass))
    for (const command of refusableCommands) {
      const histogram = Observability.commandDuration.pipe(Metric.tagged("command", command), Metric.tagged("class", replyClass))
      rejections += (yield* Metric.value(histogram)).count
    }
  }
  return { connections: yield* countOf(Observability.connectionsTotal), rejections }
})

/** The running counts; `stored` is called by the storage hook for each message it keeps. */
export class Summary extends Effect.Service<Summary>()("effect-smtp/cli/Summary", {
  effect: Effect.gen(function*() {
    const start = yield* fromMetrics
    const stored = yield* Ref.make({ messages: 0, bytes: 0 })
    return {
      /** Counts one message stored with `size` body bytes. */
      stored: (size: number) => Ref.update(stored, (s) => ({ messages: s.messages + 1, bytes: s.bytes + size })),
      /** The counts so far. */
      counts: Effect.gen(function*() {
        const now = yield* fromMetrics
        const { bytes, messages } = yield* Ref.get(stored)
        return {
          connections: now.connections - start.connections,
          messages,
          bytes,
          rejections: now.rejections - start.rejections
        } satisfies Counts
      })
    }
  })
}) {}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

/** The shutdown line: `effect-smtp stopped: 3 connections, 2 messages (1234 bytes), 1 rejection`. */
export const format = (counts: Counts): string =>
  `effect-smtp stopped: ${plural(counts.connections, "connection")}, ${plural(counts.messages, "message")} ` +
  `(${plural(counts.bytes, "byte")}), ${plural(counts.rejections, "rejection")}`

/**
 * What the server did while it ran, for the line printed at shutdown: connections and
 * rejections from the core's metrics (counted from when this service started), messages and
 * bytes from the deliveries the storage hook reports.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Ref from "effect/Ref"
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

const refused: ReadonlySet<string> = new Set(["4xx", "5xx"])

// The commands whose refusal counts as a rejection, besides a message refused after its body.
const refusable: ReadonlySet<string> = new Set(["MAIL", "RCPT", "AUTH"])

const tag = (pair: MetricPair.MetricPair.Untyped, key: string) => pair.metricKey.tags.find((t) => t.key === key)?.value

// What the core's metrics say now; the summary reports the change since start. Read from a
// snapshot: looking series up by their tags would create the ones that never happened.
const fromMetrics = Effect.map(Metric.snapshot, (pairs) => {
  const { names } = Observability
  let connections = 0
  let rejections = 0
  for (const pair of pairs) {
    const { metricKey: { name }, metricState: state } = pair
    const isRefusal = refused.has(tag(pair, "class") ?? "")
    if (name === names.connectionsTotal && MetricState.isCounterState(state)) {
      connections += Number(state.count)
    } else if (name === names.transactionsTotal && MetricState.isCounterState(state) && isRefusal) {
      rejections += Number(state.count)
    } else if (name === names.commandDuration && MetricState.isHistogramState(state) && isRefusal) {
      if (refusable.has(tag(pair, "command") ?? "")) rejections += state.count
    }
  }
  return { connections, rejections }
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

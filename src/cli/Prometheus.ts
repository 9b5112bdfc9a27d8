/**
 * Effect Metrics in the Prometheus text exposition format (version 0.0.4): every metric in
 * the process's registry — the core's `effect_smtp_*` series and any the application adds —
 * with its HELP and TYPE lines, counters, gauges, histograms (cumulative `le` buckets, `_sum`,
 * `_count`), summaries (quantiles) and frequencies (one series per value).
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MetricLabel from "effect/MetricLabel"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

/** The content type Prometheus expects for this format. */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

// Metric names allow [a-zA-Z_:][a-zA-Z0-9_:]*; anything else becomes "_".
const metricName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned
}

const labelName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned
}

const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const escapeHelp = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const number = (value: number | bigint): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Number.POSITIVE_INFINITY) return "+Inf"
  if (value === Number.NEGATIVE_INFINITY) return "-Inf"
  return String(value)
}

const labels = (tags: ReadonlyArray<MetricLabel.MetricLabel>, extra: ReadonlyArray<readonly [string, string]> = []): string => {
  const all = [...tags.map((t) => [labelName(t.key), t.value] as const), ...extra]
  return all.length === 0 ? "" : `{${all.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}

const typeOf = (state: MetricState.MetricState.Untyped): string =>
  MetricState.isCounterState(state)
    ? "counter"
    : MetricState.isGaugeState(state)
    ? "gauge"
    : MetricState.isHistogramState(state)
    ? "histogram"
    : MetricState.isSummaryState(state)
    ? "summary"
    : "gauge"

// The sample lines of one series.
const samples = (name: string, pair: MetricPair.MetricPair.Untyped): Array<string> => {
  const state = pair.metricState as MetricState.MetricState.Untyped
  const tags = pair.metricKey.tags
  if (MetricState.isCounterState(state)) return [`${name}${labels(tags)} ${number(state.count)}`]
  if (MetricState.isGaugeState(state)) return [`${name}${labels(tags)} ${number(state.value)}`]
  if (MetricState.isHistogramState(state)) {
    const lines: Array<string> = []
    let infinite = false
    for (const [bound, count] of state.buckets) {
      if (bound === Number.POSITIVE_INFINITY) infinite = true
      lines.push(`${name}_bucket${labels(tags, [["le", number(bound)]])} ${count}`)
    }
    if (!infinite) lines.push(`${name}_bucket${labels(tags, [["le", "+Inf"]])} ${state.count}`)
    lines.push(`${name}_sum${labels(tags)} ${number(state.sum)}`, `${name}_count${labels(tags)} ${state.count}`)
    return lines
  }
  if (MetricState.isSummaryState(state)) {
    const lines = state.quantiles.map(([q, value]) =>
      `${name}${labels(tags, [["quantile", number(q)]])} ${Option.match(value, { onNone: () => "NaN", onSome: number })}`
    )
    lines.push(`${name}_sum${labels(tags)} ${number(state.sum)}`, `${name}_count${labels(tags)} ${state.count}`)
    return lines
  }
  if (MetricState.isFrequencyState(state)) {
    return Array.from(state.occurrences, ([key, count]) => `${name}${labels(tags, [["key", key]])} ${count}`)
  }
  return []
}

/** Formats metric pairs: series of one name together, under one HELP and TYPE. */
export const format = (pairs: Iterable<MetricPair.MetricPair.Untyped>): string => {
  const byName = new Map<string, Array<MetricPair.MetricPair.Untyped>>()
  for (const pair of pairs) {
    const name = metricName(pair.metricKey.name)
    const group = byName.get(name)
    if (group === undefined) byName.set(name, [pair])
    else group.push(pair)
  }
  const out: Array<string> = []
  for (const name of [...byName.keys()].sort()) {
    const group = byName.get(name)!
    const description = Option.getOrUndefined(group[0]!.metricKey.description)
    if (description !== undefined) out.push(`# HELP ${name} ${escapeHelp(description)}`)
    out.push(`# TYPE ${name} ${typeOf(group[0]!.metricState as MetricState.MetricState.Untyped)}`)
    for (const pair of group) out.push(...samples(name, pair))
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}

/** Every metric of the process, now, in the text format. */
export const text: Effect.Effect<string> = Effect.map(Metric.snapshot, format)

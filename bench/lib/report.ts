/**
 * The runner's reporting: medians and ratios from the runs, and the tables it prints and writes
 * (plain text for stdout, Markdown for bench/results/latest.md).
 */
import * as os from "node:os"
import type * as Scenarios from "../scenarios.js"

/** A server as the report knows it: its file in bench/servers/ and its display name. */
export interface Server {
  readonly file: string
  readonly name: string
}

/** The median of the finite values; NaN when there are none. */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * One run in one line: its metrics, then how busy the server, the generator and the rest of the
 * machine were (a generator near 100% of a core means it, not the server, may be the limit).
 */
export const describe = (scenario: Scenarios.Scenario, sample: Scenarios.Sample | undefined): string => {
  if (sample === undefined) return "failed"
  const metrics = scenario.metrics.map((m) => `${format(m.read(sample))} ${m.unit}`).join(", ")
  const { capped, messages, seconds } = sample.result
  const percent = (cpu: number) => `${format((cpu / seconds) * 100)}%`
  const busy = seconds > 0
    ? `; CPU: server ${percent(sample.cpuSeconds)}, generator ${percent(sample.loadCpuSeconds)}, others ${
      percent(sample.othersCpuSeconds)
    }, steal ${percent(sample.stealSeconds)}`
    : ""
  return `${metrics} (${messages} in ${format(seconds)} s${capped ? ", time cap" : ""}${busy})`
}

/** One server's line in a metric's table. */
export interface Row {
  readonly server: string
  readonly samples: ReadonlyArray<number>
  readonly median: number
  /** Median over repeats of (this face / smtp-server in the same repeat); undefined for smtp-server. */
  readonly ratio?: number
  readonly pass?: boolean
}

/** One metric of one scenario, every server. */
export interface MetricResult {
  readonly key: string
  readonly title: string
  readonly unit: string
  readonly better: "higher" | "lower"
  readonly target?: Scenarios.Target
  readonly rows: ReadonlyArray<Row>
}

/** One scenario's results, as written to latest.json. */
export interface ScenarioResult {
  readonly key: string
  readonly title: string
  readonly note?: string
  readonly metrics: ReadonlyArray<MetricResult>
  /** Raw samples by server, in repeat order (NaN-free: a failed run is left out). */
  readonly samples: Record<string, ReadonlyArray<Scenarios.Sample | { readonly failed: string }>>
  /** Median CPU share of other processes over the measured spans, in % of one core. */
  readonly othersCpuPercent: number
}

const passes = (target: Scenarios.Target, better: "higher" | "lower", value: number): boolean =>
  better === "higher" ? value >= target.value : value <= target.value

/** Medians and ratios of one scenario from its runs (by server file, in repeat order). */
export const summarise = (
  scenario: Scenarios.Scenario,
  servers: ReadonlyArray<Server>,
  runs: Map<string, Array<Scenarios.Sample | undefined>>
): ScenarioResult => {
  const baseline = servers[0]!
  const metrics = scenario.metrics.map((metric): MetricResult => {
    const values = (server: Server) => (runs.get(server.file) ?? []).map((s) => s === undefined ? Number.NaN : metric.read(s))
    const base = values(baseline)
    const rows = servers.map((server): Row => {
      const samples = values(server)
      const med = median(samples)
      if (server === baseline) return { server: server.name, samples, median: med }
      const ratio = median(samples.map((v, i) => v / base[i]!))
      const target = metric.target
      const measured = target?.kind === "absolute" ? med : ratio
      return {
        server: server.name,
        samples,
        median: med,
        ratio,
        ...(target === undefined || !Number.isFinite(measured) ? {} : { pass: passes(target, metric.better, measured) })
      }
    })
    return {
      key: metric.key,
      title: metric.title,
      unit: metric.unit,
      better: metric.better,
      ...(metric.target === undefined ? {} : { target: metric.target }),
      rows
    }
  })
  const samples: ScenarioResult["samples"] = {}
  for (const server of servers) {
    samples[server.name] = (runs.get(server.file) ?? []).map((s) => s ?? { failed: "run failed" })
  }
  const othersCpuPercent = median(
    [...runs.values()].flat().map((s) => s !== undefined && s.result.seconds > 0 ? (s.othersCpuSeconds / s.result.seconds) * 100 : Number.NaN)
  )
  return {
    key: scenario.key,
    title: scenario.title,
    ...(scenario.note ? { note: scenario.note } : {}),
    metrics,
    samples,
    othersCpuPercent
  }
}

/** A number for a table: three significant digits, thousands separated, "—" when missing. */
export const format = (n: number | undefined): string => {
  if (n === undefined || !Number.isFinite(n)) return "—"
  const abs = Math.abs(n)
  if (abs < 0.0005) return "0"
  if (abs >= 1000) return Math.round(n).toLocaleString("en-US")
  if (abs >= 100) return n.toFixed(0)
  if (abs >= 10) return n.toFixed(1)
  if (abs >= 1) return n.toFixed(2)
  return n.toPrecision(3)
}

const targetText = (metric: MetricResult): string => {
  const target = metric.target
  if (target === undefined) return "—"
  const op = metric.better === "higher" ? "≥" : "≤"
  return target.kind === "ratio" ? `${op} ${target.value}×` : `${op} ${target.value} ${metric.unit}`
}

/** One scenario's tables, plain or Markdown. */
export const tableLines = (result: ScenarioResult, markdown: boolean): Array<string> => {
  const lines: Array<string> = []
  for (const metric of result.metrics) {
    const header = ["server", `median (${metric.unit})`, "runs", "ratio", "target", "pass"]
    const body = metric.rows.map((row) => [
      row.server,
      format(row.median),
      row.samples.map(format).join(" / "),
      row.ratio === undefined ? "1" : `${format(row.ratio)}×`,
      row.ratio === undefined ? "—" : targetText(metric),
      row.pass === undefined ? "—" : row.pass ? "pass" : "FAIL"
    ])
    const title = `${result.title} — ${metric.title} (${metric.better} is better)`
    if (markdown) {
      lines.push(`**${title}**`, "", `| ${header.join(" | ")} |`, `|${header.map((_, i) => i === 0 ? "---" : "---:").join("|")}|`)
      for (const row of body) lines.push(`| ${row.join(" | ")} |`)
      lines.push("")
    } else {
      const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
      const render = (cells: ReadonlyArray<string>) =>
        cells.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join("  ")
      lines.push(title, render(header), ...body.map(render), "")
    }
  }
  const others = `Other processes used a median ${format(result.othersCpuPercent)}% CPU (of ${
    os.availableParallelism() * 100
  }%) while these runs measured.`
  const notes = result.note ? [result.note, others] : [others]
  for (const note of notes) lines.push(markdown ? `_${note}_` : `note: ${note}`)
  lines.push("")
  return lines
}

/** One line per metric: smtp-server's median, each face's median and ratio, the target. */
export const summaryLines = (results: ReadonlyArray<ScenarioResult>, markdown: boolean): Array<string> => {
  const faces = results[0]?.metrics[0]?.rows.slice(1).map((row) => row.server) ?? []
  const header = ["scenario", "metric", "smtp-server", ...faces.flatMap((face) => [face, "ratio"]), "target"]
  const body = results.flatMap((result) =>
    result.metrics.map((metric) => [
      result.key,
      `${metric.title} (${metric.unit})`,
      format(metric.rows[0]?.median),
      ...metric.rows.slice(1).flatMap((row) => [
        format(row.median),
        `${format(row.ratio)}×${row.pass === undefined ? "" : row.pass ? " pass" : " FAIL"}`
      ]),
      metric.target === undefined ? "—" : targetText(metric)
    ])
  )
  if (markdown) {
    return [
      `| ${header.join(" | ")} |`,
      `|${header.map((_, i) => i < 2 ? "---" : "---:").join("|")}|`,
      ...body.map((row) => `| ${row.join(" | ")} |`),
      ""
    ]
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const render = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join("  ")
  return [render(header), ...body.map(render), ""]
}

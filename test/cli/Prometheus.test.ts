import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric, MetricBoundaries } from "effect"
import * as Prometheus from "../../src/cli/Prometheus.js"

// Metrics with names of their own, so the registry's other series do not show.
const only = (prefix: string) =>
  Effect.map(Metric.snapshot, (pairs) => Prometheus.format(pairs.filter((p) => p.metricKey.name.startsWith(prefix))))

describe("Prometheus", () => {
  it.effect("writes counters and gauges under one HELP and TYPE per name, with escaped labels", () =>
    Effect.gen(function*() {
      const counter = Metric.counter("t1_requests_total", { description: "Requests\nseen" })
      yield* Metric.incrementBy(Metric.tagged(counter, "path", "a\"b\\c"), 2)
      yield* Metric.increment(Metric.tagged(counter, "path", "/"))
      yield* Metric.set(Metric.gauge("t1_open"), 3)
      const lines = (yield* only("t1_")).split("\n")
      assert.deepStrictEqual(lines.slice(0, 2), ["# TYPE t1_open gauge", "t1_open 3"])
      assert.deepStrictEqual(lines.slice(2, 4), ["# HELP t1_requests_total Requests\\nseen", "# TYPE t1_requests_total counter"])
      assert.sameMembers(lines.slice(4, 6), ["t1_requests_total{path=\"a\\\"b\\\\c\"} 2", "t1_requests_total{path=\"/\"} 1"])
      assert.strictEqual(lines[6], "")
    }))

  it.effect("writes a histogram as cumulative le buckets ending at +Inf, then _sum and _count", () =>
    Effect.gen(function*() {
      const histogram = Metric.histogram("t2_seconds", MetricBoundaries.fromIterable([0.1, 1]), "Latency")
      yield* Metric.update(histogram, 0.05)
      yield* Metric.update(histogram, 0.5)
      yield* Metric.update(histogram, 5)
      assert.strictEqual(
        yield* only("t2_"),
        [
          "# HELP t2_seconds Latency",
          "# TYPE t2_seconds histogram",
          "t2_seconds_bucket{le=\"0.1\"} 1",
          "t2_seconds_bucket{le=\"1\"} 2",
          "t2_seconds_bucket{le=\"+Inf\"} 3",
          "t2_seconds_sum 5.55",
          "t2_seconds_count 3",
          ""
        ].join("\n")
      )
    }))

  it.effect("replaces characters Prometheus does not allow in names", () =>
    Effect.gen(function*() {
      yield* Metric.increment(Metric.tagged(Metric.counter("t3.dotted-name"), "a-b", "x"))
      assert.strictEqual(yield* only("t3"), "# TYPE t3_dotted_name counter\nt3_dotted_name{a_b=\"x\"} 1\n")
    }))
})

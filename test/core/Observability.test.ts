import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Metric, type MetricState, Option, Stream, Tracer } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import * as Observability from "../../src/core/Observability.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import * as TestClient from "../../src/testing/TestClient.js"

// A span as the in-memory tracer keeps it.
interface Recorded {
  readonly name: string
  readonly spanId: string
  readonly parentId: string | undefined
  readonly attributes: Map<string, unknown>
  ended: boolean
}

// A tracer that keeps every span in memory, and signals when a span of the given name ends.
const memoryTracer = (signalOn: string) =>
  Effect.gen(function*() {
    const spans: Array<Recorded> = []
    const done = yield* Deferred.make<void>()
    let next = 0
    const tracer = Tracer.make({
      span: (name, parent, context, links, startTime, kind) => {
        const attributes = new Map<string, unknown>()
        const recorded: Recorded = {
          name,
          spanId: String(++next),
          parentId: Option.isSome(parent) ? parent.value.spanId : undefined,
          attributes,
          ended: false
        }
        spans.push(recorded)
        const span: Tracer.Span = {
          _tag: "Span",
          name,
          spanId: recorded.spanId,
          traceId: "trace",
          parent,
          context,
          status: { _tag: "Started", startTime },
          attributes,
          links,
          sampled: true,
          kind,
          end: () => {
            recorded.ended = true
            if (name === signalOn) Deferred.unsafeDone(done, Exit.void)
          },
          attribute: (key, value) => void attributes.set(key, value),
          event: () => {},
          addLinks: () => {}
        }
        return span
      },
      context: (f) => f()
    })
    return { spans, done: Deferred.await(done), layer: Layer.setTracer(tracer) }
  })

const serverWith = (config: Input = {}, hooks: Hooks.Implementations = {}) =>
  TestClient.server.pipe(Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", closeTimeout: 0, ...config }), Hooks.layer(hooks))))

// One complete transaction: greeting, EHLO, MAIL, RCPT, DATA with a body, QUIT.
const transaction = (server: TestClient.TestServer, body = "Subject: hi\r\n\r\nhello\r\n") =>
  Effect.gen(function*() {
    const client = yield* server.connect()
    yield* client.reply
    yield* client.command("EHLO client.test")
    yield* client.command("MAIL FROM:<a@client.test>")
    yield* client.command("RCPT TO:<b@mx.test>")
    yield* client.command("DATA")
    const verdict = yield* client.command(`${body}.`)
    yield* client.command("QUIT")
    yield* client.closed
    return verdict
  })

// A counter's value now, optionally of the series with reply class `replyClass`.
const counter = (metric: Metric.Metric.Counter<number>, replyClass?: string) =>
  Effect.map(Metric.value(replyClass === undefined ? metric : Metric.tagged(metric, "class", replyClass)), (s) => s.count)

const histogramCount = (command: string, replyClass: string) =>
  Effect.map(
    Metric.value(Observability.commandDuration.pipe(Metric.tagged("command", command), Metric.tagged("class", replyClass))),
    (s: MetricState.MetricState.Histogram) => s.count
  )

describe("Observability", () => {
  it.scoped("runs a session in a span and each command in a child span with its verb and reply code", () =>
    Effect.gen(function*() {
      const tracer = yield* memoryTracer("SMTP session")
      const verdict = yield* Effect.gen(function*() {
        const server = yield* serverWith()
        const verdict = yield* transaction(server)
        yield* tracer.done
        return verdict
      }).pipe(Effect.provide(tracer.layer))
      assert.strictEqual(verdict, "250 2.6.0 OK: message queued\r\n")

      const session = tracer.spans.find((s) => s.name === "SMTP session")!
      const { "smtp.session.id": id, ...attributes } = Object.fromEntries(session.attributes)
      assert.match(String(id), /^[0-9a-v]{16}$/)
      assert.deepStrictEqual(attributes, {
        "client.address": "127.0.0.1",
        "client.port": 50000,
        "server.address": "127.0.0.1",
        "server.port": 25,
        "smtp.transactions": 1
      })
      const commands = tracer.spans.filter((s) => s.parentId === session.spanId)
      assert.deepStrictEqual(
        commands.map((s) => [s.name, s.attributes.get("smtp.command"), s.attributes.get("smtp.reply.code"), s.ended]),
        [
          ["SMTP EHLO", "EHLO", 250, true],
          ["SMTP MAIL", "MAIL", 250, true],
          ["SMTP RCPT", "RCPT", 250, true],
          ["SMTP DATA", "DATA", 250, true],
          ["SMTP QUIT", "QUIT", 221, true]
        ]
      )
      assert.isTrue(session.ended)
    }))

  it.scoped("gives hooks the command's span as their parent when a tracer is installed", () =>
    Effect.gen(function*() {
      const tracer = yield* memoryTracer("SMTP session")
      const seen = yield* Deferred.make<string>()
      yield* Effect.gen(function*() {
        const server = yield* serverWith({}, {
          onRcptTo: () => Effect.flatMap(Effect.orDie(Effect.currentSpan), (span) => Deferred.succeed(seen, span.name))
        })
        yield* transaction(server)
        yield* tracer.done
      }).pipe(Effect.provide(tracer.layer))
      assert.strictEqual(yield* Deferred.await(seen), "SMTP RCPT")
    }))

  it.scoped("builds no spans with Effect's built-in tracer: a hook sees no command span", () =>
    Effect.gen(function*() {
      const seen = yield* Deferred.make<Option.Option<string>>()
      const server = yield* serverWith({}, {
        onRcptTo: () =>
          Effect.flatMap(Effect.option(Effect.currentSpan), (span) => Deferred.succeed(seen, Option.map(span, (s) => s.name)))
      })
      yield* transaction(server)
      assert.isTrue(Option.isNone(yield* Deferred.await(seen)))
    }))

  it.scoped("counts connections, bytes, commands by reply class and accepted transactions", () =>
    Effect.gen(function*() {
      const before = {
        connections: yield* counter(Observability.connectionsTotal),
        bytes: yield* counter(Observability.receivedBytesTotal),
        accepted: yield* counter(Observability.transactionsTotal, "2xx"),
        mail: yield* histogramCount("MAIL", "2xx"),
        unknown: yield* histogramCount("UNKNOWN", "5xx")
      }
      const server = yield* serverWith()
      const active = (yield* Metric.value(Observability.connectionsActive)).value
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO client.test")
      assert.strictEqual((yield* Metric.value(Observability.connectionsActive)).value, active + 1)
      assert.strictEqual(yield* client.command("FROB"), "500 5.5.1 Error: command not recognized\r\n")
      yield* client.command("MAIL FROM:<a@client.test>")
      yield* client.command("RCPT TO:<b@mx.test>")
      yield* client.command("DATA")
      yield* client.command("hello\r\n.")
      yield* client.command("QUIT")
      yield* client.closed
      const sent = "EHLO client.test\r\nFROB\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\nhello\r\n.\r\nQUIT\r\n"
      assert.deepStrictEqual({
        connections: (yield* counter(Observability.connectionsTotal)) - before.connections,
        bytes: (yield* counter(Observability.receivedBytesTotal)) - before.bytes,
        accepted: (yield* counter(Observability.transactionsTotal, "2xx")) - before.accepted,
        mail: (yield* histogramCount("MAIL", "2xx")) - before.mail,
        unknown: (yield* histogramCount("UNKNOWN", "5xx")) - before.unknown
      }, { connections: 1, bytes: sent.length, accepted: 1, mail: 1, unknown: 1 })
    }))

  it.scoped("counts a message refused after its body by the class of its reply", () =>
    Effect.gen(function*() {
      const before = yield* counter(Observability.transactionsTotal, "5xx")
      const server = yield* serverWith({ size: 10 }, { onData: (message) => Stream.runDrain(message.body) })
      const verdict = yield* transaction(server, "x".repeat(50) + "\r\n")
      assert.strictEqual(verdict, "552 5.3.4 Error: message exceeds fixed maximum message size 10\r\n")
      assert.strictEqual((yield* counter(Observability.transactionsTotal, "5xx")) - before, 1)
    }))

  it("names only known verbs, so clients cannot create label values", () => {
    assert.strictEqual(Observability.verbOf("mail FROM:<a@b>"), "MAIL")
    assert.strictEqual(Observability.verbOf("STARTTLS"), "STARTTLS")
    assert.strictEqual(Observability.verbOf("X-MADE-UP-1234 arg"), "UNKNOWN")
    assert.strictEqual(Observability.classOf(354), "3xx")
  })
})

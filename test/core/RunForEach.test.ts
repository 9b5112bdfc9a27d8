import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Ref, Stream } from "effect"
import * as Reply from "../../src/protocol/Reply.js"
import * as Hooks from "../../src/core/Hooks.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import { type MessageError, SmtpError } from "../../src/core/SmtpError.js"
import * as TestClient from "../../src/testing/TestClient.js"

const decoder = new TextDecoder()

const serverWith = (config: Input, hooks: Hooks.Implementations) =>
  TestClient.server.pipe(Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", closeTimeout: 0, ...config }), Hooks.layer(hooks))))

// Starts a transaction up to the 354.
const toData = (client: TestClient.TestClient) =>
  Effect.gen(function*() {
    yield* client.reply
    yield* client.command("EHLO client.test")
    yield* client.command("MAIL FROM:<a@x.test>")
    yield* client.command("RCPT TO:<b@y.test>")
    assert.strictEqual(yield* client.command("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n")
  })

// The body in pieces sent one at a time: a dot-stuffed line split across two of them, another
// inside one (which decodes to two pieces in one pull), and the end marker split across three.
const pieces = ["Subject: hi\r\n\r\nfirst line\r\n.", ".stuffed\r\nmid\r\n..dot\r\nlast line\r", "\n.", "\r\n"]

// What a client sees for one message whose hook consumes the body with `consume`: every reply, then NOOP's.
const transcript = (
  config: Input,
  consume: (message: Hooks.Message) => Effect.Effect<void, SmtpError | MessageError>,
  body: ReadonlyArray<string>
) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* serverWith(config, { onData: consume })
    const client = yield* server.connect()
    yield* toData(client)
    for (const piece of body) yield* client.send(piece)
    return [yield* client.reply, yield* client.command("NOOP")]
  }))

describe("Hooks.runForEach", () => {
  it.scoped("hands the hook every piece of the body in order, decoded, one piece at a time", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<Array<string>>([])
      const first = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const server = yield* serverWith({}, {
        onData: (message) =>
          Hooks.runForEach(message, (chunk) =>
            Effect.gen(function*() {
              const count = (yield* Ref.getAndUpdate(seen, (all) => [...all, decoder.decode(chunk)])).length
              // The first piece holds the hook until the test has seen that no other piece came meanwhile.
              if (count === 0) {
                yield* Deferred.succeed(first, undefined)
                yield* Deferred.await(release)
              }
            }))
      })
      const client = yield* server.connect()
      yield* toData(client)
      yield* client.send(pieces[0]!)
      yield* Deferred.await(first)
      for (const piece of pieces.slice(1)) yield* client.send(piece)
      assert.strictEqual((yield* Ref.get(seen)).length, 1)
      yield* Deferred.succeed(release, undefined)
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message queued\r\n")
      const all = yield* Ref.get(seen)
      assert.isAbove(all.length, 1)
      assert.strictEqual(all.join(""), "Subject: hi\r\n\r\nfirst line\r\n.stuffed\r\nmid\r\n.dot\r\nlast line\r\n")
    }))

  it.effect("answers as Stream.runForEach does: accepted, refused by the callback, oversized, bare line endings", () =>
    Effect.gen(function*() {
      const refusal = new SmtpError({ reply: Reply.make(550, "no thanks", "5.7.1") })
      const cases: ReadonlyArray<readonly [Input, (chunk: Uint8Array) => Effect.Effect<void, SmtpError>, ReadonlyArray<string>]> = [
        [{}, () => Effect.void, pieces],
        [{}, () => Effect.fail(refusal), pieces],
        [{ size: 20 }, () => Effect.void, pieces],
        [{ bareLineEndings: "reject" }, () => Effect.void, ["a\nb\r\n", ".\r\n"]]
      ]
      for (const [config, f, body] of cases) {
        const viaPull = yield* transcript(config, (message) => Hooks.runForEach(message, f), body)
        const viaStream = yield* transcript(config, (message) => Stream.runForEach(message.body, f), body)
        assert.deepStrictEqual(viaPull, viaStream)
      }
      // The expected replies themselves, so that the comparison above cannot pass on two wrong answers.
      assert.deepStrictEqual(yield* transcript({}, (m) => Hooks.runForEach(m, () => Effect.fail(refusal)), pieces), [
        "550 5.7.1 no thanks\r\n",
        "250 2.0.0 OK\r\n"
      ])
      assert.deepStrictEqual(yield* transcript({ size: 20 }, (m) => Hooks.runForEach(m, () => Effect.void), pieces), [
        "552 5.3.4 Error: message exceeds fixed maximum message size 20\r\n",
        "250 2.0.0 OK\r\n"
      ])
    }))
})

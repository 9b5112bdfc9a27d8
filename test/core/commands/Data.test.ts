import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Stream } from "effect"
import * as Hooks from "../../../src/core/Hooks.js"
import { ServerConfig } from "../../../src/core/ServerConfig.js"
import * as TestClient from "../../../src/testing/TestClient.js"

describe("DATA", () => {
  it.scoped("sends 354 before the data hook reads, so a hook that waits first still gets the body", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const server = yield* TestClient.server.pipe(Effect.provide(Layer.merge(
        ServerConfig.layer({ name: "mx.test", closeTimeout: 0 }),
        Hooks.layer({ onData: (message) => Deferred.await(gate).pipe(Effect.zipRight(Stream.runDrain(message.body))) })
      )))
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      yield* client.command("RCPT TO:<b@y.test>")
      assert.strictEqual(yield* client.command("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n")
      yield* client.send("hi\r\n.\r\n")
      const reply = yield* Effect.fork(client.reply)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(reply), "250 2.6.0 OK: message queued\r\n")
    }))

  it.scoped("hands the hook the body through pull, in pieces, then undefined", () =>
    Effect.gen(function*() {
      const pulled = yield* Deferred.make<Array<string>>()
      const server = yield* TestClient.server.pipe(Effect.provide(Layer.merge(
        ServerConfig.layer({ name: "mx.test", closeTimeout: 0 }),
        Hooks.layer({
          onData: (message) =>
            Effect.gen(function*() {
              const seen: Array<string> = []
              for (let i = 0; i < 10; i++) {
                const pieces = yield* message.pull
                if (pieces === undefined) break
                seen.push(Buffer.concat(pieces as Array<Uint8Array>).toString())
              }
              yield* Deferred.succeed(pulled, seen)
            })
        })
      )))
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      yield* client.command("RCPT TO:<b@y.test>")
      yield* client.command("DATA")
      yield* client.send("first\r\n..second\r\n")
      yield* client.send(".\r\n")
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message queued\r\n")
      assert.deepStrictEqual(yield* Deferred.await(pulled), ["first\r\n.second\r\n"])
    }))
})

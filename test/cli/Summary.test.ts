import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Summary from "../../src/cli/Summary.js"
import * as Hooks from "../../src/core/Hooks.js"
import { ServerConfig } from "../../src/core/ServerConfig.js"
import * as TestClient from "../../src/testing/TestClient.js"

describe("Summary", () => {
  it("writes the shutdown line with singulars and plurals", () => {
    assert.strictEqual(
      Summary.format({ connections: 1, messages: 2, bytes: 1234, rejections: 0 }),
      "effect-smtp stopped: 1 connection, 2 messages (1234 bytes), 0 rejections"
    )
  })

  it.scoped("counts connections and refused senders, recipients and messages since it started, and stored messages", () =>
    Effect.gen(function*() {
      const summary = yield* Summary.Summary
      const server = yield* TestClient.server.pipe(
        Effect.provide(Layer.merge(ServerConfig.layer({ closeTimeout: 0, size: 10 }), Hooks.Default))
      )
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO c.test")
      // Refused at MAIL (declared too big), then after the body (too big): two rejections.
      assert.strictEqual(yield* client.command("MAIL FROM:<a@c.test> SIZE=100"), "552 5.3.4 Error: message exceeds fixed maximum message size 10\r\n")
      yield* client.command("MAIL FROM:<a@c.test>")
      yield* client.command("RCPT TO:<b@mx.test>")
      yield* client.command("DATA")
      yield* client.command("x".repeat(20) + "\r\n.")
      yield* client.command("QUIT")
      yield* summary.stored(42)
      assert.deepStrictEqual(yield* summary.counts, { connections: 1, messages: 1, bytes: 42, rejections: 2 })
    }).pipe(Effect.provide(Summary.Summary.Default)))
})

import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope, TestClock } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import { ServerConfig } from "../../src/core/ServerConfig.js"
import * as TestClient from "../../src/testing/TestClient.js"

describe("Server shutdown", () => {
  it.scoped("gives a session in a transaction closeTimeout to finish, then ends it with 421", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* TestClient.server.pipe(
        Scope.extend(scope),
        Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", closeTimeout: 30_000 }), Hooks.Default))
      )
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("29 seconds")
      assert.isFalse(yield* client.isClosed)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* client.reply, "421 4.4.2 Server shutting down\r\n")
      yield* Fiber.join(closing)
      yield* client.closed
    }))
})

import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Layer, Ref, Scope, Stream, TestClock } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import * as TestClient from "../../src/testing/TestClient.js"

// A server in a scope of its own, so the test decides when it shuts down.
const serverIn = (scope: Scope.Scope, config: Input, hooks: Hooks.Implementations = {}) =>
  TestClient.server.pipe(
    Scope.extend(scope),
    Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", ...config }), Hooks.layer(hooks)))
  )

const greeted = (server: TestClient.TestServer) =>
  Effect.gen(function*() {
    const client = yield* server.connect()
    yield* client.reply
    yield* client.command("EHLO c")
    return client
  })

// Waits until the shutdown's closeTimeout timer (due at 30 s of test time) is registered.
const sleepRegistered = Effect.gen(function*() {
  while (!Chunk.some(yield* TestClock.sleeps(), (at) => at === 30_000)) yield* Effect.yieldNow()
})

describe("Server shutdown", () => {
  it.effect("ends a session between transactions at once with 421", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* serverIn(scope, { closeTimeout: 30_000 })
      const client = yield* greeted(server)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      assert.strictEqual(yield* client.reply, "421 4.4.2 Server shutting down\r\n")
      yield* client.closed
      yield* Fiber.join(closing)
    }))

  it.effect("lets a message in flight finish with its 250, then says 421", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const delivered = yield* Ref.make(0)
      const scope = yield* Scope.make()
      const server = yield* serverIn(scope, { closeTimeout: 30_000 }, {
        onData: (message) =>
          Effect.gen(function*() {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(release)
            yield* Stream.runDrain(message.body)
            yield* Ref.update(delivered, (n) => n + 1)
          })
      })
      const client = yield* greeted(server)
      yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nbody\r\n.\r\n")
      for (let i = 0; i < 3; i++) yield* client.reply
      yield* Deferred.await(started)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Deferred.succeed(release, undefined)
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message queued\r\n")
      assert.strictEqual(yield* client.reply, "421 4.4.2 Server shutting down\r\n")
      yield* Fiber.join(closing)
      assert.strictEqual(yield* Ref.get(delivered), 1)
    }))

  it.effect("interrupts a session still busy after closeTimeout with 421, running the hook's finalizers", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const finalized = yield* Deferred.make<void>()
      const closed = yield* Deferred.make<number>()
      const scope = yield* Scope.make()
      const server = yield* serverIn(scope, { closeTimeout: 30_000 }, {
        onData: () =>
          Deferred.succeed(started, undefined).pipe(
            Effect.zipRight(Effect.never),
            Effect.onInterrupt(() => Deferred.succeed(finalized, undefined))
          ),
        onClose: (session) => Deferred.succeed(closed, session.transactions).pipe(Effect.asVoid)
      })
      const client = yield* greeted(server)
      yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nbody\r\n.\r\n")
      for (let i = 0; i < 3; i++) yield* client.reply
      yield* Deferred.await(started)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* sleepRegistered
      yield* TestClock.adjust("29 seconds")
      assert.isFalse(yield* Deferred.isDone(finalized))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* client.reply, "421 4.4.2 Server shutting down\r\n")
      yield* Deferred.await(finalized)
      assert.strictEqual(yield* Deferred.await(closed), 0)
      yield* Fiber.join(closing)
    }))

  it.effect("refuses new connections once shut down", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* serverIn(scope, { closeTimeout: 0 })
      yield* Scope.close(scope, Exit.void)
      const client = yield* server.connect()
      yield* client.closed
      assert.strictEqual(yield* client.reply, "")
    }))

  it.effect("counts open connections", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* serverIn(scope, { closeTimeout: 0 })
      const a = yield* greeted(server)
      yield* greeted(server)
      assert.strictEqual(server.stats.active, 2)
      yield* a.command("QUIT")
      yield* a.closed
      yield* Effect.yieldNow()
      assert.strictEqual(server.stats.active, 1)
      yield* Scope.close(scope, Exit.void)
    }))
})

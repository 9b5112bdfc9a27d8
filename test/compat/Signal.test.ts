/**
 * `session.signal` tells a callback that its answer will not be used: when the hook it runs for
 * is cut off by hookTimeout or by shutdown, not only when the connection ends.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, TestClock } from "effect"
import { ServerConfig } from "../../src/core/ServerConfig.js"
import * as Callbacks from "../../src/compat/Callbacks.js"
import * as Logging from "../../src/compat/Logging.js"
import * as SessionView from "../../src/compat/SessionView.js"
import * as TestClient from "../../src/testing/TestClient.js"
import { deferred, greeted, start } from "./client.js"

// An in-memory server on the facade's adapters, whose hooks time out after 30 s.
const memoryServer = (callbacks: Partial<Callbacks.AnyCallbacks>) =>
  TestClient.server.pipe(
    Effect.provide(Layer.merge(
      ServerConfig.layer({ name: "mx.test", closeTimeout: 0, hookTimeout: 30_000 }),
      Callbacks.layer({
        callbacks: { ...Callbacks.defaults, ...callbacks },
        sessions: new SessionView.Registry({ lmtp: false, hideDSN: true }),
        log: Logging.silent,
        streamType: "web",
        connected: () => {}
      })
    ))
  )

const reasonCode = (signal: AbortSignal): unknown => (signal.reason as { code?: unknown } | undefined)?.code

describe("session.signal", () => {
  it.scoped("aborts when the callback's hook passes hookTimeout; the next callback gets a fresh signal", () =>
    Effect.gen(function*() {
      const signals: Array<AbortSignal> = []
      const waiting = yield* Deferred.make<void>()
      const server = yield* memoryServer({
        onRcptTo: (address, session, callback) => {
          signals.push(session.signal)
          // The slow recipient never gets an answer: only the signal can tell the callback to stop.
          if (address.address === "slow@y.test") return void Deferred.unsafeDone(waiting, Effect.void)
          callback()
        }
      })
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO client.test")
      yield* client.command("MAIL FROM:<a@x.test>")
      const reply = yield* Effect.fork(client.command("RCPT TO:<slow@y.test>"))
      yield* Deferred.await(waiting)
      assert.isFalse(signals[0]!.aborted)
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* Fiber.join(reply), "451 4.3.0 Error: timed out while processing the command\r\n")
      assert.isTrue(signals[0]!.aborted)
      assert.strictEqual(reasonCode(signals[0]!), "ECANCELED")
      assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "250 2.1.5 Accepted\r\n")
      assert.isFalse(signals[1]!.aborted)
    }))

  it.scoped("aborts when onData's hook passes hookTimeout with the body read", () =>
    Effect.gen(function*() {
      const read = yield* Deferred.make<AbortSignal>()
      const server = yield* memoryServer({
        onData: (stream, session, callback) => {
          void new Response(stream as ReadableStream<Uint8Array>).text().then(() => {
            Deferred.unsafeDone(read, Effect.succeed(session.signal))
            // No answer: the hook times out.
            void callback
          })
        }
      })
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO client.test")
      yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
      for (let i = 0; i < 3; i++) yield* client.reply
      const reply = yield* Effect.fork(client.command("hello\r\n."))
      const signal = yield* Deferred.await(read)
      assert.isFalse(signal.aborted)
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* Fiber.join(reply), "451 4.3.0 Error: timed out while processing the command\r\n")
      assert.isTrue(signal.aborted)
      assert.strictEqual(reasonCode(signal), "ECANCELED")
    }))

  it("aborts when the server closes while a callback is pending, before the session ends", async () => {
    const pending = deferred<AbortSignal>()
    const aborted = deferred<unknown>()
    const { port, server } = await start({
      onMailFrom: (_address, session, _callback) => {
        session.signal.addEventListener("abort", () => aborted.resolve(reasonCode(session.signal)))
        pending.resolve(session.signal)
      }
    })
    const client = await greeted(port)
    await client.command("EHLO client.test")
    const reply = client.command("MAIL FROM:<a@x.test>")
    const signal = await pending.promise
    assert.isFalse(signal.aborted)
    await server.close()
    assert.match(await reply, /^421 /)
    assert.strictEqual(await aborted.promise, "ECANCELED")
  })
})

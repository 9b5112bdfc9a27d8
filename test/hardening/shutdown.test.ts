import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as RawClient from "../support/RawClient.js"

// What a client was told about one message it tried to send: the reply that ended it.
interface Attempt {
  readonly id: string
  readonly body: string
  readonly reply: string
  readonly at: number
}

const shuttingDown = "421 4.4.2 Server shutting down\r\n"

// The body of message `id`: a header naming its kind, then a few KiB of lines.
const bodyOf = (id: string, kind: string) => {
  let body = `X-Kind: ${kind}\r\nX-Id: ${id}\r\n\r\n`
  for (let i = 0; i < 64; i++) body += `${id} line ${i} ${"abcdefgh".repeat(8)}\r\n`
  return body
}

// Sends messages on one connection until a reply other than 250 (or the end of the connection),
// recording how each attempt ended. Message `special.at` of this client is of kind `special.kind`.
const sender = (
  port: number,
  n: number,
  attempts: Array<Attempt>,
  toldShutdown: Deferred.Deferred<void>,
  special?: { at: number; kind: string }
) =>
  Effect.gen(function*() {
    const client = yield* RawClient.connect(port)
    yield* client.reply
    yield* client.command("EHLO c")
    for (let i = 0; i < 1000; i++) {
      const id = `${n}-${i}`
      const body = bodyOf(id, special?.at === i ? special.kind : "normal")
      const record = (reply: string) => {
        attempts.push({ id, body, reply, at: Date.now() })
        if (reply === shuttingDown) Deferred.unsafeDone(toldShutdown, Exit.void)
      }
      const step = (reply: string, expected: string) => {
        if (reply === expected) return true
        record(reply)
        return false
      }
      if (!step(yield* client.command(`MAIL FROM:<c${n}@x.test>`), "250 2.1.0 Accepted\r\n")) return
      if (!step(yield* client.command("RCPT TO:<b@y.test>"), "250 2.1.5 Accepted\r\n")) return
      if (!step(yield* client.command("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n")) return
      // A line starting with a dot would be stuffed; the bodies have none.
      const reply = yield* client.command(`${body}.`)
      record(reply)
      if (reply !== "250 2.6.0 OK: message queued\r\n") return
    }
  }).pipe(Effect.scoped)

describe("Graceful shutdown under load, over real sockets", () => {
  it.live("every 250 was a complete delivery, every other message got 421, none was half-delivered", () =>
    Effect.gen(function*() {
      const closeTimeout = 1000
      const completed = new Map<string, string>()
      const interrupted: Array<string> = []
      const inflightStarted = yield* Deferred.make<void>()
      const slowStarted = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const tenDone = yield* Deferred.make<void>()
      const toldShutdown = yield* Deferred.make<void>()

      const hooks = Hooks.layer({
        onData: (message) =>
          Effect.gen(function*() {
            const pieces: Array<Uint8Array> = []
            yield* Stream.runForEach(message.body, (piece) => Effect.sync(() => pieces.push(piece)))
            const body = Buffer.concat(pieces).toString("latin1")
            const id = /X-Id: (\S+)/.exec(body)![1]!
            const kind = /X-Kind: (\S+)/.exec(body)![1]!
            // Work after the body is in: a little for most; the in-flight one waits for the
            // test to let it finish once shutdown began; the slow one outlasts closeTimeout.
            if (kind === "inflight") yield* Deferred.succeed(inflightStarted, undefined).pipe(Effect.zipRight(Deferred.await(release)))
            else if (kind === "slow") yield* Deferred.succeed(slowStarted, undefined).pipe(Effect.zipRight(Effect.never))
            else yield* Effect.sleep("2 millis")
            completed.set(id, body)
            if (completed.size >= 10) yield* Deferred.succeed(tenDone, undefined)
          }).pipe(Effect.onInterrupt(() =>
            Effect.sync(() => interrupted.push(message.envelope.mailFrom?.address ?? ""))
          ))
      })
      const serverScope = yield* Scope.make()
      const server = yield* Layer.buildWithScope(
        NodeSmtpServer.layer({ port: 0, host: "127.0.0.1", name: "mx.test", closeTimeout }).pipe(Layer.provide(hooks)),
        serverScope
      ).pipe(Effect.map(Context.get(NodeSmtpServer.SmtpServer)))
      const port = server.address.port

      const attempts: Array<Attempt> = []
      const clients = yield* Effect.forkAll([
        sender(port, 0, attempts, toldShutdown, { at: 3, kind: "slow" }),
        sender(port, 1, attempts, toldShutdown, { at: 3, kind: "inflight" }),
        ...Array.from({ length: 6 }, (_, i) => sender(port, i + 2, attempts, toldShutdown))
      ])
      yield* Deferred.await(slowStarted)
      yield* Deferred.await(inflightStarted)
      yield* Deferred.await(tenDone)

      const closing = yield* Effect.fork(Scope.close(serverScope, Exit.void))
      const closedAt = Date.now()
      // Once some client has been told the server is shutting down, the in-flight one finishes.
      yield* Deferred.await(toldShutdown)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(clients)
      yield* Fiber.join(closing)

      // Eight clients, each ended by a 421.
      const last = new Map(attempts.map((a) => [a.id.split("-")[0], a]))
      assert.strictEqual(last.size, 8)
      for (const a of last.values()) assert.strictEqual(a.reply, shuttingDown)
      // Every message is one of two kinds: 250 and delivered complete, byte for byte; or 421 and not delivered.
      for (const a of attempts) {
        if (a.reply === "250 2.6.0 OK: message queued\r\n") assert.strictEqual(completed.get(a.id), a.body, a.id)
        else {
          assert.strictEqual(a.reply, shuttingDown, a.id)
          assert.isFalse(completed.has(a.id), a.id)
        }
      }
      const accepted = attempts.filter((a) => a.reply.startsWith("250"))
      assert.strictEqual(completed.size, accepted.length)
      // The message in flight when shutdown began finished with its 250.
      const inflight = attempts.find((a) => a.id === "1-3")!
      assert.strictEqual(inflight.reply, "250 2.6.0 OK: message queued\r\n")
      assert.isAbove(inflight.at, closedAt)
      // The one still busy at closeTimeout was interrupted and told 421.
      const slow = attempts.find((a) => a.id === "0-3")!
      assert.strictEqual(slow.reply, shuttingDown)
      assert.isAtLeast(slow.at - closedAt, closeTimeout - 50)
      assert.deepStrictEqual(interrupted, ["c0@x.test"])
    }).pipe(Effect.scoped), 30_000)
})

import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream, TestClock } from "effect"
import type * as Transport from "../../src/core/Transport.js"
import * as TestClient from "../../src/testing/TestClient.js"
import * as RawClient from "../support/RawClient.js"
import * as Harness from "./Harness.js"

// A hook step that waits on something other than the client, until interrupted.
const waitsElsewhere = (log: Harness.Journal, name: string) =>
  log.add(`${name}:waiting`).pipe(
    Effect.zipRight(Effect.never),
    Effect.onInterrupt(() => log.add(`${name}:interrupted`))
  )

const greeted = (server: TestClient.TestServer) =>
  Effect.gen(function*() {
    const client = yield* server.connect()
    yield* client.reply
    yield* client.command("EHLO client.test")
    return client
  })

const tlsInfo: Transport.TlsInfo = { name: "TLS_AES_256_GCM_SHA384", standardName: "TLS_AES_256_GCM_SHA384", version: "TLSv1.3" }

const transaction = "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"

describe("Cancellation when the client leaves (Effect API)", () => {
  it.scoped("interrupts a recipient hook waiting elsewhere; its finalizers run, then the close hook, once", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.memoryServer({}, Harness.recordingHooks(log, { onRcptTo: () => waitsElsewhere(log, "rcpt") }))
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
      yield* client.send("RCPT TO:<b@y.test>\r\n")
      yield* log.when("rcpt:waiting")
      yield* client.end
      yield* client.closed
      assert.deepStrictEqual(log.events, ["rcpt:waiting", "rcpt:interrupted", "close"])
      assert.strictEqual(yield* client.reply, "")
    }))

  it.scoped("interrupts a data hook that read the whole body and waits elsewhere: nothing is accepted", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.memoryServer({}, Harness.recordingHooks(log, {
        onData: (message) => Effect.zipRight(Harness.record(log, message), waitsElsewhere(log, "data"))
      }))
      const client = yield* greeted(server)
      yield* client.send(transaction)
      for (let i = 0; i < 3; i++) yield* client.reply
      yield* client.send("hello\r\n.\r\n")
      yield* log.when("data:waiting")
      yield* client.end
      yield* client.closed
      assert.deepStrictEqual(log.events, ["data:complete", "data:waiting", "data:interrupted", "close"])
      assert.strictEqual(log.deliveries[0]!.body.toString(), "hello\r\n")
      assert.strictEqual(yield* client.reply, "")
    }))

  it.scoped("tells a data hook waiting for body bytes through its stream (Disconnected), not by interruption", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.memoryServer({}, Harness.recordingHooks(log, {
        onData: (message) =>
          Stream.runForEach(message.body, (piece) => log.add(`piece:${Buffer.from(piece).toString()}`)).pipe(
            Effect.catchTag("MessageError", (e) => log.add(`data:${e.reason}`))
          )
      }))
      const client = yield* greeted(server)
      yield* client.send(transaction)
      for (let i = 0; i < 3; i++) yield* client.reply
      yield* client.send("partial li")
      // Seen once the hook has taken the piece and, in the same run, asked for the next one.
      yield* log.when("piece:partial li")
      yield* client.end
      yield* client.closed
      assert.deepStrictEqual(log.events, ["piece:partial li", "data:Disconnected", "close"])
    }))

  it.scoped("interrupts a BDAT data hook waiting elsewhere after the last chunk, before the close hook", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.memoryServer({}, Harness.recordingHooks(log, {
        onData: (message) => Effect.zipRight(Harness.record(log, message), waitsElsewhere(log, "data"))
      }))
      const client = yield* greeted(server)
      // One write: the replies wait in the queue while no read is due, and are lost with the client.
      yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\nde")
      yield* log.when("data:waiting")
      yield* client.end
      yield* client.closed
      assert.deepStrictEqual(log.events, ["data:complete", "data:waiting", "data:interrupted", "close"])
      assert.strictEqual(log.deliveries[0]!.body.toString(), "abcde")
    }))

  it.scoped("starts no hook once the client has gone: one who leaves mid-handshake meets neither onConnect nor onSecure", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const handshake = yield* Deferred.make<Transport.TlsInfo>()
      const server = yield* Harness.memoryServer({ secure: true }, Harness.recordingHooks(log, {
        onConnect: () => log.add("connect"),
        onSecure: () => log.add("secure")
      }))
      const client = yield* server.connect(undefined, {
        startTls: Effect.zipRight(log.add("handshake"), Deferred.await(handshake))
      })
      yield* log.when("handshake")
      yield* client.end
      // The transport reported the peer gone; its watcher runs before this fiber resumes.
      yield* Effect.yieldNow()
      yield* Deferred.succeed(handshake, tlsInfo)
      yield* client.closed
      assert.deepStrictEqual(log.events, ["handshake", "close"])
      assert.strictEqual(yield* client.reply, "")
    }))

  it.scoped("interrupts the hook of the session that timed out its hook, answers 451 4.3.0 and serves on", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.memoryServer({ hookTimeout: 30_000 }, Harness.recordingHooks(log, {
        onMailFrom: (from) => from.address === "slow@x.test" ? waitsElsewhere(log, "mail") : Effect.void
      }))
      const client = yield* greeted(server)
      const reply = yield* Effect.fork(client.command("MAIL FROM:<slow@x.test>"))
      yield* log.when("mail:waiting")
      yield* TestClock.adjust("29 seconds")
      assert.deepStrictEqual(log.events, ["mail:waiting"])
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(reply), "451 4.3.0 Error: timed out while processing the command\r\n")
      assert.deepStrictEqual(log.events, ["mail:waiting", "mail:interrupted"])
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
    }))

  it.scoped("a data hook past hookTimeout is interrupted, the rest of the body is read, and the reply is 451", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.memoryServer({ hookTimeout: 60_000 }, Harness.recordingHooks(log, {
        onData: (message) =>
          // Reads one piece, then stalls on something else with the body half read.
          Stream.runHead(message.body).pipe(Effect.zipRight(waitsElsewhere(log, "data")))
      }))
      const client = yield* greeted(server)
      yield* client.send(transaction)
      for (let i = 0; i < 3; i++) yield* client.reply
      yield* client.send("first\r\n")
      yield* log.when("data:waiting")
      yield* client.send("second\r\n.\r\n")
      const reply = yield* Effect.fork(client.reply)
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual(yield* Fiber.join(reply), "451 4.3.0 Error: timed out while processing the command\r\n")
      assert.deepStrictEqual(log.events, ["data:waiting", "data:interrupted"])
      assert.strictEqual(yield* client.command("RSET"), "250 2.0.0 Flushed\r\n")
    }))
})

describe("Cancellation over real sockets", () => {
  it.live("a client that resets mid-wait interrupts its data hook; the close hook runs once; others are served", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const waiting = yield* Deferred.make<void>()
      const server = yield* Harness.nodeServer({}, Harness.recordingHooks(log, {
        onData: (message) =>
          Effect.zipRight(
            Harness.record(log, message),
            message.envelope.mailFrom?.address === "stuck@x.test"
              ? Deferred.succeed(waiting, undefined).pipe(Effect.zipRight(waitsElsewhere(log, "data")))
              : Effect.void
          )
      }))
      const port = server.address.port
      const stuck = yield* RawClient.connect(port)
      yield* stuck.reply
      yield* stuck.write("EHLO c\r\nMAIL FROM:<stuck@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
      for (let i = 0; i < 4; i++) yield* stuck.reply
      yield* stuck.write("hello\r\n.\r\n")
      yield* Deferred.await(waiting)
      stuck.socket.resetAndDestroy()
      yield* log.when("close")
      assert.deepStrictEqual(log.events, ["data:complete", "data:waiting", "data:interrupted", "close"])

      const other = yield* RawClient.connect(port)
      yield* other.reply
      yield* other.write("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
      for (let i = 0; i < 4; i++) yield* other.reply
      assert.strictEqual(yield* other.command("ok\r\n."), "250 2.6.0 OK: message queued\r\n")
      assert.strictEqual(log.count("close"), 1)
      assert.strictEqual(log.deliveries[1]!.body.toString(), "ok\r\n")
    }).pipe(Effect.scoped))

  it.live("a client that pipelines a message and half-closes gets no 250, and the hook deciding it is interrupted", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.nodeServer({}, Harness.recordingHooks(log, {
        onData: (message) => Effect.zipRight(Harness.record(log, message), waitsElsewhere(log, "data"))
      }))
      const client = yield* RawClient.connect(server.address.port)
      yield* client.reply
      client.socket.end(`EHLO c\r\n${transaction}hello\r\n.\r\nQUIT\r\n`)
      yield* log.when("close")
      yield* client.closed
      assert.deepStrictEqual(log.events, ["data:complete", "data:waiting", "data:interrupted", "close"])
    }).pipe(Effect.scoped))
})

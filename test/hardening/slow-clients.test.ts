import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as childProcess from "node:child_process"
import * as net from "node:net"
import * as RawClient from "../support/RawClient.js"
import * as Harness from "./Harness.js"

// Runs clients/send-body.mjs against `port` and returns the replies it got.
const sendBody = (port: number, mib: number) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      childProcess.spawn(process.execPath, [new URL("clients/send-body.mjs", import.meta.url).pathname, String(port), String(mib)], {
        stdio: ["ignore", "pipe", "inherit"]
      })
    ),
    (child) => Effect.sync(() => child.exitCode === null && child.kill())
  ).pipe(
    Effect.flatMap((child) =>
      Effect.async<Array<string>, Error>((resume) => {
        let out = ""
        child.stdout.on("data", (chunk) => (out += chunk))
        child.on("exit", (code) =>
          resume(code === 0 ? Effect.succeed(JSON.parse(out) as Array<string>) : Effect.fail(new Error(`client exited ${code}`))))
      })
    ),
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("the client did not finish") })
  )

// Writes `chunk` until the socket refuses more (its buffers and the peer's are full), at most `max` times.
const writeUntilFull = (socket: net.Socket, chunk: Buffer, max: number) =>
  Effect.async<number>((resume) => {
    let writes = 0
    const pump = () => {
      while (writes < max) {
        writes++
        if (!socket.write(chunk)) {
          // Refused once: wait for a drain that never comes, or give up after a second of no progress.
          const timer = setTimeout(() => resume(Effect.succeed(writes)), 1000)
          socket.once("drain", () => {
            clearTimeout(timer)
            pump()
          })
          return
        }
      }
      resume(Effect.succeed(writes))
    }
    pump()
  })

describe("Slow and idle clients", () => {
  it.live("drops a client that never reads its replies once socketTimeout passes with its writes stalled", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.nodeServer({ socketTimeout: 500 }, Harness.recordingHooks(log))
      const socket = yield* Effect.acquireRelease(
        Effect.sync(() => net.connect(server.address.port, "127.0.0.1")),
        (s) => Effect.sync(() => s.destroy())
      )
      socket.on("error", () => {})
      // It never reads: replies pile up in the kernel until the server's writes stall.
      socket.pause()
      const writes = yield* writeUntilFull(socket, Buffer.from("NOOP\r\n".repeat(10_000)), 2_000)
      assert.isBelow(writes, 2_000)
      yield* log.when("close").pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("never dropped") }))
      assert.strictEqual(log.count("close"), 1)
      // The server serves on.
      const other = yield* RawClient.connect(server.address.port)
      assert.strictEqual(yield* other.reply, "220 mx.test ESMTP\r\n")
      assert.strictEqual(yield* other.command("NOOP"), "250 2.0.0 OK\r\n")
    }).pipe(Effect.scoped))

  it.live("2,000 idle connections do not keep a new client from sending, and socketTimeout closes every one with 421", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const socketTimeout = 2000
      const server = yield* Harness.nodeServer({ socketTimeout, backlog: 2048 }, Harness.recordingHooks(log))
      const port = server.address.port
      const count = 2000
      interface Idle {
        readonly socket: net.Socket
        // When it last wrote (connect, then each NOOP): the server heard nothing from it after.
        lastSent: number
        ending: string
        endedAt: number
        keepAlive: ReturnType<typeof setInterval> | undefined
      }
      const clients: Array<Idle> = []
      let closed = 0
      yield* Effect.addFinalizer(() =>
        Effect.sync(() =>
          clients.forEach((c) => {
            clearInterval(c.keepAlive)
            c.socket.destroy()
          })
        )
      )
      // Connects one client, resolved at its greeting. Until released it sends a NOOP every
      // 500 ms, so however long opening 2,000 takes on a busy machine none times out early.
      const open = () =>
        Effect.async<void>((resume) => {
          const socket = net.connect(port, "127.0.0.1")
          const idle: Idle = { socket, lastSent: Date.now(), ending: "", endedAt: 0, keepAlive: undefined }
          clients.push(idle)
          let text = ""
          socket.on("error", () => {})
          socket.on("data", (chunk) => {
            text += chunk.toString("latin1")
            for (let eol = text.indexOf("\r\n"); eol >= 0; eol = text.indexOf("\r\n")) {
              const line = text.slice(0, eol + 2)
              text = text.slice(eol + 2)
              if (line === "220 mx.test ESMTP\r\n") {
                idle.keepAlive = setInterval(() => {
                  idle.lastSent = Date.now()
                  socket.write("NOOP\r\n")
                }, 500)
                resume(Effect.void)
              }
              if (line !== "250 2.0.0 OK\r\n" && !line.startsWith("220 ")) idle.ending = line
            }
          })
          socket.on("close", () => {
            idle.endedAt = Date.now()
            closed++
          })
        })
      // In waves of 100, so the listen backlog never overflows.
      yield* Effect.forEach(Array.from({ length: count }), open, { concurrency: 100, discard: true })
      assert.strictEqual(server.stats.active, count)
      // From now on they are idle.
      for (const c of clients) clearInterval(c.keepAlive)

      // A new client is served at once, its message accepted, while all of them sit idle.
      const client = yield* RawClient.connect(port)
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      yield* client.write("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
      for (let i = 0; i < 4; i++) yield* client.reply
      assert.strictEqual(yield* client.command("hello\r\n."), "250 2.6.0 OK: message queued\r\n")
      assert.strictEqual(server.stats.active, count + 1)
      assert.strictEqual(log.deliveries[0]!.body.toString(), "hello\r\n")
      yield* client.write("QUIT\r\n")
      yield* client.closed

      // Every idle one is told 421 and closed, no sooner than socketTimeout after it last spoke.
      yield* Effect.async<void>((resume) => {
        const check = setInterval(() => {
          if (closed === count) {
            clearInterval(check)
            resume(Effect.void)
          }
        }, 50)
        return Effect.sync(() => clearInterval(check))
      }).pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`${closed} of ${count} closed`) }))
      for (const c of clients) {
        assert.strictEqual(c.ending, "421 4.4.2 Timeout - closing connection\r\n")
        // Timers may fire a little early; a client closed well before its time would be a bug.
        assert.isAtLeast(c.endedAt - c.lastSent, socketTimeout - 50)
      }
      yield* log.when("close")
      assert.strictEqual(server.stats.active, 0)
      assert.strictEqual(log.count("close"), count + 1)
    }).pipe(Effect.scoped), 40_000)

  it.live("a data hook that consumes slowly pauses the socket: a 200 MiB body passes in bounded memory", () =>
    Effect.gen(function*() {
      const total = 200 * 1024 * 1024
      let received = 0
      // Live memory every 16 MiB received; the first sample, taken once the stream path is warm
      // (its code compiled, its caches filled), is the baseline.
      const samples: Array<number> = []
      const every = 16 * 1024 * 1024
      const server = yield* Harness.nodeServer({}, {
        onData: (message) =>
          Stream.runForEach(message.body, (piece) =>
            Effect.suspend(() => {
              received += piece.length
              if (Math.floor(received / every) !== Math.floor((received - piece.length) / every)) {
                samples.push(Harness.liveBytes())
              }
              // About 64 KiB (one socket chunk) every millisecond or two: far slower than loopback.
              return Effect.sleep("1 millis")
            }))
      })
      assert.isFunction((globalThis as { gc?: unknown }).gc, "run under --expose-gc")
      // The client runs in a process of its own: only the server's memory is sampled here.
      const replies = yield* sendBody(server.address.port, total / (1024 * 1024))
      assert.deepStrictEqual(replies.slice(-2), ["250 2.6.0 OK: message queued\r\n", "221 2.0.0 Bye\r\n"])
      assert.strictEqual(received, total)
      assert.strictEqual(samples.length, 12)
      // The server held a few chunks at a time, never the message: 184 MiB more passed while
      // live memory grew by less than 8 MiB.
      assert.isBelow(Math.max(...samples) - samples[0]!, 8 * 1024 * 1024)
    }).pipe(Effect.scoped), 40_000)
})

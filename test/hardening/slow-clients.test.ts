import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import * as RawClient from "../support/RawClient.js"
import * as Harness from "./Harness.js"

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
})

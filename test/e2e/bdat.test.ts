import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Queue, Stream } from "effect"
import * as net from "node:net"
import { pipeline } from "node:stream/promises"
import { Readable } from "node:stream"
import * as Hooks from "../../src/core/Hooks.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"

interface Received {
  readonly body: Buffer
  readonly error: string | undefined
}

// A server on a free port whose data hook hands every body (and how its stream ended) to the test.
const start = (options: Partial<NodeSmtpServer.Options> = {}, hooks: Hooks.Implementations = {}) =>
  Effect.gen(function*() {
    const inbox = yield* Queue.unbounded<Received>()
    const layer = Hooks.layer({
      onData: (message) =>
        Effect.gen(function*() {
          const pieces: Array<Uint8Array> = []
          const error = yield* Stream.runForEach(message.body, (piece) => Effect.sync(() => pieces.push(piece))).pipe(
            Effect.as(undefined),
            Effect.catchTag("MessageError", (e) => Effect.succeed(e.reason))
          )
          yield* Queue.offer(inbox, { body: Buffer.concat(pieces), error })
        }),
      ...hooks
    })
    const context = yield* Layer.build(
      NodeSmtpServer.layer({ port: 0, host: "127.0.0.1", name: "mx.test", ...options }).pipe(Layer.provide(layer))
    )
    return { port: Context.get(context, NodeSmtpServer.SmtpServer).address.port, inbox }
  })

// Complete replies in `text` (a final line has a space, or nothing, after the code).
const countReplies = (text: string): number => text.split("\r\n").filter((line) => /^\d{3}( |$)/.test(line)).length

// A raw client: sends each input once the server has written the replies counted before it
// (the greeting included), and returns everything the server wrote once `replies` are in.
const talk = (port: number, steps: ReadonlyArray<readonly [after: number, input: string | Buffer]>, replies: number) =>
  Effect.async<string, Error>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    const received: Array<Buffer> = []
    let next = 0
    const progress = () => {
      const text = Buffer.concat(received).toString("latin1")
      const count = countReplies(text)
      while (next < steps.length && steps[next]![0] <= count) socket.write(steps[next++]![1])
      if (count >= replies) {
        socket.destroy()
        resume(Effect.succeed(text))
      }
    }
    socket.on("error", (error) => resume(Effect.fail(error)))
    socket.on("data", (chunk) => {
      received.push(chunk)
      progress()
    })
    return Effect.sync(() => socket.destroy())
  })

// Live memory after a full collection (vitest runs with --expose-gc, see vitest.config.ts).
const live = () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

const greeting = "220 mx.test ESMTP\r\n"
const ehlo = "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
  "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-STARTTLS\r\n"
// The EHLO reply when nothing follows STARTTLS.
const ehloLast = ehlo.replace("250-STARTTLS", "250 STARTTLS")
const accepted = "250 2.1.0 Accepted\r\n250 2.1.5 Accepted\r\n"
const envelope = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"

describe("BDAT over a real socket", () => {
  it.live("receives a single LAST chunk", () =>
    Effect.gen(function*() {
      const { inbox, port } = yield* start()
      const transcript = yield* talk(port, [[1, `${envelope}BDAT 20 LAST\r\nSubject: x\r\n\r\n..hi\r\nQUIT\r\n`]], 6)
      assert.strictEqual(
        transcript,
        `${greeting}${ehlo}250 LIMITS RCPTMAX=1000\r\n${accepted}250 2.6.0 OK: message queued\r\n221 2.0.0 Bye\r\n`
      )
      assert.deepStrictEqual(yield* Queue.take(inbox), { body: Buffer.from("Subject: x\r\n\r\n..hi\r\n"), error: undefined })
    }).pipe(Effect.scoped))

  it.live("receives many pipelined chunks, binary octets included, in one write", () =>
    Effect.gen(function*() {
      const { inbox, port } = yield* start({ size: 1_000_000, maxMessages: 5 })
      const octets = Buffer.from(Array.from({ length: 768 }, (_, i) => [0, 13, 10, 46, 255, i & 0xff][i % 6]!))
      const input = Buffer.concat([
        Buffer.from("EHLO c\r\nMAIL FROM:<a@x.test> BODY=BINARYMIME\r\nRCPT TO:<b@y.test>\r\n"),
        Buffer.from("BDAT 256\r\n"),
        octets.subarray(0, 256),
        Buffer.from("BDAT 0\r\nBDAT 256\r\n"),
        octets.subarray(256, 512),
        Buffer.from("BDAT 256 LAST\r\n"),
        octets.subarray(512),
        Buffer.from("QUIT\r\n")
      ])
      const transcript = yield* talk(port, [[1, input]], 9)
      assert.strictEqual(
        transcript,
        `${greeting}${ehlo}250-SIZE 1000000\r\n250 LIMITS RCPTMAX=1000 MAILMAX=5\r\n${accepted}` +
          "250 2.0.0 OK: 256 octets received\r\n250 2.0.0 OK: 0 octets received\r\n" +
          "250 2.0.0 OK: 256 octets received\r\n250 2.6.0 OK: message queued\r\n221 2.0.0 Bye\r\n"
      )
      assert.deepStrictEqual(yield* Queue.take(inbox), { body: octets, error: undefined })
    }).pipe(Effect.scoped))

  it.live("receives chunks sent one at a time, and BDAT 0 LAST ends a message", () =>
    Effect.gen(function*() {
      const { inbox, port } = yield* start({ hideLIMITS: true })
      const transcript = yield* talk(port, [[1, envelope], [4, "BDAT 3\r\nabc"], [5, "BDAT 3\r\ndef"], [6, "BDAT 0 LAST\r\n"]], 7)
      assert.strictEqual(
        transcript,
        `${greeting}${ehloLast}${accepted}` +
          "250 2.0.0 OK: 3 octets received\r\n250 2.0.0 OK: 3 octets received\r\n250 2.6.0 OK: message queued\r\n"
      )
      assert.deepStrictEqual(yield* Queue.take(inbox), { body: Buffer.from("abcdef"), error: undefined })
    }).pipe(Effect.scoped))

  it.live("refuses a chunk past the size limit, discards the rest, and stays in sync", () =>
    Effect.gen(function*() {
      const { inbox, port } = yield* start({ size: 100, hideLIMITS: true })
      const big = "x".repeat(200_000)
      const transcript = yield* talk(port, [[1, `${envelope}BDAT 60\r\n${"a".repeat(60)}BDAT 200000 LAST\r\n${big}NOOP\r\n`]], 7)
      assert.strictEqual(
        transcript,
        `${greeting}${ehlo}250 SIZE 100\r\n${accepted}250 2.0.0 OK: 60 octets received\r\n` +
          "552 5.3.4 Error: message exceeds fixed maximum message size 100\r\n250 2.0.0 OK\r\n"
      )
      assert.deepStrictEqual(yield* Queue.take(inbox), { body: Buffer.from("a".repeat(60)), error: "SizeExceeded" })
    }).pipe(Effect.scoped))

  it.live("answers a bad chunk size with 501 5.5.4", () =>
    Effect.gen(function*() {
      const { port } = yield* start({ hideLIMITS: true })
      const transcript = yield* talk(port, [[1, `${envelope}BDAT 12x LAST\r\nNOOP\r\n`]], 6)
      assert.strictEqual(
        transcript,
        `${greeting}${ehloLast}${accepted}501 5.5.4 Error: syntax: BDAT chunk-size [LAST]\r\n250 2.0.0 OK\r\n`
      )
    }).pipe(Effect.scoped))

  it.live("reads and drops the chunk of a BDAT after a refused RCPT", () =>
    Effect.gen(function*() {
      const { inbox, port } = yield* start({ hideLIMITS: true }, {
        onRcptTo: (rcpt) => SmtpError.noSuchUser(rcpt.address)
      })
      // The chunk's content looks like commands: none of it may run.
      const transcript = yield* talk(port, [[1, `${envelope}BDAT 12 LAST\r\nQUIT\r\nRSET\r\nNOOP\r\n`]], 6)
      assert.strictEqual(
        transcript,
        `${greeting}${ehloLast}250 2.1.0 Accepted\r\n550 5.1.1 <b@y.test>: no such user\r\n` +
          "503 5.5.1 Error: need RCPT command\r\n250 2.0.0 OK\r\n"
      )
      assert.strictEqual(yield* Queue.size(inbox), 0)
    }).pipe(Effect.scoped))

  it.live("streams 64 MiB of pipelined 1 MiB chunks to the hook without holding the message", () =>
    Effect.gen(function*() {
      let peak = 0
      let total = 0
      const { port } = yield* start({ hideLIMITS: true }, {
        onData: (message) =>
          Stream.runForEach(message.body, (piece) =>
            Effect.sync(() => {
              total += piece.length
              // Every 4 MiB, collect garbage and sample what is really alive.
              if (Math.floor(total / 4194304) !== Math.floor((total - piece.length) / 4194304)) peak = Math.max(peak, live())
            })
          )
      })
      const before = live()
      const chunk = Buffer.alloc(1024 * 1024, "x")
      const socket = net.connect(port, "127.0.0.1")
      const replies = yield* Effect.async<string, Error>((resume) => {
        const received: Array<Buffer> = []
        socket.on("error", (error) => resume(Effect.fail(error)))
        socket.on("data", (data) => {
          received.push(data)
          const text = Buffer.concat(received).toString("latin1")
          if (text.endsWith("221 2.0.0 Bye\r\n")) resume(Effect.succeed(text))
        })
        // A generated stream, written with backpressure, keeps the client from holding the body.
        void pipeline(
          Readable.from((function*() {
            yield Buffer.from(envelope)
            for (let i = 0; i < 64; i++) {
              yield Buffer.from(i === 63 ? `BDAT ${chunk.length} LAST\r\n` : `BDAT ${chunk.length}\r\n`)
              yield chunk
            }
            yield Buffer.from("QUIT\r\n")
          })()),
          socket
        ).catch(() => {})
        return Effect.sync(() => socket.destroy())
      })
      assert.strictEqual(
        replies,
        `${greeting}${ehloLast}${accepted}${"250 2.0.0 OK: 1048576 octets received\r\n".repeat(63)}` +
          "250 2.6.0 OK: message queued\r\n221 2.0.0 Bye\r\n"
      )
      assert.isFunction((globalThis as { gc?: unknown }).gc, "run under --expose-gc")
      assert.strictEqual(total, 64 * 1024 * 1024)
      assert.isBelow(peak - before, 16 * 1024 * 1024)
    }).pipe(Effect.scoped))
})

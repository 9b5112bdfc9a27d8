import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Queue, Stream } from "effect"
import { Readable } from "node:stream"
import * as net from "node:net"
import nodemailer from "nodemailer"
import * as Hooks from "../../src/core/Hooks.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"

interface Received {
  readonly from: string
  readonly to: ReadonlyArray<string>
  readonly body: Buffer
}

// Live memory after a full collection (vitest runs with --expose-gc, see vitest.config.ts).
const live = () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

// Builds a server layer in the test's scope, so it lives until the test ends.
const serve = <E>(layer: Layer.Layer<NodeSmtpServer.SmtpServer, E>) =>
  Effect.map(Layer.build(layer), Context.get(NodeSmtpServer.SmtpServer))

// A server on a free port whose data hook hands every message to the test.
const start = (options: Partial<NodeSmtpServer.Options> = {}) =>
  Effect.gen(function*() {
    const inbox = yield* Queue.unbounded<Received>()
    const hooks = Hooks.layer({
      onData: (message) =>
        Stream.runFold(message.body, [] as Array<Uint8Array>, (acc, chunk) => {
          acc.push(chunk)
          return acc
        }).pipe(
          Effect.flatMap((chunks) =>
            Queue.offer(inbox, {
              from: message.envelope.mailFrom!.address,
              to: message.envelope.rcptTo.map((r) => r.address),
              body: Buffer.concat(chunks)
            })
          ),
          Effect.asVoid
        )
    })
    const server = yield* serve(
      NodeSmtpServer.layer({ port: 0, host: "127.0.0.1", name: "mx.test", ...options }).pipe(Layer.provide(hooks))
    )
    return { port: server.address.port, inbox }
  })

const transport = (port: number) =>
  nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, pool: false })

describe("nodemailer against the Node binding", () => {
  it.live("delivers several messages on one connection with exact bodies", () =>
    Effect.gen(function*() {
      const { inbox, port } = yield* start()
      const mailer = nodemailer.createTransport({ host: "127.0.0.1", port, ignoreTLS: true, pool: true, maxConnections: 1 })
      // Raw messages, so the bytes on the wire are ours: lines that start with dots, 8-bit text.
      const raws = [
        "Subject: one\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n",
        "Subject: two\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\u00e9 \u00fcber \u{1F600}\r\n",
        "Subject: three\r\n\r\nthird\r\n"
      ]
      yield* Effect.forEach(raws, (raw, i) =>
        Effect.promise(() =>
          mailer.sendMail({ envelope: { from: "sender@x.test", to: [`r${i}@y.test`, "other@y.test"] }, raw })
        ))
      mailer.close()
      for (let i = 0; i < raws.length; i++) {
        const message = yield* Queue.take(inbox)
        assert.strictEqual(message.from, "sender@x.test")
        assert.deepStrictEqual(message.to, [`r${i}@y.test`, "other@y.test"])
        assert.strictEqual(message.body.toString("utf8"), raws[i])
      }
    }).pipe(Effect.scoped))

  it.live("streams a 50 MiB body without holding it in memory", () =>
    Effect.gen(function*() {
      let peak = 0
      let total = 0
      const hooks = Hooks.layer({
        onData: (message) =>
          Stream.runForEach(message.body, (chunk) =>
            Effect.sync(() => {
              total += chunk.length
              // Every 4 MiB, collect garbage and sample what is really alive.
              if (Math.floor(total / 4194304) !== Math.floor((total - chunk.length) / 4194304)) {
                peak = Math.max(peak, live())
              }
            })
          )
      })
      const server = yield* serve(NodeSmtpServer.layer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provide(hooks)))
      const before = live()
      const line = `${"x".repeat(998)}\r\n`
      const lines = 50 * 1024 * 1024 / line.length
      const mailer = transport(server.address.port)
      yield* Effect.promise(() =>
        mailer.sendMail({
          envelope: { from: "a@x.test", to: ["b@y.test"] },
          // A generated stream keeps the client from holding the body either.
          raw: Readable.from((function*() {
            yield Buffer.from("Subject: big\r\n\r\n")
            const block = Buffer.from(line.repeat(64))
            for (let i = 0; i < lines / 64; i++) yield block
          })())
        })
      )
      assert.isFunction((globalThis as { gc?: unknown }).gc, "run under --expose-gc")
      assert.isAtLeast(total, 50 * 1024 * 1024)
      // The server holds chunks, not the message: far less than the 50 MiB body.
      assert.isBelow(peak - before, 16 * 1024 * 1024)
    }).pipe(Effect.scoped))

  it.live("answers raw socket commands with exact bytes", () =>
    Effect.gen(function*() {
      const { port } = yield* start()
      const socket = net.connect(port, "127.0.0.1")
      const received: Array<Buffer> = []
      const waitFor = (text: string) =>
        Effect.async<void>((resume) => {
          const check = () => {
            if (Buffer.concat(received).toString().includes(text)) {
              socket.off("data", onData)
              resume(Effect.void)
            }
          }
          const onData = (chunk: Buffer) => {
            received.push(chunk)
            check()
          }
          socket.on("data", onData)
          check()
        })
      yield* waitFor("220 mx.test ESMTP\r\n")
      socket.write("EHLO me\r\nNOOP\r\nQUIT\r\n")
      yield* waitFor("221 2.0.0 Bye\r\n")
      assert.strictEqual(
        Buffer.concat(received).toString(),
        "220 mx.test ESMTP\r\n250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n" +
          "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-CHUNKING\r\n250-BINARYMIME\r\n" +
          "250-STARTTLS\r\n250 LIMITS RCPTMAX=1000\r\n250 2.0.0 OK\r\n221 2.0.0 Bye\r\n"
      )
      socket.destroy()
    }).pipe(Effect.scoped))
})

import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Queue } from "effect"
import * as net from "node:net"
import * as Hooks from "../../src/core/Hooks.js"
import type * as Session from "../../src/core/Session.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"

// A server on a free port whose onConnect hands every session to the test.
const start = (options: Partial<NodeSmtpServer.Options>) =>
  Effect.gen(function*() {
    const sessions = yield* Queue.unbounded<Session.SessionState>()
    const layer = NodeSmtpServer.layer({ port: 0, host: "127.0.0.1", name: "mx.test", closeTimeout: 0, ...options }).pipe(
      Layer.provide(Hooks.layer({ onConnect: (session) => Queue.offer(sessions, session) }))
    )
    const server = Context.get(yield* Layer.build(layer), NodeSmtpServer.SmtpServer)
    return { port: server.address.port, nextSession: Queue.take(sessions) }
  })

// A raw TCP client: writes bytes, waits for text, and knows when the server closed.
const connect = (port: number) =>
  Effect.acquireRelease(
    Effect.async<net.Socket>((resume) => {
      const socket = net.connect(port, "127.0.0.1", () => resume(Effect.succeed(socket)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(Effect.map((socket) => {
    const chunks: Array<Buffer> = []
    let ended = false
    const listeners = new Set<() => void>()
    const notify = () => listeners.forEach((f) => f())
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      notify()
    })
    socket.on("close", () => {
      ended = true
      notify()
    })
    const until = (done: () => boolean) =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (done()) {
            listeners.delete(check)
            resume(Effect.void)
          }
        }
        listeners.add(check)
        check()
        return Effect.sync(() => listeners.delete(check))
      })
    const received = () => Buffer.concat(chunks).toString("latin1")
    return {
      write: (data: string | Uint8Array) => Effect.sync(() => socket.write(data)),
      waitFor: (text: string) => until(() => received().includes(text)),
      closed: until(() => ended),
      received
    }
  }))

const signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]

describe("PROXY protocol over real sockets", () => {
  it.live("takes the client from a v1 header written before the first command", () =>
    Effect.gen(function*() {
      const { nextSession, port } = yield* start({ useProxy: ["127.0.0.1"] })
      const client = yield* connect(port)
      yield* client.write("PROXY TCP4 203.0.113.9 198.51.100.25 61000 25\r\nEHLO client.test\r\n")
      yield* client.waitFor("250 LIMITS RCPTMAX=1000\r\n")
      assert.strictEqual(
        client.received(),
        "220 mx.test ESMTP\r\n250-mx.test Nice to meet you, [203.0.113.9]\r\n250-PIPELINING\r\n250-8BITMIME\r\n" +
          "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-CHUNKING\r\n250-BINARYMIME\r\n" +
          "250-STARTTLS\r\n250 LIMITS RCPTMAX=1000\r\n"
      )
      const session = yield* nextSession
      assert.deepStrictEqual(
        [session.remoteAddress, session.remotePort, session.localAddress, session.localPort],
        ["203.0.113.9", 61000, "198.51.100.25", 25]
      )
    }).pipe(Effect.scoped))

  it.live("takes the client from a v2 header over IPv6 with a TLV, written byte by byte", () =>
    Effect.gen(function*() {
      const { nextSession, port } = yield* start({ useProxy: true })
      const client = yield* connect(port)
      const header = new Uint8Array([
        ...signature,
        0x21,
        0x21,
        0,
        36 + 7,
        ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09],
        ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25],
        0xee,
        0x48,
        0x00,
        0x19,
        ...[0x01, 0, 4, 0x73, 0x6d, 0x74, 0x70]
      ])
      for (const byte of header) yield* client.write(new Uint8Array([byte]))
      yield* client.waitFor("220 mx.test ESMTP\r\n")
      const session = yield* nextSession
      assert.deepStrictEqual(
        [session.remoteAddress, session.remotePort, session.localAddress, session.localPort, session.clientHostname],
        ["2001:db8::9", 61000, "2001:db8::25", 25, "[2001:db8::9]"]
      )
      yield* client.write("QUIT\r\n")
      yield* client.closed
      assert.strictEqual(client.received(), "220 mx.test ESMTP\r\n221 2.0.0 Bye\r\n")
    }).pipe(Effect.scoped))

  it.live("closes a trusted connection with a malformed header without a greeting", () =>
    Effect.gen(function*() {
      const { port } = yield* start({ useProxy: ["127.0.0.1"] })
      const client = yield* connect(port)
      yield* client.write("PROXY TCP4 not-an-address 198.51.100.25 61000 25\r\n")
      yield* client.closed
      assert.strictEqual(client.received(), "")
    }).pipe(Effect.scoped))

  it.live("serves an untrusted peer directly and never takes its PROXY line", () =>
    Effect.gen(function*() {
      const { nextSession, port } = yield* start({ useProxy: ["192.0.2.99"] })
      const client = yield* connect(port)
      yield* client.waitFor("220 mx.test ESMTP\r\n")
      yield* client.write("PROXY TCP4 203.0.113.9 198.51.100.25 61000 25\r\nHELO c\r\n")
      yield* client.waitFor("250 mx.test Nice to meet you, [127.0.0.1]\r\n")
      assert.strictEqual(
        client.received(),
        "220 mx.test ESMTP\r\n500 5.5.1 Error: command not recognized\r\n250 mx.test Nice to meet you, [127.0.0.1]\r\n"
      )
      assert.strictEqual((yield* nextSession).remoteAddress, "127.0.0.1")
    }).pipe(Effect.scoped))
})

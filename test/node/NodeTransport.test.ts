import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Queue } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"
import type * as Transport from "../../src/core/Transport.js"
import * as NodeTls from "../../src/node/NodeTls.js"
import * as NodeTransport from "../../src/node/NodeTransport.js"
import * as RawClient from "../support/RawClient.js"

const ca = RawClient.fixture("test-only-ca.crt")
const mxA = { key: RawClient.fixture("test-only-mx-a.key"), cert: RawClient.fixture("test-only-mx-a.crt") }
const decoder = new TextDecoder()

// A listener whose accepted sockets the test drives directly, as the server's transport.
const accepting = Effect.acquireRelease(
  Effect.async<{ server: net.Server; sockets: Queue.Queue<net.Socket> }>((resume) => {
    const sockets = Effect.runSync(Queue.unbounded<net.Socket>())
    const server = net.createServer((socket) => Effect.runSync(Queue.offer(sockets, socket)))
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
  }),
  ({ server }) => Effect.sync(() => server.close())
)

// Resolves once `socket` has received another chunk (seen beside the transport's own listener).
const nextChunk = (socket: net.Socket) =>
  Effect.async<void>((resume) => {
    socket.once("data", () => resume(Effect.void))
  })

// Resolves once bytes wait in a paused socket's buffer.
const buffered = (socket: net.Socket) =>
  Effect.async<void>((resume) => {
    socket.once("readable", () => resume(Effect.void))
  })

const read = (transport: Transport.Transport) =>
  Effect.map(transport.read(0), (chunk) => (typeof chunk === "string" ? chunk : decoder.decode(chunk)))

describe("NodeTransport.startTls", () => {
  it.live("drops input from before the 220 and keeps the handshake that arrived after it", () =>
    Effect.gen(function*() {
      const { server, sockets } = yield* accepting
      const contexts = yield* NodeTls.Contexts.make(mxA)
      const port = (server.address() as net.AddressInfo).port
      const client = yield* RawClient.connect(port)
      const accepted = yield* Queue.take(sockets)
      const transport = NodeTransport.fromSocket(accepted, { contexts })

      yield* client.write("STARTTLS\r\n")
      assert.strictEqual(yield* read(transport), "STARTTLS\r\n")
      // Plaintext the client pipelines after STARTTLS, in a write of its own, before the 220.
      const injected = nextChunk(accepted)
      yield* client.write("RSET\r\n")
      yield* injected
      yield* transport.write("220 2.0.0 Ready to start TLS\r\n")
      assert.strictEqual(yield* client.reply, "220 2.0.0 Ready to start TLS\r\n")
      // The client starts its handshake; its hello waits unread (the socket is paused) when startTls runs.
      const hello = buffered(accepted)
      const secureClient = yield* Effect.fork(client.startTls({ ca, servername: "mx-a.test" }))
      yield* hello
      assert.isTrue(transport.hasPendingInput())

      const info = yield* transport.startTls!()
      assert.strictEqual(info.servername, "mx-a.test")
      assert.strictEqual(transport.tls, info)
      assert.instanceOf(transport.raw, tls.TLSSocket)
      const secure = yield* secureClient.await.pipe(Effect.flatten)
      yield* secure.write("EHLO c\r\n")
      // The first bytes read under TLS are the client's, not the RSET from before.
      assert.strictEqual(yield* read(transport), "EHLO c\r\n")
      yield* transport.write("250 ok\r\n")
      assert.strictEqual(yield* secure.reply, "250 ok\r\n")
    }).pipe(Effect.scoped))

  it.live("fails, without throwing, when the peer is not speaking TLS, and then reads end of input", () =>
    Effect.gen(function*() {
      const { server, sockets } = yield* accepting
      const contexts = yield* NodeTls.Contexts.make(mxA)
      const client = yield* RawClient.connect((server.address() as net.AddressInfo).port)
      const transport = NodeTransport.fromSocket(yield* Queue.take(sockets), { contexts })
      const handshake = yield* Effect.fork(Effect.flip(transport.startTls!()))
      yield* client.write("EHLO plaintext\r\n")
      const error = yield* handshake.await.pipe(Effect.flatten)
      assert.strictEqual(error._tag, "TlsError")
      assert.match(error.message, /wrong version number/)
      assert.strictEqual(yield* transport.read(0), "eof")
      yield* client.closed
    }).pipe(Effect.scoped))

  it.live("refuses to start TLS twice and is absent without contexts", () =>
    Effect.gen(function*() {
      const { server, sockets } = yield* accepting
      const contexts = yield* NodeTls.Contexts.make(mxA)
      const port = (server.address() as net.AddressInfo).port
      const client = yield* RawClient.connect(port)
      const transport = NodeTransport.fromSocket(yield* Queue.take(sockets), { contexts })
      const connected = yield* Effect.fork(client.startTls({ ca, servername: "mx-a.test" }))
      yield* transport.startTls!()
      yield* connected.await.pipe(Effect.flatten)
      assert.strictEqual((yield* Effect.flip(transport.startTls!())).message, "TLS is already active")

      yield* RawClient.connect(port)
      assert.isUndefined(NodeTransport.fromSocket(yield* Queue.take(sockets)).startTls)
    }).pipe(Effect.scoped))
})

describe("NodeTransport.onClosed", () => {
  // Resolves with what the transport told its close listener.
  const told = (transport: Transport.Transport) =>
    Effect.async<boolean>((resume) => transport.onClosed((toldReader) => resume(Effect.succeed(toldReader))))

  it.live("tells a listener once the peer has gone while nobody reads, and a late listener at once", () =>
    Effect.gen(function*() {
      const { server, sockets } = yield* accepting
      const client = yield* RawClient.connect((server.address() as net.AddressInfo).port)
      const transport = NodeTransport.fromSocket(yield* Queue.take(sockets))
      const listener = yield* Effect.fork(told(transport))
      client.socket.end()
      assert.isFalse(yield* Fiber.join(listener))
      assert.isFalse(yield* told(transport))
      assert.strictEqual(yield* transport.read(0), "eof")
    }).pipe(Effect.scoped))

  it.live("says the end went to the read that was waiting", () =>
    Effect.gen(function*() {
      const { server, sockets } = yield* accepting
      const client = yield* RawClient.connect((server.address() as net.AddressInfo).port)
      const transport = NodeTransport.fromSocket(yield* Queue.take(sockets))
      const listener = yield* Effect.fork(told(transport))
      const reading = yield* Effect.fork(transport.read(0))
      yield* Effect.yieldNow()
      client.socket.resetAndDestroy()
      assert.strictEqual(yield* Fiber.join(reading), "eof")
      assert.isTrue(yield* Fiber.join(listener))
    }).pipe(Effect.scoped))
})

import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, TestClock } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import type * as Session from "../../src/core/Session.js"
import * as TestClient from "../../src/testing/TestClient.js"

// The proxy's own connection, as the listener sees it.
const proxy = { remoteAddress: "10.0.0.5", remotePort: 40000, localAddress: "10.0.0.1", localPort: 25 }

const signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]
const v2Inet6 = new Uint8Array([
  ...signature,
  0x21,
  0x21,
  0,
  36 + 7,
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01],
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02],
  0x9c,
  0x40,
  0x02,
  0x4b,
  // PP2_TYPE_ALPN "smtp": skipped.
  0x01,
  0,
  4,
  0x73,
  0x6d,
  0x74,
  0x70
])
const v2Local = new Uint8Array([...signature, 0x20, 0x00, 0, 0])

// A server with the given options whose onConnect hands the session to the test.
const serverWith = (config: Input) =>
  Effect.gen(function*() {
    const connected = yield* Deferred.make<Session.SessionState>()
    const server = yield* TestClient.server.pipe(Effect.provide(Layer.merge(
      ServerConfig.layer({ name: "mx.test", closeTimeout: 0, ...config }),
      Hooks.layer({ onConnect: (session) => Deferred.succeed(connected, session) })
    )))
    return { server, connected: Deferred.await(connected), wasConnected: Deferred.isDone(connected) }
  })

const addresses = (s: Session.SessionState) => ({
  remoteAddress: s.remoteAddress,
  remotePort: s.remotePort,
  localAddress: s.localAddress,
  localPort: s.localPort,
  clientHostname: s.clientHostname
})

describe("Opening: PROXY header", () => {
  it.scoped("takes the client's addresses from a v1 header before the greeting", () =>
    Effect.gen(function*() {
      const { connected, server } = yield* serverWith({ useProxy: ["10.0.0.5"] })
      const client = yield* server.connect(proxy)
      yield* client.send("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n")
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      assert.deepStrictEqual(addresses(yield* connected), {
        remoteAddress: "192.0.2.1",
        remotePort: 56324,
        localAddress: "198.51.100.2",
        localPort: 25,
        clientHostname: "[192.0.2.1]"
      })
      assert.strictEqual(
        yield* client.command("HELO c"),
        "250 mx.test Nice to meet you, [192.0.2.1]\r\n"
      )
    }))

  it.scoped("reads a v2 header split across writes, TLVs and all", () =>
    Effect.gen(function*() {
      const { connected, server } = yield* serverWith({ useProxy: true })
      const client = yield* server.connect(proxy)
      yield* client.send(v2Inet6.subarray(0, 7))
      yield* client.send(v2Inet6.subarray(7, 30))
      yield* client.send(v2Inet6.subarray(30))
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      assert.deepStrictEqual(addresses(yield* connected), {
        remoteAddress: "2001:db8::1",
        remotePort: 40000,
        localAddress: "2001:db8::2",
        localPort: 587,
        clientHostname: "[2001:db8::1]"
      })
    }))

  it.scoped("hands commands that came with the header to the command loop", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useProxy: true })
      const client = yield* server.connect(proxy)
      yield* client.send("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nHELO c\r\nNOOP\r\n")
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      assert.strictEqual(yield* client.reply, "250 mx.test Nice to meet you, [192.0.2.1]\r\n")
      assert.strictEqual(yield* client.reply, "250 2.0.0 OK\r\n")
    }))

  it.scoped("keeps the connection's own addresses for a v2 LOCAL header (a health check)", () =>
    Effect.gen(function*() {
      const { connected, server } = yield* serverWith({ useProxy: true })
      const client = yield* server.connect(proxy)
      yield* client.send(v2Local)
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      assert.deepStrictEqual(addresses(yield* connected), { ...proxy, clientHostname: "[10.0.0.5]" })
    }))

  it.scoped("keeps the connection's own addresses for v1 UNKNOWN", () =>
    Effect.gen(function*() {
      const { connected, server } = yield* serverWith({ useProxy: true })
      const client = yield* server.connect(proxy)
      yield* client.send("PROXY UNKNOWN\r\n")
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      assert.strictEqual((yield* connected).remoteAddress, "10.0.0.5")
    }))

  it.scoped("serves an untrusted peer directly: its PROXY line is an unknown command", () =>
    Effect.gen(function*() {
      const { connected, server } = yield* serverWith({ useProxy: ["10.0.0.9"] })
      const client = yield* server.connect(proxy)
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      assert.strictEqual(
        yield* client.command("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25"),
        "500 5.5.1 Error: command not recognized\r\n"
      )
      assert.strictEqual(yield* client.command("HELO c"), "250 mx.test Nice to meet you, [10.0.0.5]\r\n")
      assert.strictEqual((yield* connected).remoteAddress, "10.0.0.5")
    }))

  it.scoped("matches a trusted IPv4 proxy written as IPv4-mapped IPv6", () =>
    Effect.gen(function*() {
      const { connected, server } = yield* serverWith({ useProxy: ["::ffff:10.0.0.5"] })
      const client = yield* server.connect(proxy)
      yield* client.send("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n")
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      assert.strictEqual((yield* connected).remoteAddress, "192.0.2.1")
    }))

  it.scoped.each([
    ["a malformed v1 header", "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n"],
    ["a v1 header with a spoofed hostname", "PROXY TCP4 evil.example 198.51.100.2 1 25\r\n"],
    ["SMTP instead of a header", "EHLO client.test\r\n"],
    ["a v1 line past 107 bytes", `PROXY UNKNOWN ${"x".repeat(120)}\r\n`]
  ])("closes without a greeting on %s", ([, input]) =>
    Effect.gen(function*() {
      const { server, wasConnected } = yield* serverWith({ useProxy: true })
      const client = yield* server.connect(proxy)
      yield* client.send(input)
      yield* client.closed
      assert.strictEqual(yield* client.reply, "")
      assert.isFalse(yield* wasConnected)
    }))

  it.scoped("closes without a greeting on a v2 header declaring more than the cap", () =>
    Effect.gen(function*() {
      const { server, wasConnected } = yield* serverWith({ useProxy: true })
      const client = yield* server.connect(proxy)
      yield* client.send(new Uint8Array([...signature, 0x21, 0x11, 0xff, 0xff]))
      yield* client.closed
      assert.strictEqual(yield* client.reply, "")
      assert.isFalse(yield* wasConnected)
    }))

  it.scoped("closes when the header does not come within socketTimeout", () =>
    Effect.gen(function*() {
      const { server, wasConnected } = yield* serverWith({ useProxy: true, socketTimeout: 10_000 })
      const client = yield* server.connect(proxy)
      yield* client.send("PROXY TCP4 192.0.2.1")
      const reply = yield* Effect.fork(client.reply)
      yield* TestClock.adjust("9 seconds")
      assert.isFalse(yield* client.isClosed)
      yield* TestClock.adjust("1 second")
      yield* client.closed
      assert.strictEqual(yield* Fiber.join(reply), "")
      assert.isFalse(yield* wasConnected)
    }))

  it.scoped("counts commands that came with the header as talking too soon", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useProxy: true, greetingDelay: 100 })
      const client = yield* server.connect(proxy)
      yield* client.send("PROXY UNKNOWN\r\nEHLO early\r\n")
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(yield* client.reply, "421 4.4.2 mx.test You talk too soon\r\n")
    }))

  it.effect("refuses a trust list entry that is not an address, naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(ServerConfig.layer({ useProxy: ["10.0.0.5", "proxy.example"] })))
      assert.include(error.message, "useProxy")
      assert.include(error.message, "expected an IP address or \"*\"")
    }).pipe(Effect.scoped))
})

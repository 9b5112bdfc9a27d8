import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Ref, TestClock } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import * as Resolver from "../../src/core/Resolver.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import * as TestClient from "../../src/testing/TestClient.js"

// A server with the given options, resolving through `resolver`.
const serverWith = (config: Input, resolver: Layer.Layer<Resolver.Resolver>) =>
  TestClient.server.pipe(Effect.provide(Layer.mergeAll(
    ServerConfig.layer({ name: "mx.test", closeTimeout: 0, disableReverseLookup: false, ...config }),
    Hooks.Default,
    resolver
  )))

// Connects, reads the greeting and answers with the name the server greets the client by.
const greetedAs = (server: TestClient.TestServer, info?: Parameters<TestClient.TestServer["connect"]>[0]) =>
  Effect.gen(function*() {
    const client = yield* server.connect(info)
    assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
    return yield* client.command("HELO c")
  })

describe("Opening: reverse DNS", () => {
  it.scoped("greets the client by the name its address resolves to, lower-cased without the root dot", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, Resolver.layerTest({ "127.0.0.1": ["Mail.Example.COM.", "other.example"] }))
      assert.strictEqual(yield* greetedAs(server), "250 mx.test Nice to meet you, mail.example.com\r\n")
    }))

  it.scoped("falls back to [address] when the lookup fails", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, Resolver.layerTest({}))
      assert.strictEqual(yield* greetedAs(server), "250 mx.test Nice to meet you, [127.0.0.1]\r\n")
    }))

  it.scoped("falls back to [address] when there is no name", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, Resolver.layerTest({ "127.0.0.1": [] }))
      assert.strictEqual(yield* greetedAs(server), "250 mx.test Nice to meet you, [127.0.0.1]\r\n")
    }))

  it.scoped("discards a PTR record that is no host name (response splitting through DNS)", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, Resolver.layerTest({ "127.0.0.1": ["evil.example\r\n250 injected"] }))
      assert.strictEqual(yield* greetedAs(server), "250 mx.test Nice to meet you, [127.0.0.1]\r\n")
    }))

  it.scoped("falls back to [address] when the resolver dies", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, Layer.succeed(Resolver.Resolver, Resolver.fromFunction(() => Effect.die("boom"))))
      assert.strictEqual(yield* greetedAs(server), "250 mx.test Nice to meet you, [127.0.0.1]\r\n")
    }))

  it.scoped("waits at most reverseLookupTimeout for a resolver that hangs, then greets", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, Layer.succeed(Resolver.Resolver, Resolver.fromFunction(() => Effect.never)))
      const client = yield* server.connect()
      const greeting = yield* Effect.fork(client.reply)
      yield* TestClock.adjust("1499 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(greeting)))
      yield* TestClock.adjust("1 milli")
      assert.strictEqual(yield* Fiber.join(greeting), "220 mx.test ESMTP\r\n")
      assert.strictEqual(yield* client.command("HELO c"), "250 mx.test Nice to meet you, [127.0.0.1]\r\n")
    }))

  it.scoped("honours a shorter reverseLookupTimeout", () =>
    Effect.gen(function*() {
      const server = yield* serverWith(
        { reverseLookupTimeout: 200 },
        Layer.succeed(Resolver.Resolver, Resolver.fromFunction(() => Effect.never))
      )
      const client = yield* server.connect()
      const greeting = yield* Effect.fork(client.reply)
      yield* TestClock.adjust("200 millis")
      assert.strictEqual(yield* Fiber.join(greeting), "220 mx.test ESMTP\r\n")
    }))

  it.scoped("resolves the client a PROXY header named, not the proxy", () =>
    Effect.gen(function*() {
      const server = yield* serverWith(
        { useProxy: true },
        Resolver.layerTest({ "10.0.0.5": ["proxy.example"], "192.0.2.1": ["client.example"] })
      )
      const client = yield* server.connect({ remoteAddress: "10.0.0.5", remotePort: 1, localAddress: "10.0.0.1", localPort: 25 })
      yield* client.send("PROXY TCP4 192.0.2.1 10.0.0.1 56324 25\r\n")
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      assert.strictEqual(yield* client.command("HELO c"), "250 mx.test Nice to meet you, client.example\r\n")
    }))

  it.scoped("does not look up by default in the Effect API", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const counting = Layer.succeed(
        Resolver.Resolver,
        Resolver.fromFunction(() => Effect.as(Ref.update(calls, (n) => n + 1), ["mail.example.com"]))
      )
      const server = yield* TestClient.server.pipe(Effect.provide(Layer.mergeAll(
        ServerConfig.layer({ name: "mx.test", closeTimeout: 0 }),
        Hooks.Default,
        counting
      )))
      assert.strictEqual(yield* greetedAs(server), "250 mx.test Nice to meet you, [127.0.0.1]\r\n")
      assert.strictEqual(yield* Ref.get(calls), 0)
    }))

  it.scoped("does not look up without a Resolver in context", () =>
    Effect.gen(function*() {
      const server = yield* TestClient.server.pipe(Effect.provide(Layer.merge(
        ServerConfig.layer({ name: "mx.test", closeTimeout: 0, disableReverseLookup: false }),
        Hooks.Default
      )))
      assert.strictEqual(yield* greetedAs(server), "250 mx.test Nice to meet you, [127.0.0.1]\r\n")
    }))
})

describe("Resolver.fromCallback", () => {
  it.effect.each<[string, Resolver.Resolver["Type"], string | undefined]>([
    ["an answer", Resolver.fromCallback((_, cb) => cb(null, ["mx.example"])), "mx.example"],
    ["an error", Resolver.fromCallback((_, cb) => cb(new Error("ENOTFOUND"))), undefined],
    ["a throw", Resolver.fromCallback(() => {
      throw new TypeError("bad address")
    }), undefined]
  ])("turns %s into the client's name or none", ([, resolver, expected]) =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Resolver.clientHostname(resolver, "192.0.2.1", "1 second"), expected)
    }))

  it.effect("passes the address to the callback", () =>
    Effect.gen(function*() {
      let asked = ""
      const resolver = Resolver.fromCallback((ip, cb) => {
        asked = ip
        cb(null, [])
      })
      yield* Resolver.clientHostname(resolver, "2001:db8::1", "1 second")
      assert.strictEqual(asked, "2001:db8::1")
    }))
})

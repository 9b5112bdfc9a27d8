import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import * as Session from "../../src/core/Session.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import type * as Transport from "../../src/core/Transport.js"
import * as TestClient from "../../src/testing/TestClient.js"

// An LMTP server with the given options and hooks.
const serverWith = (hooks: Hooks.Implementations = {}, config: Input = {}) =>
  TestClient.server.pipe(Effect.provide(Layer.merge(
    ServerConfig.layer({ name: "mx.test", closeTimeout: 0, lmtp: true, ...config }),
    Hooks.layer(hooks)
  )))

// Connects and greets with LHLO.
const greeted = (server: TestClient.TestServer) =>
  Effect.gen(function*() {
    const client = yield* server.connect()
    assert.strictEqual(yield* client.reply, "220 mx.test LMTP\r\n")
    yield* client.command("LHLO client.test")
    return client
  })

// Sends MAIL, the RCPTs and a body, and returns the replies after the end of data, as many as `expected`.
const deliver = (client: TestClient.TestClient, rcpts: ReadonlyArray<string>, expected: number) =>
  Effect.gen(function*() {
    yield* client.command("MAIL FROM:<a@x.test>")
    for (const rcpt of rcpts) yield* client.command(`RCPT TO:<${rcpt}>`)
    assert.strictEqual(yield* client.command("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n")
    yield* client.send("Subject: hi\r\n\r\nbody\r\n.\r\n")
    const replies: Array<string> = []
    for (let i = 0; i < expected; i++) replies.push(yield* client.reply)
    // Nothing more: the next reply is the NOOP's.
    assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    return replies
  })

describe("LMTP (RFC 2033)", () => {
  it.scoped("answers one reply per recipient, in order, as the data hook decides", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({
        onData: (message) =>
          Effect.as(
            Stream.runDrain(message.body),
            message.envelope.rcptTo.map((rcpt) =>
              rcpt.address === "full@y.test"
                ? SmtpError.make(452, "Mailbox full", "4.2.2")
                : rcpt.address === "c@y.test"
                ? { message: "Delivered to c" }
                : {}
            )
          )
      })
      const client = yield* greeted(server)
      assert.deepStrictEqual(yield* deliver(client, ["b@y.test", "full@y.test", "c@y.test"], 3), [
        "250 2.6.0 OK: message accepted\r\n",
        "452 4.2.2 Mailbox full\r\n",
        "250 2.6.0 Delivered to c\r\n"
      ])
    }))

  it.scoped("repeats a whole-message verdict for each recipient", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({
        onData: (message) => Effect.zipRight(Stream.runDrain(message.body), Effect.fail(SmtpError.make(554, "Rejected as spam", "5.7.1")))
      })
      const client = yield* greeted(server)
      assert.deepStrictEqual(yield* deliver(client, ["b@y.test", "c@y.test"], 2), [
        "554 5.7.1 Rejected as spam\r\n",
        "554 5.7.1 Rejected as spam\r\n"
      ])
    }))

  it.scoped("accepts every recipient with the default data hook", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* greeted(server)
      assert.deepStrictEqual(yield* deliver(client, ["b@y.test", "c@y.test"], 2), [
        "250 2.6.0 OK: message accepted\r\n",
        "250 2.6.0 OK: message accepted\r\n"
      ])
    }))

  it.scoped("answers only for the recipients RCPT accepted", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({
        onRcptTo: (rcpt) => rcpt.address === "nobody@y.test" ? SmtpError.noSuchUser(rcpt.address) : Effect.void
      })
      const client = yield* greeted(server)
      assert.deepStrictEqual(yield* deliver(client, ["b@y.test", "nobody@y.test", "c@y.test"], 2), [
        "250 2.6.0 OK: message accepted\r\n",
        "250 2.6.0 OK: message accepted\r\n"
      ])
    }))

  it.scoped("gives a repeated recipient its own entry and reply: every 250 to RCPT gets one", () =>
    Effect.gen(function*() {
      let seen: ReadonlyArray<string> = []
      const server = yield* serverWith({
        onData: (message) =>
          Effect.sync(() => {
            seen = message.envelope.rcptTo.map((r) => r.address)
          }).pipe(Effect.zipRight(Stream.runDrain(message.body)))
      })
      const client = yield* greeted(server)
      assert.strictEqual((yield* deliver(client, ["b@y.test", "c@y.test", "B@y.test"], 3)).length, 3)
      assert.deepStrictEqual(seen, ["b@y.test", "c@y.test", "B@y.test"])
    }))

  it.scoped("answers 451 for a recipient the data hook gave no result for", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ onData: (message) => Effect.as(Stream.runDrain(message.body), [{}]) })
      const client = yield* greeted(server)
      assert.deepStrictEqual(yield* deliver(client, ["b@y.test", "c@y.test"], 2), [
        "250 2.6.0 OK: message accepted\r\n",
        "451 4.3.0 Error: internal server error\r\n"
      ])
    }))

  it.scoped("refuses an oversized message once per recipient", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, { size: 5 })
      const client = yield* greeted(server)
      assert.deepStrictEqual(yield* deliver(client, ["b@y.test", "c@y.test"], 2), [
        "552 5.3.4 Error: message exceeds fixed maximum message size 5\r\n",
        "552 5.3.4 Error: message exceeds fixed maximum message size 5\r\n"
      ])
    }))

  it.scoped("answers HELO and EHLO with 500 and asks for LHLO", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* server.connect()
      yield* client.reply
      assert.strictEqual(yield* client.command("HELO c"), "500 5.5.1 Error: HELO not allowed in LMTP server\r\n")
      assert.strictEqual(yield* client.command("EHLO c"), "500 5.5.1 Error: EHLO not allowed in LMTP server\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "503 5.5.1 Error: send LHLO first\r\n")
      assert.strictEqual(
        yield* client.command("LHLO c"),
        "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
          "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-CHUNKING\r\n250-BINARYMIME\r\n" +
            "250 LIMITS RCPTMAX=1000\r\n"
      )
    }))

  it.scoped("refuses LHLO on an SMTP server as an unknown command", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, { lmtp: false })
      const client = yield* server.connect()
      yield* client.reply
      assert.strictEqual(yield* client.command("LHLO c"), "500 5.5.1 Error: command not recognized\r\n")
    }))

  it.scoped("in SMTP mode answers an array result once: its first refusal", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({
        onData: (message) => Effect.as(Stream.runDrain(message.body), [{}, SmtpError.make(550, "No", "5.7.1")])
      }, { lmtp: false })
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO c")
      assert.deepStrictEqual(yield* deliver(client, ["b@y.test", "c@y.test"], 1), ["550 5.7.1 No\r\n"])
    }))
})

describe("Session.transmissionType in LMTP", () => {
  const info: Transport.PeerInfo = { remoteAddress: "192.0.2.1", remotePort: 1, localAddress: "192.0.2.2", localPort: 24 }
  const tls: Transport.TlsInfo = { name: "x", standardName: "x", version: "TLSv1.3" }
  it.each<[string, Session.SessionState, string]>([
    ["plain", Session.make("a", info, undefined), "LMTP"],
    ["secure", Session.make("a", info, tls), "LMTPS"],
    ["authenticated", Session.authenticate("user")(Session.make("a", info, undefined)), "LMTPA"],
    ["secure and authenticated", Session.authenticate({ id: 1 })(Session.make("a", info, tls)), "LMTPSA"]
  ])("%s: %s", (_, session, expected) => {
    assert.strictEqual(Session.transmissionType(Session.greet(session, "LHLO", "c"), true), expected)
  })
})

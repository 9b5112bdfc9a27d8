import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Queue } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import * as Session from "../../src/core/Session.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import * as TestClient from "../../src/testing/TestClient.js"

const xclientLine = "250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\r\n"
const xforwardLine = "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n"
const notAllowed = "550 5.7.0 Error: Not allowed\r\n"
const ehloBase = "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
  "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-LIMITS RCPTMAX=1000\r\n"

// A server whose onMailFrom hands each session to the test; `hooks` add to or replace it.
const serverWith = (config: Input, hooks: Hooks.Implementations = {}) =>
  Effect.gen(function*() {
    const sessions = yield* Queue.unbounded<Session.SessionState>()
    const server = yield* TestClient.server.pipe(Effect.provide(Layer.merge(
      ServerConfig.layer({ name: "mx.test", closeTimeout: 0, ...config }),
      Hooks.layer({ onMailFrom: (_, session) => Queue.offer(sessions, session), ...hooks })
    )))
    return { server, nextSession: Queue.take(sessions) }
  })

const greeted = (server: TestClient.TestServer, info?: Parameters<TestClient.TestServer["connect"]>[0]) =>
  Effect.gen(function*() {
    const client = yield* server.connect(info)
    yield* client.reply
    return client
  })

const identity = (s: Session.SessionState) => ({
  remoteAddress: s.remoteAddress,
  remotePort: s.remotePort,
  localAddress: s.localAddress,
  localPort: s.localPort,
  clientHostname: s.clientHostname,
  heloName: s.heloName,
  user: s.user
})

describe("XCLIENT", () => {
  it.scoped("runs Postfix's proxy dialogue: EHLO, XCLIENT, new greeting, EHLO as the client", () =>
    Effect.gen(function*() {
      const { nextSession, server } = yield* serverWith({ useXClient: ["127.0.0.1"] })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("EHLO proxy.example"), `${ehloBase}${xclientLine.replace("250-", "250 ")}`)
      assert.strictEqual(
        yield* client.command(
          "XCLIENT NAME=spike.porcupine.org ADDR=168.100.189.2 PORT=50412 PROTO=ESMTP HELO=spike.porcupine.org"
        ),
        "220 mx.test ESMTP\r\n"
      )
      // The session starts over: the client must greet again.
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "503 5.5.1 Error: send HELO/EHLO first\r\n")
      // The forwarded client may not rewrite its own identity: XCLIENT is gone.
      assert.strictEqual(
        yield* client.command("EHLO spike.porcupine.org"),
        `${ehloBase.replace("[127.0.0.1]", "spike.porcupine.org").replace("250-LIMITS", "250 LIMITS")}`
      )
      assert.strictEqual(yield* client.command("XCLIENT NAME=other.example"), notAllowed)
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
      const session = yield* nextSession
      assert.deepStrictEqual(identity(session), {
        remoteAddress: "168.100.189.2",
        remotePort: 50412,
        localAddress: "127.0.0.1",
        localPort: 25,
        clientHostname: "spike.porcupine.org",
        heloName: "spike.porcupine.org",
        user: undefined
      })
      assert.deepStrictEqual([...session.xClient], [
        ["NAME:DEFAULT", "[127.0.0.1]"],
        ["NAME", "spike.porcupine.org"],
        ["ADDR:DEFAULT", "127.0.0.1"],
        ["ADDR", "168.100.189.2"],
        ["PORT:DEFAULT", "50000"],
        ["PORT", "50412"],
        ["PROTO", "ESMTP"],
        ["HELO", "spike.porcupine.org"]
      ])
    }))

  it.scoped("takes the server address from DESTADDR and DESTPORT", () =>
    Effect.gen(function*() {
      const { nextSession, server } = yield* serverWith({ useXClient: true })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("XCLIENT DESTADDR=IPv6:2001:db8::25 DESTPORT=587"), "220 mx.test ESMTP\r\n")
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      const session = yield* nextSession
      assert.strictEqual(session.localAddress, "2001:db8::25")
      assert.strictEqual(session.localPort, 587)
    }))

  it.scoped("shows a new ADDR as [address] when no NAME comes with it", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXClient: true })
      const client = yield* greeted(server)
      yield* client.command("XCLIENT ADDR=192.0.2.7")
      assert.strictEqual(yield* client.command("HELO c"), "250 mx.test Nice to meet you, [192.0.2.7]\r\n")
    }))

  it.scoped("treats NAME=[UNAVAILABLE] as no name", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXClient: true })
      const client = yield* greeted(server)
      yield* client.command("XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE]")
      assert.strictEqual(yield* client.command("HELO c"), "250 mx.test Nice to meet you, [192.0.2.7]\r\n")
    }))

  it.scoped("logs the client in through the auth hook with method XCLIENT", () =>
    Effect.gen(function*() {
      const asked = yield* Queue.unbounded<Hooks.Credentials>()
      const { nextSession, server } = yield* serverWith({ useXClient: true }, {
        onAuth: (credentials) => Effect.as(Queue.offer(asked, credentials), { user: { name: credentials.username } })
      })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("XCLIENT ADDR=192.0.2.7 LOGIN=wietse+40example.com"), "220 mx.test ESMTP\r\n")
      assert.deepStrictEqual(yield* Queue.take(asked), { method: "XCLIENT", username: "wietse@example.com" })
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      const session = yield* nextSession
      assert.deepStrictEqual(session.user, { name: "wietse@example.com" })
      assert.strictEqual(Session.transmissionType(session, false), "ESMTPA")
    }))

  it.scoped("goes on unauthenticated when the hook accepts without a user", () =>
    Effect.gen(function*() {
      const { nextSession, server } = yield* serverWith({ useXClient: true }, { onAuth: () => Effect.succeed({ user: undefined }) })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("XCLIENT LOGIN=someone"), "220 mx.test ESMTP\r\n")
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      assert.isUndefined((yield* nextSession).user)
    }))

  it.scoped("answers a refused LOGIN with 550 and the hook's text, and closes", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXClient: true })
      const client = yield* greeted(server)
      // The default auth hook refuses every login.
      assert.strictEqual(
        yield* client.command("XCLIENT ADDR=192.0.2.7 LOGIN=mallory"),
        "550 5.7.8 Error: Authentication credentials invalid\r\n"
      )
      yield* client.closed
    }))

  it.scoped("keeps a temporary failure of the auth hook as 451, and closes", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXClient: true }, { onAuth: () => Effect.die(new Error("directory down")) })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("XCLIENT LOGIN=someone"), "451 4.3.0 Error: internal server error\r\n")
      yield* client.closed
    }))

  it.scoped("drops the proxy's own login when ADDR hands the session to another client", () =>
    Effect.gen(function*() {
      const { nextSession, server } = yield* serverWith({ useXClient: true }, {
        onAuth: (credentials) => Effect.succeed({ user: credentials.username })
      })
      const client = yield* greeted(server)
      yield* client.command("XCLIENT LOGIN=proxy")
      yield* client.command("XCLIENT ADDR=192.0.2.7")
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      assert.isUndefined((yield* nextSession).user)
    }))

  it.scoped("logs out with LOGIN=[UNAVAILABLE]", () =>
    Effect.gen(function*() {
      const { nextSession, server } = yield* serverWith({ useXClient: true }, {
        onAuth: (credentials) => Effect.succeed({ user: credentials.username })
      })
      const client = yield* greeted(server)
      yield* client.command("XCLIENT LOGIN=someone")
      yield* client.command("XCLIENT LOGIN=[UNAVAILABLE]")
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      assert.isUndefined((yield* nextSession).user)
    }))

  it.scoped("refuses XCLIENT when not enabled, and does not advertise it", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({})
      const client = yield* greeted(server)
      assert.notInclude(yield* client.command("EHLO c"), "XCLIENT")
      assert.strictEqual(yield* client.command("XCLIENT ADDR=192.0.2.7"), notAllowed)
    }))

  it.scoped("refuses a peer that is not in the trust list", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXClient: ["10.0.0.5"] })
      const client = yield* greeted(server)
      assert.notInclude(yield* client.command("EHLO c"), "XCLIENT")
      assert.strictEqual(yield* client.command("XCLIENT ADDR=192.0.2.7"), notAllowed)
    }))

  it.scoped("checks trust against the client a PROXY header named", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useProxy: ["10.0.0.5"], useXClient: ["192.0.2.50"] })
      const client = yield* server.connect({ remoteAddress: "10.0.0.5", remotePort: 1, localAddress: "10.0.0.1", localPort: 25 })
      yield* client.send("PROXY TCP4 192.0.2.50 10.0.0.1 4000 25\r\n")
      yield* client.reply
      assert.include(yield* client.command("EHLO c"), xclientLine.replace("250-", "250 "))
      assert.strictEqual(yield* client.command("XCLIENT ADDR=192.0.2.7"), "220 mx.test ESMTP\r\n")
    }))

  it.scoped("refuses XCLIENT inside a transaction with 503 5.5.1", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXClient: true })
      const client = yield* greeted(server)
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      assert.strictEqual(yield* client.command("XCLIENT ADDR=192.0.2.7"), "503 5.5.1 Error: Mail transaction in progress\r\n")
      yield* client.command("RSET")
      assert.strictEqual(yield* client.command("XCLIENT ADDR=192.0.2.7"), "220 mx.test ESMTP\r\n")
    }))

  it.scoped("refuses a bad attribute with 501 and changes nothing", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXClient: true })
      const client = yield* greeted(server)
      yield* client.command("HELO c")
      assert.strictEqual(
        yield* client.command("XCLIENT NAME=ok.example ADDR=999.0.0.1"),
        "501 5.5.4 Error: Bad command parameter syntax. Invalid address\r\n"
      )
      assert.strictEqual(yield* client.command("HELO c"), "250 mx.test Nice to meet you, [127.0.0.1]\r\n")
      assert.strictEqual(yield* client.command("XCLIENT"), "501 5.5.4 Error: Bad command parameter syntax\r\n")
      assert.strictEqual(
        yield* client.command("XCLIENT NAME=evil+0D+0A250+20ok"),
        "501 5.5.4 Error: Bad command parameter syntax\r\n"
      )
    }))

  it.scoped("treats XCLIENT as unknown when disabled", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXClient: true, disabledCommands: ["XCLIENT"] })
      const client = yield* greeted(server)
      assert.notInclude(yield* client.command("EHLO c"), "XCLIENT")
      assert.strictEqual(yield* client.command("XCLIENT ADDR=192.0.2.7"), "500 5.5.1 Error: command not recognized\r\n")
    }))

  it.scoped("greets as LMTP after XCLIENT on an LMTP server", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXClient: true, lmtp: true })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("XCLIENT ADDR=192.0.2.7"), "220 mx.test LMTP\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "503 5.5.1 Error: send LHLO first\r\n")
    }))
})

describe("XFORWARD", () => {
  it.scoped("records what Postfix forwards before MAIL, and the session goes on", () =>
    Effect.gen(function*() {
      const { nextSession, server } = yield* serverWith({ useXForward: ["127.0.0.1"] })
      const client = yield* greeted(server)
      assert.strictEqual(
        yield* client.command("EHLO proxy.example"),
        `${ehloBase}${xforwardLine.replace("250-", "250 ")}`
      )
      // Postfix splits the attributes over several commands when a line would be too long.
      assert.strictEqual(
        yield* client.command("XFORWARD NAME=spike.porcupine.org ADDR=168.100.189.2 PORT=50412"),
        "250 2.0.0 OK\r\n"
      )
      assert.strictEqual(
        yield* client.command("XFORWARD PROTO=ESMTP HELO=Spike.Porcupine.org IDENT=1A2B SOURCE=REMOTE"),
        "250 2.0.0 OK\r\n"
      )
      // Still greeted: no new EHLO is needed after XFORWARD.
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
      const session = yield* nextSession
      assert.deepStrictEqual(identity(session), {
        remoteAddress: "168.100.189.2",
        remotePort: 50412,
        localAddress: "127.0.0.1",
        localPort: 25,
        clientHostname: "spike.porcupine.org",
        heloName: "spike.porcupine.org",
        user: undefined
      })
      assert.deepStrictEqual([...session.xForward], [
        ["NAME", "spike.porcupine.org"],
        ["ADDR:DEFAULT", "127.0.0.1"],
        ["ADDR", "168.100.189.2"],
        ["PORT", "50412"],
        ["PROTO", "ESMTP"],
        ["HELO", "Spike.Porcupine.org"],
        ["IDENT", "1A2B"],
        ["SOURCE", "REMOTE"]
      ])
    }))

  it.scoped("keeps the greeting when HELO is [UNAVAILABLE]", () =>
    Effect.gen(function*() {
      const { nextSession, server } = yield* serverWith({ useXForward: true })
      const client = yield* greeted(server)
      yield* client.command("EHLO proxy.example")
      assert.strictEqual(yield* client.command("XFORWARD HELO=[UNAVAILABLE] NAME=[UNAVAILABLE]"), "250 2.0.0 OK\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
      const session = yield* nextSession
      assert.strictEqual(session.heloName, "proxy.example")
      assert.strictEqual(session.clientHostname, "[127.0.0.1]")
      assert.strictEqual(session.xForward.get("HELO"), false)
    }))

  it.scoped("refuses XFORWARD when not enabled or not trusted", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXForward: ["10.9.9.9"], useXClient: true })
      const client = yield* greeted(server)
      const ehlo = yield* client.command("EHLO c")
      assert.include(ehlo, "XCLIENT")
      assert.notInclude(ehlo, "XFORWARD")
      assert.strictEqual(yield* client.command("XFORWARD ADDR=192.0.2.7"), notAllowed)
    }))

  it.scoped("refuses XFORWARD inside a transaction with 503 5.5.1", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXForward: true })
      const client = yield* greeted(server)
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      assert.strictEqual(yield* client.command("XFORWARD ADDR=192.0.2.7"), "503 5.5.1 Error: Mail transaction in progress\r\n")
    }))

  it.scoped("refuses XCLIENT-only attributes", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXForward: true })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("XFORWARD LOGIN=x"), "501 5.5.4 Error: Bad command parameter syntax\r\n")
    }))

  it.scoped("is gone, with XCLIENT, once XCLIENT set ADDR", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXForward: true, useXClient: true })
      const client = yield* greeted(server)
      yield* client.command("XCLIENT ADDR=192.0.2.7")
      const ehlo = yield* client.command("EHLO c")
      assert.notInclude(ehlo, "XCLIENT")
      assert.notInclude(ehlo, "XFORWARD")
      assert.strictEqual(yield* client.command("XFORWARD ADDR=192.0.2.8"), notAllowed)
    }))

  it.scoped("refuses with the hook's error reply untouched elsewhere", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith({ useXForward: true }, {
        onMailFrom: (_, session) =>
          session.remoteAddress === "192.0.2.66" ? Effect.fail(SmtpError.notAllowed("Blocked")) : Effect.void
      })
      const client = yield* greeted(server)
      yield* client.command("EHLO c")
      yield* client.command("XFORWARD ADDR=192.0.2.66")
      // Hooks see the forwarded client, which is what XFORWARD is for.
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "550 5.7.1 Blocked\r\n")
    }))
})

import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Ref, Scope, TestClock } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import * as Session from "../../src/core/Session.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import type * as Transport from "../../src/core/Transport.js"
import * as MemoryTransport from "../../src/testing/MemoryTransport.js"
import * as TestClient from "../../src/testing/TestClient.js"

const tlsInfo: Transport.TlsInfo = {
  name: "TLS_AES_256_GCM_SHA384",
  standardName: "TLS_AES_256_GCM_SHA384",
  version: "TLSv1.3",
  servername: "mx.test"
}
const upgradable: MemoryTransport.Options = { startTls: tlsInfo }
const failing: MemoryTransport.Options = { startTls: { _tag: "TlsError", message: "wrong version number" } }

const serverWith = (config: Input = {}, hooks: Hooks.Implementations = {}) =>
  TestClient.server.pipe(
    Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", closeTimeout: 0, hideCHUNKING: true, hideLIMITS: true, ...config }), Hooks.layer(hooks)))
  )

// Connects (able to upgrade unless told otherwise) and reads the greeting.
const connect = (server: TestClient.TestServer, options: MemoryTransport.Options = upgradable) =>
  Effect.tap(server.connect(undefined, options), (client) => client.reply)

const ehloPlain = "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
  "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 STARTTLS\r\n"
const ehloSecure = "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
  "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-AUTH PLAIN LOGIN\r\n250 REQUIRETLS\r\n"
// Plaintext, STARTTLS not offered.
const ehloNoStartTls = "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
  "250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n"
const ready = "220 2.0.0 Ready to start TLS\r\n"
const unrecognized = "500 5.5.1 Error: command not recognized\r\n"

// Hooks that record every session onSecure and onClose see.
const recording = Effect.gen(function*() {
  const secured = yield* Ref.make<Array<Session.SessionState>>([])
  const closed = yield* Deferred.make<Session.SessionState>()
  const hooks: Hooks.Implementations = {
    onSecure: (_tls, session) => Ref.update(secured, (all) => [...all, session]),
    onClose: (session) => Deferred.succeed(closed, session)
  }
  return { secured, closed, hooks }
})

describe("STARTTLS", () => {
  it.scoped("is advertised in EHLO while the connection is not secure and the transport can upgrade", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* connect(server)
      assert.strictEqual(yield* client.command("EHLO client.test"), ehloPlain)
    }))

  it.scoped("is neither advertised nor accepted when the transport cannot upgrade: 500", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* connect(server, {})
      assert.strictEqual(yield* client.command("EHLO client.test"), ehloNoStartTls)
      assert.strictEqual(yield* client.command("STARTTLS"), unrecognized)
      assert.strictEqual(yield* client.command("STARTTLS now"), unrecognized)
    }))

  it.scoped("disabled by disabledCommands: not advertised and refused with 500", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ disabledCommands: ["starttls"] })
      const client = yield* connect(server)
      assert.strictEqual(yield* client.command("EHLO client.test"), ehloNoStartTls)
      assert.strictEqual(yield* client.command("STARTTLS"), unrecognized)
    }))

  it.scoped("hidden by hideSTARTTLS: not advertised, still accepted", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ hideSTARTTLS: true })
      const client = yield* connect(server)
      assert.strictEqual(yield* client.command("EHLO client.test"), ehloNoStartTls)
      assert.strictEqual(yield* client.command("STARTTLS"), ready)
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("refuses arguments with 501 5.5.4 (RFC 3207 §4)", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* connect(server)
      assert.strictEqual(yield* client.command("STARTTLS please"), "501 5.5.4 Error: syntax: STARTTLS\r\n")
    }))

  it.scoped("answers 220 2.0.0, then resets the session: EHLO again, no STARTTLS offered, 503 when repeated", () =>
    Effect.gen(function*() {
      const { closed, hooks, secured } = yield* recording
      const server = yield* serverWith({}, hooks)
      const client = yield* connect(server)
      yield* client.command("EHLO client.test")
      yield* client.command("MAIL FROM:<a@x.test>")
      yield* client.command("RCPT TO:<b@y.test>")
      assert.strictEqual(yield* client.command("STARTTLS"), ready)
      // RFC 3207 §4.2: the greeting and the transaction from before are forgotten.
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "503 5.5.1 Error: send HELO/EHLO first\r\n")
      assert.strictEqual(yield* client.command("EHLO client.test"), ehloSecure)
      assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "503 5.5.1 Error: need MAIL command\r\n")
      assert.strictEqual(yield* client.command("STARTTLS"), "503 5.5.1 Error: TLS already active\r\n")
      const [session] = yield* Ref.get(secured)
      assert.deepStrictEqual(session?.tls, tlsInfo)
      assert.strictEqual(session?.heloName, undefined)
      assert.strictEqual(session?.openingCommand, undefined)
      assert.strictEqual(session?.envelope.mailFrom, undefined)
      yield* client.command("QUIT")
      const last = yield* Deferred.await(closed)
      assert.strictEqual(last.id, session?.id)
      assert.deepStrictEqual(last.tls, tlsInfo)
      assert.strictEqual(Session.transmissionType(last, false), "ESMTPS")
    }))

  it.scoped("keeps the transactions count and addresses across the upgrade", () =>
    Effect.gen(function*() {
      const { closed, hooks } = yield* recording
      const server = yield* serverWith({}, hooks)
      const client = yield* connect(server)
      yield* client.send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n")
      for (let i = 0; i < 5; i++) yield* client.reply
      assert.strictEqual(yield* client.command("STARTTLS"), ready)
      yield* client.command("QUIT")
      const session = yield* Deferred.await(closed)
      assert.strictEqual(session.transactions, 1)
      assert.strictEqual(session.remoteAddress, "127.0.0.1")
    }))

  it.scoped("never runs a command pipelined after STARTTLS in the same write (CVE-2011-0411)", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* connect(server)
      yield* client.send("EHLO client.test\r\nSTARTTLS\r\nNOOP\r\n")
      yield* client.reply
      assert.strictEqual(yield* client.reply, ready)
      // Had NOOP run inside TLS, its 250 would answer this VRFY.
      assert.strictEqual(yield* client.command("VRFY x"), "252 2.1.5 Try to send something. No promises though\r\n")
    }))

  it.scoped("never completes a partial line pipelined after STARTTLS with bytes sent inside TLS", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* connect(server)
      yield* client.send("STARTTLS\r\nRSE")
      assert.strictEqual(yield* client.reply, ready)
      // "RSE" + "T" would be RSET (250 Flushed); only "T" arrived under TLS.
      assert.strictEqual(yield* client.command("T"), unrecognized)
    }))

  it.scoped("drops plaintext sent after STARTTLS in a later write, before the 220", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* connect(server)
      yield* client.send("STARTTLS\r\n")
      yield* client.send("RSET\r\n")
      assert.strictEqual(yield* client.reply, ready)
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("ends the session when the handshake fails, and onClose still runs", () =>
    Effect.gen(function*() {
      const { closed, hooks, secured } = yield* recording
      const server = yield* serverWith({}, hooks)
      const client = yield* connect(server, failing)
      assert.strictEqual(yield* client.command("STARTTLS"), ready)
      assert.strictEqual(yield* client.reply, "")
      yield* client.closed
      assert.strictEqual((yield* Deferred.await(closed)).tls, undefined)
      assert.deepStrictEqual(yield* Ref.get(secured), [])
      assert.strictEqual(server.stats.active, 0)
    }))

  it.scoped("ends a handshake that stalls after socketTimeout", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ socketTimeout: 30_000 })
      const client = yield* connect(server, { startTls: Effect.never })
      assert.strictEqual(yield* client.command("STARTTLS"), ready)
      const end = yield* Effect.fork(client.closed)
      yield* TestClock.adjust("29 seconds")
      assert.isFalse(yield* client.isClosed)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(end)
    }))

  it.scoped("does not hold a shutdown for a handshake in progress", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      // Under the TestClock a shutdown that waited for closeTimeout would never end.
      const server = yield* serverWith({ closeTimeout: 30_000 }).pipe(Scope.extend(scope))
      const client = yield* connect(server, { startTls: Effect.never })
      assert.strictEqual(yield* client.command("STARTTLS"), ready)
      yield* Scope.close(scope, Exit.void)
      yield* client.closed
    }))

  it.scoped("lets onSecure refuse the session with its reply", () =>
    Effect.gen(function*() {
      const { closed, hooks } = yield* recording
      const server = yield* serverWith({}, {
        ...hooks,
        onSecure: (tls) =>
          tls.servername === "mx.test"
            ? Effect.fail(new SmtpError({ reply: { code: 554, enhanced: "5.7.1", text: "no certificate, no mail" } }))
            : Effect.void
      })
      const client = yield* connect(server)
      assert.strictEqual(yield* client.command("STARTTLS"), ready)
      assert.strictEqual(yield* client.reply, "554 5.7.1 no certificate, no mail\r\n")
      yield* client.closed
      yield* Deferred.await(closed)
    }))
})

describe("needsUpgrade", () => {
  it.scoped("refuses MAIL and AUTH with 530 5.7.0 until STARTTLS, then accepts MAIL", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ needsUpgrade: true })
      const client = yield* connect(server)
      assert.strictEqual(yield* client.command("EHLO client.test"), ehloPlain)
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "530 5.7.0 Must issue a STARTTLS command first\r\n")
      assert.strictEqual(yield* client.command("AUTH PLAIN"), "530 5.7.0 Must issue a STARTTLS command first\r\n")
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
      assert.strictEqual(yield* client.command("STARTTLS"), ready)
      yield* client.command("EHLO client.test")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
    }))
})

describe("implicit TLS (secure: true)", () => {
  it.scoped("starts TLS before the greeting, runs onSecure, offers no STARTTLS and answers it 503", () =>
    Effect.gen(function*() {
      const order = yield* Ref.make<Array<string>>([])
      const { closed, hooks } = yield* recording
      const server = yield* serverWith({ secure: true }, {
        ...hooks,
        onConnect: (session) => Ref.update(order, (o) => [...o, `connect tls=${session.tls !== undefined}`]),
        onSecure: (tls) => Ref.update(order, (o) => [...o, `secure ${tls.version}`])
      })
      const client = yield* server.connect(undefined, upgradable)
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      assert.deepStrictEqual(yield* Ref.get(order), ["connect tls=true", "secure TLSv1.3"])
      assert.strictEqual(yield* client.command("EHLO client.test"), ehloSecure)
      assert.strictEqual(yield* client.command("STARTTLS"), "503 5.5.1 Error: TLS already active\r\n")
      yield* client.command("QUIT")
      assert.strictEqual(Session.transmissionType(yield* Deferred.await(closed), false), "ESMTPS")
    }))

  it.scoped("ends the session before any greeting when the handshake fails; onConnect never runs, onClose does", () =>
    Effect.gen(function*() {
      const connected = yield* Ref.make(false)
      const { closed, hooks } = yield* recording
      const server = yield* serverWith({ secure: true }, { ...hooks, onConnect: () => Ref.set(connected, true) })
      const client = yield* server.connect(undefined, failing)
      assert.strictEqual(yield* client.reply, "")
      yield* client.closed
      assert.strictEqual((yield* Deferred.await(closed)).tls, undefined)
      assert.isFalse(yield* Ref.get(connected))
      // The server goes on serving.
      const next = yield* server.connect(undefined, upgradable)
      assert.strictEqual(yield* next.reply, "220 mx.test ESMTP\r\n")
    }))

  it.scoped("ends the session when the transport cannot start TLS at all", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ secure: true })
      const client = yield* server.connect()
      assert.strictEqual(yield* client.reply, "")
      yield* client.closed
    }))

  it.scoped("sends onSecure's refusal over TLS instead of the greeting", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ secure: true }, {
        onSecure: () => Effect.fail(new SmtpError({ reply: { code: 554, enhanced: "5.7.1", text: "certificate required" } }))
      })
      const client = yield* server.connect(undefined, upgradable)
      assert.strictEqual(yield* client.reply, "554 5.7.1 certificate required\r\n")
      yield* client.closed
    }))

  it.scoped("closes connections past maxClients without a plaintext reply", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ secure: true, maxClients: 1 })
      yield* connect(server)
      const second = yield* server.connect(undefined, upgradable)
      assert.strictEqual(yield* second.reply, "")
      yield* second.closed
    }))
})

describe("Session", () => {
  const base = Session.make("id", MemoryTransport.defaultInfo, undefined)

  it("secured forgets the greeting, the login and the transaction, and keeps the rest", () => {
    const before = Session.startTransaction(
      { ...Session.greet(base, "EHLO", "Client.test"), user: "alice", transactions: 2 },
      { address: "a@x.test", args: {} }
    )
    const after = Session.secured(before, tlsInfo)
    assert.deepStrictEqual(after, {
      ...base,
      tls: tlsInfo,
      transactions: 2,
      heloName: undefined,
      openingCommand: undefined,
      user: undefined,
      envelope: Session.emptyEnvelope
    })
  })

  it.each([
    ["EHLO", false, false, "ESMTP"],
    ["EHLO", true, false, "ESMTPS"],
    ["EHLO", true, true, "ESMTPSA"],
    ["HELO", true, false, "SMTPS"],
    ["HELO", true, true, "SMTPSA"]
  ] as const)("transmission type after %s, tls %s, user %s: %s", (verb, secure, user, expected) => {
    const session = { ...Session.greet(base, verb, "c"), tls: secure ? tlsInfo : undefined, user: user ? "u" : undefined }
    assert.strictEqual(Session.transmissionType(session, false), expected)
  })
})

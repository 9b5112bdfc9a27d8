import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Logger, Queue, Ref, Stream } from "effect"
import type * as net from "node:net"
import * as tls from "node:tls"
import nodemailer from "nodemailer"
import * as Hooks from "../../src/core/Hooks.js"
import * as Session from "../../src/core/Session.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as RawClient from "../support/RawClient.js"

const ca = RawClient.fixture("test-only-ca.crt")
const mxA = { key: RawClient.fixture("test-only-mx-a.key"), cert: RawClient.fixture("test-only-mx-a.crt") }
const mxB = { key: RawClient.fixture("test-only-mx-b.key"), cert: RawClient.fixture("test-only-mx-b.crt") }
const client = { key: RawClient.fixture("test-only-client.key"), cert: RawClient.fixture("test-only-client.crt") }
const untrusted = {
  key: RawClient.fixture("test-only-untrusted-client.key"),
  cert: RawClient.fixture("test-only-untrusted-client.crt")
}

// What the client checks of the server: our test CA, and the name it expects.
const trustA: tls.ConnectionOptions = { ca, servername: "mx-a.test" }

interface Seen {
  readonly secured: Queue.Queue<Session.SessionState>
  readonly closed: Queue.Queue<Session.SessionState>
  readonly delivered: Queue.Queue<{ readonly session: Session.SessionState; readonly body: string }>
}

// A server on a free port that reports what its hooks saw; `hooks` replaces any of them.
const start = (options: Partial<NodeSmtpServer.Options> = {}, hooks: Hooks.Implementations = {}) =>
  Effect.gen(function*() {
    const seen: Seen = {
      secured: yield* Queue.unbounded<Session.SessionState>(),
      closed: yield* Queue.unbounded<Session.SessionState>(),
      delivered: yield* Queue.unbounded<{ readonly session: Session.SessionState; readonly body: string }>()
    }
    const layer = NodeSmtpServer.layer({ port: 0, host: "127.0.0.1", name: "mx.test", hideCHUNKING: true, hideLIMITS: true, ...options }).pipe(
      Layer.provide(Hooks.layer({
        onSecure: (_tls, session) => Queue.offer(seen.secured, session),
        onClose: (session) => Queue.offer(seen.closed, session),
        onData: (message, session) =>
          Stream.mkString(Stream.decodeText(message.body)).pipe(
            Effect.flatMap((body) => Queue.offer(seen.delivered, { session, body })),
            Effect.asVoid
          ),
        ...hooks
      }))
    )
    const server = Context.get(yield* Layer.build(layer), NodeSmtpServer.SmtpServer)
    return { server, port: server.address.port, seen }
  })

const send = (options: Parameters<typeof nodemailer.createTransport>[0]) =>
  Effect.tryPromise(() =>
    nodemailer.createTransport(options).sendMail({
      envelope: { from: "a@x.test", to: ["b@y.test"] },
      raw: "Subject: tls\r\n\r\nsecret\r\n"
    })
  )

const subject = (socket: net.Socket): string | undefined => {
  const name = (socket as tls.TLSSocket).getPeerCertificate().subject.CN
  return Array.isArray(name) ? name.join(",") : name
}

describe("TLS with nodemailer", () => {
  it.live("secure: true speaks TLS from the first byte (ESMTPS)", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* start({ secure: true, ...mxA })
      const info = yield* send({ host: "127.0.0.1", port, secure: true, tls: trustA })
      assert.deepStrictEqual(info.accepted, ["b@y.test"])
      const { body, session } = yield* Queue.take(seen.delivered)
      assert.strictEqual(body, "Subject: tls\r\n\r\nsecret\r\n")
      assert.strictEqual(session.tls?.servername, "mx-a.test")
      assert.strictEqual(session.tls?.version, "TLSv1.3")
      assert.strictEqual(Session.transmissionType(session, false), "ESMTPS")
      assert.strictEqual((yield* Queue.take(seen.secured)).heloName, undefined)
    }).pipe(Effect.scoped))

  it.live("requireTLS upgrades with STARTTLS, then greets again", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* start({ ...mxA })
      yield* send({ host: "127.0.0.1", port, secure: false, requireTLS: true, tls: trustA })
      const { session } = yield* Queue.take(seen.delivered)
      assert.strictEqual(session.tls?.servername, "mx-a.test")
      assert.strictEqual(session.openingCommand, "EHLO")
      assert.strictEqual(Session.transmissionType(session, false), "ESMTPS")
      assert.strictEqual((yield* Queue.take(seen.secured)).openingCommand, undefined)
    }).pipe(Effect.scoped))

  it.live("ignoreTLS stays in plaintext (ESMTP)", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* start({ ...mxA })
      yield* send({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
      const { session } = yield* Queue.take(seen.delivered)
      assert.strictEqual(session.tls, undefined)
      assert.strictEqual(Session.transmissionType(session, false), "ESMTP")
    }).pipe(Effect.scoped))

  it.live("requireTLS fails against a server with STARTTLS disabled", () =>
    Effect.gen(function*() {
      const { port } = yield* start({ disabledCommands: ["STARTTLS"] })
      const error = yield* Effect.flip(send({ host: "127.0.0.1", port, secure: false, requireTLS: true, tls: trustA }))
      assert.match(String(error.error), /STARTTLS/)
    }).pipe(Effect.scoped))

  it.live("works out of the box with the development certificate, warning once", () =>
    Effect.gen(function*() {
      const warnings = yield* Ref.make<Array<string>>([])
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") Effect.runSync(Ref.update(warnings, (w) => [...w, String(message)]))
      })
      const { port, seen } = yield* start().pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      for (let i = 0; i < 2; i++) {
        yield* send({ host: "127.0.0.1", port, secure: false, requireTLS: true, tls: { ca: undefined, rejectUnauthorized: false } })
        assert.isDefined((yield* Queue.take(seen.delivered)).session.tls)
      }
      const raw = yield* RawClient.connect(port)
      yield* raw.reply
      yield* raw.command("STARTTLS")
      const secure = yield* raw.startTls({ rejectUnauthorized: false })
      assert.strictEqual(subject(secure.socket), "localhost")
      const logged = yield* Ref.get(warnings)
      assert.strictEqual(logged.length, 1)
      assert.match(logged[0]!, /development certificate/)
    }).pipe(Effect.scoped))
})

describe("SNI", () => {
  const names = (sniOptions: NodeSmtpServer.Options["sniOptions"]) =>
    Effect.gen(function*() {
      const { port, seen } = yield* start({ secure: true, ...mxA, sniOptions })
      const result: Array<[string | undefined, string | undefined]> = []
      for (const servername of ["mx-a.test", "MX-B.test", "other.test"]) {
        const raw = yield* RawClient.connectTls(port, {
          ca,
          servername,
          // The default certificate answers an unknown name; check which one came by subject.
          checkServerIdentity: () => undefined
        })
        assert.strictEqual(yield* raw.reply, "220 mx.test ESMTP\r\n")
        result.push([subject(raw.socket), (yield* Queue.take(seen.secured)).tls?.servername])
      }
      return result
    }).pipe(Effect.scoped)

  const expected: Array<[string, string]> = [["mx-a.test", "mx-a.test"], ["mx-b.test", "MX-B.test"], ["mx-a.test", "other.test"]]

  it.live("picks the certificate by the name asked for (object of options)", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* names({ "mx-b.test": mxB }), expected)
    }))

  it.live("picks the certificate by the name asked for (Map of options)", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* names(new Map([["MX-B.TEST", mxB]])), expected)
    }))

  it.live("serves the SNI certificate after STARTTLS too", () =>
    Effect.gen(function*() {
      const { port } = yield* start({ ...mxA, sniOptions: { "mx-b.test": mxB } })
      const raw = yield* RawClient.connect(port)
      yield* raw.reply
      assert.strictEqual(yield* raw.command("STARTTLS"), "220 2.0.0 Ready to start TLS\r\n")
      const secure = yield* raw.startTls({ ca, servername: "mx-b.test" })
      assert.strictEqual(subject(secure.socket), "mx-b.test")
      assert.strictEqual(yield* secure.command("NOOP"), "250 2.0.0 OK\r\n")
    }).pipe(Effect.scoped))
})

describe("client certificates", () => {
  const mutual = { secure: true, ...mxA, ca, requestCert: true }

  it.live("accepts a certificate signed by the CA and shows it to the secure hook and the session", () =>
    Effect.gen(function*() {
      const sockets = yield* Queue.unbounded<unknown>()
      const secured = yield* Queue.unbounded<Session.SessionState>()
      const { port } = yield* start(mutual, {
        onSecure: (_tls, session) =>
          Effect.flatMap(Session.Session, (s) => s.raw).pipe(
            Effect.flatMap((raw) => Queue.offer(sockets, raw)),
            Effect.zipRight(Queue.offer(secured, session))
          )
      })
      const raw = yield* RawClient.connectTls(port, { ...trustA, ...client })
      assert.strictEqual(yield* raw.reply, "220 mx.test ESMTP\r\n")
      const session = yield* Queue.take(secured)
      assert.isTrue(session.tls?.authorized)
      assert.strictEqual((session.tls?.peerCertificate as tls.PeerCertificate).subject.CN, "client.test")
      // The facade's onSecure(socket, ...) gets the TLS socket, as tls.Server would show it.
      const socket = yield* Queue.take(sockets)
      assert.instanceOf(socket, tls.TLSSocket)
      assert.isTrue((socket as tls.TLSSocket).authorized)
      assert.strictEqual(yield* raw.command("EHLO c"), "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n" +
        "250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-AUTH PLAIN LOGIN\r\n" +
          "250 REQUIRETLS\r\n")
    }).pipe(Effect.scoped))

  it.live("refuses a certificate the CA did not sign: no greeting, onClose told, the server serves on", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* start(mutual)
      // TLS 1.3 lets the client finish its side before the server judges the certificate.
      const raw = yield* RawClient.connectTls(port, { ...trustA, ...untrusted })
      assert.strictEqual(yield* raw.reply, "")
      yield* raw.closed
      assert.strictEqual((yield* Queue.take(seen.closed)).tls, undefined)
      assert.strictEqual(yield* Queue.size(seen.secured), 0)
      const next = yield* RawClient.connectTls(port, { ...trustA, ...client })
      assert.strictEqual(yield* next.reply, "220 mx.test ESMTP\r\n")
    }).pipe(Effect.scoped))

  it.live("refuses a client without a certificate when one is required", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* start(mutual)
      const outcome = yield* Effect.either(
        RawClient.connectTls(port, trustA).pipe(Effect.flatMap((raw) => raw.reply))
      )
      // The client learns it in the handshake, or right after it: never a greeting.
      assert.isTrue(outcome._tag === "Left" || outcome.right === "")
      assert.strictEqual((yield* Queue.take(seen.closed)).tls, undefined)
    }).pipe(Effect.scoped))

  it.live("with rejectUnauthorized: false lets the secure hook judge, and its reply refuses the session", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* start({ ...mutual, rejectUnauthorized: false }, {
        onSecure: (info) =>
          info.authorized
            ? Effect.void
            : Effect.fail(new SmtpError({ reply: { code: 554, enhanced: "5.7.1", text: "Unknown client certificate" } }))
      })
      const refused = yield* RawClient.connectTls(port, { ...trustA, ...untrusted })
      assert.strictEqual(yield* refused.reply, "554 5.7.1 Unknown client certificate\r\n")
      yield* refused.closed
      yield* Queue.take(seen.closed)
      const accepted = yield* RawClient.connectTls(port, { ...trustA, ...client })
      assert.strictEqual(yield* accepted.reply, "220 mx.test ESMTP\r\n")
    }).pipe(Effect.scoped))

  it.live("asks for the certificate after STARTTLS too", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* start({ ...mutual, secure: false })
      const raw = yield* RawClient.connect(port)
      yield* raw.reply
      yield* raw.command("STARTTLS")
      const secure = yield* raw.startTls({ ...trustA, ...client })
      assert.strictEqual(yield* secure.command("NOOP"), "250 2.0.0 OK\r\n")
      const session = yield* Queue.take(seen.secured)
      assert.strictEqual((session.tls?.peerCertificate as tls.PeerCertificate).subject.CN, "client.test")
    }).pipe(Effect.scoped))
})

describe("STARTTLS command injection (CVE-2011-0411)", () => {
  const ehloSecure = "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n" +
    "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-AUTH PLAIN LOGIN\r\n250 REQUIRETLS\r\n"

  it.live("discards a command written in the same write as STARTTLS", () =>
    Effect.gen(function*() {
      const { port } = yield* start({ ...mxA })
      const raw = yield* RawClient.connect(port)
      yield* raw.reply
      yield* raw.write("STARTTLS\r\nNOOP\r\n")
      assert.strictEqual(yield* raw.reply, "220 2.0.0 Ready to start TLS\r\n")
      const secure = yield* raw.startTls(trustA)
      // Had NOOP run after the handshake, its 250 OK would come first.
      assert.strictEqual(yield* secure.command("EHLO c"), ehloSecure)
      assert.strictEqual(yield* secure.command("NOOP"), "250 2.0.0 OK\r\n")
    }).pipe(Effect.scoped))

  it.live("discards a partial line written with STARTTLS, never completing it with bytes sent inside TLS", () =>
    Effect.gen(function*() {
      const { port } = yield* start({ ...mxA })
      const raw = yield* RawClient.connect(port)
      yield* raw.reply
      yield* raw.write("STARTTLS\r\nRSE")
      assert.strictEqual(yield* raw.reply, "220 2.0.0 Ready to start TLS\r\n")
      const secure = yield* raw.startTls(trustA)
      assert.strictEqual(yield* secure.command("T"), "500 5.5.1 Error: command not recognized\r\n")
    }).pipe(Effect.scoped))
})

describe("updateSecureContext", () => {
  it.live("new handshakes get the new certificate; a session already open keeps its own", () =>
    Effect.gen(function*() {
      const { port, server } = yield* start({ secure: true, ...mxA })
      const trustAny = { ca, checkServerIdentity: () => undefined }
      const before = yield* RawClient.connectTls(port, trustAny)
      assert.strictEqual(yield* before.reply, "220 mx.test ESMTP\r\n")
      assert.strictEqual(subject(before.socket), "mx-a.test")
      yield* server.updateSecureContext(mxB)
      const after = yield* RawClient.connectTls(port, trustAny)
      assert.strictEqual(yield* after.reply, "220 mx.test ESMTP\r\n")
      assert.strictEqual(subject(after.socket), "mx-b.test")
      assert.strictEqual(yield* before.command("NOOP"), "250 2.0.0 OK\r\n")
      assert.strictEqual(subject(before.socket), "mx-a.test")
    }).pipe(Effect.scoped))

  it.live("refuses options that make no secure context and keeps the old ones", () =>
    Effect.gen(function*() {
      const { port, server } = yield* start({ secure: true, ...mxA })
      const error = yield* Effect.flip(server.updateSecureContext({ key: mxB.key, cert: mxA.cert }))
      assert.strictEqual(error._tag, "SecureContextError")
      const raw = yield* RawClient.connectTls(port, trustA)
      assert.strictEqual(yield* raw.reply, "220 mx.test ESMTP\r\n")
    }).pipe(Effect.scoped))
})

describe("failed handshakes", () => {
  it.live("a plaintext client on the implicit TLS port is dropped, onClose is told, the server serves on", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* start({ secure: true, ...mxA })
      const raw = yield* RawClient.connect(port)
      yield* raw.write("EHLO plaintext.test\r\n")
      yield* raw.closed
      const session = yield* Queue.take(seen.closed)
      assert.strictEqual(session.tls, undefined)
      assert.strictEqual(session.heloName, undefined)
      const next = yield* RawClient.connectTls(port, trustA)
      assert.strictEqual(yield* next.reply, "220 mx.test ESMTP\r\n")
    }).pipe(Effect.scoped))

  it.live("a client that aborts mid-handshake ends its session cleanly", () =>
    Effect.gen(function*() {
      const { port, seen } = yield* start({ ...mxA })
      const raw = yield* RawClient.connect(port)
      yield* raw.reply
      yield* raw.command("STARTTLS")
      // The start of a ClientHello record, then the connection goes away.
      yield* raw.write(Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00, 0x01))
      raw.socket.destroy()
      const session = yield* Queue.take(seen.closed)
      assert.strictEqual(session.tls, undefined)
      const next = yield* RawClient.connect(port)
      assert.strictEqual(yield* next.reply, "220 mx.test ESMTP\r\n")
    }).pipe(Effect.scoped))

  it.live("a TLS client that aborts before finishing on the implicit port ends its session cleanly", () =>
    Effect.gen(function*() {
      const done = yield* Deferred.make<Session.SessionState>()
      const { port } = yield* start({ secure: true, ...mxA }, { onClose: (session) => Deferred.succeed(done, session) })
      const raw = yield* RawClient.connect(port)
      yield* raw.write(Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00, 0x01))
      raw.socket.end()
      assert.strictEqual((yield* Deferred.await(done)).tls, undefined)
    }).pipe(Effect.scoped))
})

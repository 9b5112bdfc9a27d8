import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel, Queue, Stream } from "effect"
import * as net from "node:net"
import nodemailer from "nodemailer"
import * as Hooks from "../../src/core/Hooks.js"
import * as Session from "../../src/core/Session.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"

// TLS comes from another branch: these tests speak AUTH over plaintext with allowInsecureAuth,
// and check the refusal without it.

interface Delivered {
  readonly user: unknown
  readonly transmissionType: string
  readonly body: string
}

const b64 = (text: string) => Buffer.from(text).toString("base64")

// Alice's password is "s3cret"; her XOAUTH2 token "good-token". An "expired" token gets the error challenge.
const onAuth: Context.Tag.Service<Hooks.OnAuth> = (credentials) => {
  if (credentials.username !== "alice") return SmtpError.authenticationFailed()
  switch (credentials.method) {
    case "PLAIN":
    case "LOGIN":
      return credentials.password === "s3cret" ? Effect.succeed({ user: "alice" }) : SmtpError.authenticationFailed()
    case "CRAM-MD5":
      return credentials.validatePassword("s3cret") ? Effect.succeed({ user: "alice" }) : SmtpError.authenticationFailed()
    case "XOAUTH2":
      if (credentials.accessToken === "good-token") return Effect.succeed({ user: "alice" })
      return Effect.fail(SmtpError.xoauth2Refused({ status: "401", schemes: "bearer" }))
    default:
      return SmtpError.authenticationFailed()
  }
}

// A server on a free port that requires AUTH; its data hook hands every message to the test.
const start = (options: Partial<NodeSmtpServer.Options> = {}) =>
  Effect.gen(function*() {
    const inbox = yield* Queue.unbounded<Delivered>()
    const hooks = Hooks.layer({
      onAuth,
      onData: (message, session) =>
        Stream.runFold(message.body, "", (acc, chunk) => acc + Buffer.from(chunk).toString()).pipe(
          Effect.flatMap((body) =>
            Queue.offer(inbox, { user: session.user, transmissionType: Session.transmissionType(session, false), body })
          ),
          Effect.asVoid
        )
    })
    const layer = NodeSmtpServer.layer({
      port: 0,
      host: "127.0.0.1",
      name: "mx.test",
      authOptional: false,
      allowInsecureAuth: true,
      authMethods: ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"],
      ...options
    }).pipe(Layer.provide(hooks))
    // The AUTH info lines are asserted in test/core/Auth.test.ts; keep this output quiet.
    const server = yield* Effect.map(Layer.build(layer), Context.get(NodeSmtpServer.SmtpServer)).pipe(
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
    return { port: server.address.port, inbox }
  })

const send = (port: number, auth: Record<string, unknown>) =>
  Effect.tryPromise(() =>
    nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, auth }).sendMail({
      envelope: { from: "alice@example.test", to: ["bob@example.test"] },
      raw: "Subject: hi\r\n\r\nhello\r\n"
    })
  )

describe("nodemailer logs in with each mechanism", () => {
  for (
    const [name, auth] of [
      ["PLAIN", { user: "alice", pass: "s3cret", method: "PLAIN" }],
      ["LOGIN", { user: "alice", pass: "s3cret", method: "LOGIN" }],
      ["CRAM-MD5", { user: "alice", pass: "s3cret", method: "CRAM-MD5" }],
      ["XOAUTH2", { type: "OAuth2", user: "alice", accessToken: "good-token" }]
    ] as const
  ) {
    it.live(`${name}: 235, then the message as alice with ESMTPA`, () =>
      Effect.gen(function*() {
        const { inbox, port } = yield* start()
        const info = yield* send(port, auth)
        assert.deepStrictEqual(info.accepted, ["bob@example.test"])
        const delivered = yield* Queue.take(inbox)
        assert.deepStrictEqual(delivered, { user: "alice", transmissionType: "ESMTPA", body: "Subject: hi\r\n\r\nhello\r\n" })
      }).pipe(Effect.scoped))
  }

  it.live("a wrong password fails with EAUTH and 535 5.7.8", () =>
    Effect.gen(function*() {
      const { port } = yield* start()
      const error = yield* Effect.flip(send(port, { user: "alice", pass: "guess", method: "LOGIN" }))
      const cause = error.error as { code?: string; response?: string }
      assert.strictEqual(cause.code, "EAUTH")
      assert.strictEqual(cause.response, "535 5.7.8 Error: Authentication credentials invalid")
    }).pipe(Effect.scoped))

  it.live("an expired XOAUTH2 token fails with EAUTH after the error challenge", () =>
    Effect.gen(function*() {
      const { port } = yield* start()
      const error = yield* Effect.flip(send(port, { type: "OAuth2", user: "alice", accessToken: "expired" }))
      assert.strictEqual((error.error as { code?: string }).code, "EAUTH")
    }).pipe(Effect.scoped))

  it.live("without credentials the message is refused with 530", () =>
    Effect.gen(function*() {
      const { port } = yield* start()
      const error = yield* Effect.flip(
        Effect.tryPromise(() =>
          nodemailer.createTransport({ host: "127.0.0.1", port, ignoreTLS: true }).sendMail({
            envelope: { from: "alice@example.test", to: ["bob@example.test"] },
            raw: "Subject: hi\r\n\r\nhello\r\n"
          })
        )
      )
      assert.strictEqual((error.error as { response?: string }).response, "530 5.7.0 Error: authentication Required")
    }).pipe(Effect.scoped))
})

// A line-oriented client on a raw socket: `reply` waits for the next whole reply.
interface Raw {
  readonly send: (text: string) => void
  readonly reply: Effect.Effect<string>
  readonly command: (line: string) => Effect.Effect<string>
  /** Half-closes the client's side. */
  readonly end: () => void
  readonly closed: Effect.Effect<void>
}

const raw = (port: number) =>
  Effect.acquireRelease(
    Effect.async<{ raw: Raw; socket: net.Socket }>((resume) => {
      const socket = net.connect(port, "127.0.0.1")
      socket.setEncoding("utf8")
      let buffer = ""
      let ended = false
      let wake: (() => void) | undefined
      socket.on("data", (data: string) => {
        buffer += data
        wake?.()
      })
      socket.on("close", () => {
        ended = true
        wake?.()
      })
      socket.on("error", () => {})
      const next: Effect.Effect<string> = Effect.async<string>((done) => {
        const check = () => {
          const end = replyEnd(buffer)
          if (end > 0) {
            const reply = buffer.slice(0, end)
            buffer = buffer.slice(end)
            wake = undefined
            done(Effect.succeed(reply))
          } else if (ended) {
            wake = undefined
            done(Effect.succeed(""))
          }
        }
        wake = check
        check()
      })
      const r: Raw = {
        send: (text) => socket.write(text),
        reply: next,
        command: (line) => Effect.zipRight(Effect.sync(() => socket.write(`${line}\r\n`)), next),
        end: () => socket.end(),
        closed: Effect.async<void>((done) => {
          if (ended) return done(Effect.void)
          socket.once("close", () => done(Effect.void))
        })
      }
      socket.once("connect", () => resume(Effect.succeed({ raw: r, socket })))
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  ).pipe(Effect.map(({ raw }) => raw))

const replyEnd = (text: string): number => {
  let start = 0
  for (;;) {
    const eol = text.indexOf("\r\n", start)
    if (eol < 0) return 0
    if (text.charAt(start + 3) !== "-") return eol + 2
    start = eol + 2
  }
}

// Connects, reads the greeting, says EHLO and returns the EHLO reply too.
const greeted = (port: number) =>
  Effect.gen(function*() {
    const client = yield* raw(port)
    assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
    const ehlo = yield* client.command("EHLO client.test")
    return { client, ehlo }
  })

const plain = (user: string, password: string) => b64(`\0${user}\0${password}`)

describe("AUTH on a raw socket", () => {
  it.live("advertises the mechanisms and answers each error with its exact reply", () =>
    Effect.gen(function*() {
      const { port } = yield* start()
      const { client, ehlo } = yield* greeted(port)
      assert.strictEqual(
        ehlo,
        "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
          "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-CHUNKING\r\n250-BINARYMIME\r\n" +
          "250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n250-STARTTLS\r\n250 LIMITS RCPTMAX=1000\r\n"
      )
      const script: Array<[string, string]> = [
        ["MAIL FROM:<alice@example.test>", "530 5.7.0 Error: authentication Required\r\n"],
        ["AUTH DIGEST-MD5", "504 5.5.4 Error: Unrecognized authentication type\r\n"],
        ["AUTH PLAIN", "334 \r\n"],
        ["*", "501 5.0.0 Authentication aborted\r\n"],
        ["AUTH LOGIN", "334 VXNlcm5hbWU6\r\n"],
        [b64("alice"), "334 UGFzc3dvcmQ6\r\n"],
        ["*", "501 5.0.0 Authentication aborted\r\n"],
        ["AUTH PLAIN not*base64", "501 5.5.2 Error: invalid base64 data\r\n"],
        [`AUTH PLAIN ${b64("alice\0s3cret")}`, "501 5.5.2 Error: invalid userdata\r\n"],
        [`AUTH PLAIN ${b64("\0alice\0s3cret\0more")}`, "501 5.5.2 Error: invalid userdata\r\n"],
        ["AUTH CRAM-MD5 abc", "501 5.5.4 Error: syntax: AUTH CRAM-MD5\r\n"],
        [`AUTH PLAIN ${plain("alice", "guess")}`, "535 5.7.8 Error: Authentication credentials invalid\r\n"],
        [`AUTH PLAIN ${plain("alice", "s3cret")}`, "235 2.7.0 Authentication successful\r\n"],
        ["AUTH LOGIN", "503 5.5.1 Error: No identity changes permitted\r\n"],
        ["MAIL FROM:<alice@example.test>", "250 2.1.0 Accepted\r\n"],
        ["QUIT", "221 2.0.0 Bye\r\n"]
      ]
      for (const [line, expected] of script) assert.strictEqual(yield* client.command(line), expected, line)
      yield* client.closed
    }).pipe(Effect.scoped))

  it.live("hides AUTH after login in a second EHLO", () =>
    Effect.gen(function*() {
      const { port } = yield* start()
      const { client } = yield* greeted(port)
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`), "235 2.7.0 Authentication successful\r\n")
      assert.notInclude(yield* client.command("EHLO client.test"), "AUTH")
    }).pipe(Effect.scoped))

  it.live("refuses AUTH during a transaction with 503 5.5.1", () =>
    Effect.gen(function*() {
      const { port } = yield* start({ authOptional: true })
      const { client } = yield* greeted(port)
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "250 2.1.0 Accepted\r\n")
      assert.strictEqual(
        yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`),
        "503 5.5.1 Error: AUTH not permitted during a mail transaction\r\n"
      )
    }).pipe(Effect.scoped))

  it.live("does the XOAUTH2 challenge dance: 334 base64 JSON, empty line, 535", () =>
    Effect.gen(function*() {
      const { port } = yield* start()
      const { client } = yield* greeted(port)
      const token = b64("user=alice\x01auth=Bearer expired\x01\x01")
      assert.strictEqual(
        yield* client.command(`AUTH XOAUTH2 ${token}`),
        `334 ${b64('{"status":"401","schemes":"bearer"}')}\r\n`
      )
      assert.strictEqual(yield* client.command(""), "535 5.7.8 Error: Username and Password not accepted\r\n")
      // The same dance without an initial response, then a good token.
      assert.strictEqual(yield* client.command("AUTH XOAUTH2"), "334 \r\n")
      assert.strictEqual(yield* client.command(b64("user=alice\x01auth=Bearer good-token\x01\x01")), "235 2.7.0 Authentication successful\r\n")
    }).pipe(Effect.scoped))

  it.live("refuses AUTH over plaintext with 538 5.7.11 unless allowInsecureAuth, and hides it", () =>
    Effect.gen(function*() {
      const { port } = yield* start({ allowInsecureAuth: false })
      const { client, ehlo } = yield* greeted(port)
      assert.notInclude(ehlo, "AUTH")
      assert.strictEqual(
        yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`),
        "538 5.7.11 Error: Must issue a STARTTLS command first\r\n"
      )
    }).pipe(Effect.scoped))

  it.live("treats AUTH in disabledCommands as unknown and hides it", () =>
    Effect.gen(function*() {
      const { port } = yield* start({ disabledCommands: ["AUTH"] })
      const { client, ehlo } = yield* greeted(port)
      assert.notInclude(ehlo, "AUTH")
      assert.strictEqual(yield* client.command("AUTH PLAIN"), "500 5.5.1 Error: command not recognized\r\n")
    }).pipe(Effect.scoped))

  it.live("closes with 421 4.7.0 at the tenth unauthenticated command", () =>
    Effect.gen(function*() {
      const { port } = yield* start()
      const { client } = yield* greeted(port)
      // EHLO was the first; eight more pass, pipelined in one write.
      client.send("NOOP\r\n".repeat(8))
      for (let i = 0; i < 8; i++) assert.strictEqual(yield* client.reply, "250 2.0.0 OK\r\n")
      assert.strictEqual(yield* client.command("NOOP"), "421 4.7.0 Error: too many unauthenticated commands\r\n")
      yield* client.closed
    }).pipe(Effect.scoped))

  it.live("ends the session cleanly when the client leaves mid-AUTH", () =>
    Effect.gen(function*() {
      const { port } = yield* start()
      const { client } = yield* greeted(port)
      assert.strictEqual(yield* client.command("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n")
      client.send(`${b64("alice")}\r\n`)
      assert.strictEqual(yield* client.reply, "334 UGFzc3dvcmQ6\r\n")
      client.end()
      // The server closes its side too, without a reply.
      assert.strictEqual(yield* client.reply, "")
      yield* client.closed
      // A second connection still works: the first one's end harmed nothing.
      const { client: other } = yield* greeted(port)
      assert.strictEqual(yield* other.command(`AUTH PLAIN ${plain("alice", "s3cret")}`), "235 2.7.0 Authentication successful\r\n")
    }).pipe(Effect.scoped))
})

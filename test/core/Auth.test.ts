import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Logger, LogLevel, Ref, TestClock } from "effect"
import { createHmac } from "node:crypto"
import * as Hooks from "../../src/core/Hooks.js"
import { decode, type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import * as Session from "../../src/core/Session.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import type * as Transport from "../../src/core/Transport.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as TestClient from "../../src/testing/TestClient.js"

const tls: Transport.TlsInfo = { name: "TLS_AES_128_GCM_SHA256", standardName: "TLS_AES_128_GCM_SHA256", version: "TLSv1.3" }
const b64 = (text: string) => Buffer.from(text).toString("base64")
const unb64 = (text: string) => Buffer.from(text, "base64").toString()

// Accepts alice with "s3cret" by any mechanism; the XOAUTH2 token is "good-token".
const onAuth: Context.Tag.Service<Hooks.OnAuth> = (credentials) => {
  const ok = credentials.username === "alice" && (() => {
    switch (credentials.method) {
      case "PLAIN":
      case "LOGIN":
        return credentials.password === "s3cret"
      case "CRAM-MD5":
        return credentials.validatePassword("s3cret")
      case "XOAUTH2":
        return credentials.accessToken === "good-token"
      case "XCLIENT":
        return false
    }
  })()
  return ok ? Effect.succeed({ user: { name: "alice" } }) : SmtpError.authenticationFailed()
}

const serverWith = (config: Input = {}, hooks: Hooks.Implementations = { onAuth }) =>
  TestClient.server.pipe(
    Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", closeTimeout: 0, ...config }), Hooks.layer(hooks)))
  )

// Connects (securely unless told otherwise), reads the greeting and says EHLO.
const greeted = (server: TestClient.TestServer, secure = true) =>
  Effect.gen(function*() {
    const client = yield* server.connect(undefined, secure ? { tls } : {})
    yield* client.reply
    yield* client.command("EHLO client.test")
    return client
  })

const plain = (user: string, password: string, authzid = "") => b64(`${authzid}\0${user}\0${password}`)
const ehloLines = (reply: string) => reply.split("\r\n").filter((l) => l !== "").map((l) => l.slice(4))

describe("AUTH policy and EHLO", () => {
  it.scoped("advertises AUTH PLAIN LOGIN on a secure connection, and hides it once authenticated", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* server.connect(undefined, { tls })
      yield* client.reply
      assert.include(ehloLines(yield* client.command("EHLO client.test")), "AUTH PLAIN LOGIN")
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`), "235 2.7.0 Authentication successful\r\n")
      assert.notInclude(yield* client.command("EHLO client.test"), "AUTH")
    }))

  it.scoped("does not advertise AUTH over plaintext, and refuses it with 538 5.7.11", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* server.connect()
      yield* client.reply
      assert.notInclude(yield* client.command("EHLO client.test"), "AUTH")
      assert.strictEqual(
        yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`),
        "538 5.7.11 Error: Must issue a STARTTLS command first\r\n"
      )
    }))

  it.scoped("advertises and accepts AUTH over plaintext with allowInsecureAuth", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ allowInsecureAuth: true, authMethods: ["cram-md5", "Xoauth2", "PLAIN"] })
      const client = yield* greeted(server, false)
      assert.include(ehloLines(yield* client.command("EHLO client.test")), "AUTH CRAM-MD5 XOAUTH2 PLAIN")
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`), "235 2.7.0 Authentication successful\r\n")
    }))

  it.effect("refuses an unknown mechanism in authMethods, naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode({ authMethods: ["PLAIN", "DIGEST-MD5"] }))
      assert.include(error.message, "authMethods")
      assert.include(error.message, "DIGEST-MD5")
    }))

  it.scoped("hides and refuses AUTH listed in disabledCommands", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ disabledCommands: ["auth"], authOptional: false })
      const client = yield* server.connect(undefined, { tls })
      yield* client.reply
      assert.notInclude(yield* client.command("EHLO client.test"), "AUTH")
      assert.strictEqual(yield* client.command("AUTH PLAIN"), "500 5.5.1 Error: command not recognized\r\n")
      // Without AUTH on offer, nothing can be required.
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "250 2.1.0 Accepted\r\n")
    }))

  it.scoped("turns AUTH off with an empty authMethods: not advertised, 504, not required", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authMethods: [], authOptional: false })
      const client = yield* greeted(server)
      assert.notInclude(yield* client.command("EHLO client.test"), "AUTH")
      assert.strictEqual(yield* client.command("AUTH PLAIN"), "504 5.5.4 Error: Unrecognized authentication type\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "250 2.1.0 Accepted\r\n")
    }))

  it.scoped("needs EHLO before AUTH: 503 5.5.1", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* server.connect(undefined, { tls })
      yield* client.reply
      assert.strictEqual(yield* client.command("AUTH PLAIN"), "503 5.5.1 Error: send HELO/EHLO first\r\n")
    }))

  it.scoped("without authOptional refuses MAIL, RCPT and DATA with 530 5.7.0 until AUTH", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authOptional: false })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "530 5.7.0 Error: authentication Required\r\n")
      assert.strictEqual(yield* client.command("RCPT TO:<b@example.test>"), "530 5.7.0 Error: authentication Required\r\n")
      assert.strictEqual(yield* client.command("DATA"), "530 5.7.0 Error: authentication Required\r\n")
      // Even a malformed MAIL: a stranger learns nothing from the parser.
      assert.strictEqual(yield* client.command("MAIL FROM:<oops"), "530 5.7.0 Error: authentication Required\r\n")
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`), "235 2.7.0 Authentication successful\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "250 2.1.0 Accepted\r\n")
    }))

  it.scoped("uses authRequiredMessage as the 530 text", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authOptional: false, authRequiredMessage: "Log in first, please" })
      const client = yield* greeted(server, false)
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "530 5.7.0 Log in first, please\r\n")
    }))

  it.scoped("says 503 send HELO first, not 530, before the greeting", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authOptional: false })
      const client = yield* server.connect(undefined, { tls })
      yield* client.reply
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "503 5.5.1 Error: send HELO/EHLO first\r\n")
    }))

  it.scoped("closes with 421 4.7.0 at the tenth command before AUTH, not counting AUTH", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authOptional: false })
      const client = yield* greeted(server) // 1
      for (let i = 2; i <= 9; i++) {
        assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
        // Failed logins and their continuation lines are not counted.
        assert.strictEqual(yield* client.command("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n")
        assert.strictEqual(yield* client.command("*"), "501 5.0.0 Authentication aborted\r\n")
      }
      assert.strictEqual(yield* client.command("NOOP"), "421 4.7.0 Error: too many unauthenticated commands\r\n")
      yield* client.closed
    }))

  it.scoped("stops counting once authenticated", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authOptional: false, maxAllowedUnauthenticatedCommands: 3 })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`), "235 2.7.0 Authentication successful\r\n")
      for (let i = 0; i < 5; i++) assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("has no limit with maxAllowedUnauthenticatedCommands: false", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authOptional: false, maxAllowedUnauthenticatedCommands: false })
      const client = yield* greeted(server)
      for (let i = 0; i < 30; i++) assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("does not count commands when AUTH is optional (the Effect API default)", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* greeted(server)
      for (let i = 0; i < 30; i++) assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "250 2.1.0 Accepted\r\n")
    }))
})

describe("AUTH mechanisms", () => {
  it.scoped("PLAIN without an initial response: empty 334 challenge, then 235", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith())
      assert.strictEqual(yield* client.command("AUTH PLAIN"), "334 \r\n")
      assert.strictEqual(yield* client.command(plain("alice", "s3cret")), "235 2.7.0 Authentication successful\r\n")
    }))

  it.scoped("LOGIN asks Username: then Password:", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith())
      assert.strictEqual(yield* client.command("auth login"), "334 VXNlcm5hbWU6\r\n")
      assert.strictEqual(yield* client.command(b64("alice")), "334 UGFzc3dvcmQ6\r\n")
      assert.strictEqual(yield* client.command(b64("s3cret")), "235 2.7.0 Authentication successful\r\n")
    }))

  it.scoped("CRAM-MD5 sends <nonce.timestamp@name> and accepts the HMAC-MD5 of it", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith({ authMethods: ["CRAM-MD5"] }))
      const reply = yield* client.command("AUTH CRAM-MD5")
      assert.match(reply, /^334 [A-Za-z0-9+/]+=*\r\n$/)
      const challenge = unb64(reply.slice(4, -2))
      // The TestClock stands at 0 seconds.
      assert.match(challenge, /^<[0-9a-f]{32}\.0@mx\.test>$/)
      const digest = createHmac("md5", "s3cret").update(challenge).digest("hex")
      assert.strictEqual(yield* client.command(b64(`alice ${digest}`)), "235 2.7.0 Authentication successful\r\n")
    }))

  it.scoped("CRAM-MD5 challenges differ per attempt and a wrong password gets 535", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith({ authMethods: ["CRAM-MD5"] }))
      const first = yield* client.command("AUTH CRAM-MD5")
      const digest = createHmac("md5", "wrong").update(unb64(first.slice(4, -2))).digest("hex")
      assert.strictEqual(yield* client.command(b64(`alice ${digest}`)), "535 5.7.8 Error: Authentication credentials invalid\r\n")
      assert.notStrictEqual(yield* client.command("AUTH CRAM-MD5"), first)
    }))

  it.scoped("XOAUTH2 with a good token: 235", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith({ authMethods: ["XOAUTH2"] }))
      assert.strictEqual(
        yield* client.command(`AUTH XOAUTH2 ${b64("user=alice\x01auth=Bearer good-token\x01\x01")}`),
        "235 2.7.0 Authentication successful\r\n"
      )
    }))

  it.scoped("XOAUTH2 refusal with data: 334 base64 JSON, the client's empty line, then 535", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authMethods: ["XOAUTH2"] }, {
        onAuth: () => Effect.fail(SmtpError.xoauth2Refused({ status: "401", schemes: "bearer", scope: "mail" }))
      })
      const client = yield* greeted(server)
      const reply = yield* client.command(`AUTH XOAUTH2 ${b64("user=alice\x01auth=Bearer expired\x01\x01")}`)
      assert.strictEqual(reply, `334 ${b64('{"status":"401","schemes":"bearer","scope":"mail"}')}\r\n`)
      assert.strictEqual(yield* client.command(""), "535 5.7.8 Error: Username and Password not accepted\r\n")
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("XOAUTH2 refusal with data and a reply of the hook's choosing", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authMethods: ["XOAUTH2"] }, {
        onAuth: () => Effect.fail(SmtpError.xoauth2Refused({ status: "400" }, Reply.make(454, "Token service down", "4.7.0")))
      })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("AUTH XOAUTH2"), "334 \r\n")
      assert.strictEqual(yield* client.command(b64("user=alice\x01auth=Bearer t\x01\x01")), `334 ${b64('{"status":"400"}')}\r\n`)
      assert.strictEqual(yield* client.command(""), "454 4.7.0 Token service down\r\n")
    }))

  it.scoped("sends a refusal's data only for XOAUTH2", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, { onAuth: () => Effect.fail(SmtpError.xoauth2Refused({ status: "401" })) })
      const client = yield* greeted(server)
      assert.strictEqual(
        yield* client.command(`AUTH PLAIN ${plain("alice", "x")}`),
        "535 5.7.8 Error: Username and Password not accepted\r\n"
      )
    }))
})

describe("AUTH replies", () => {
  it.scoped("refuses wrong credentials with 535 5.7.8 and allows another attempt", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith())
      assert.strictEqual(
        yield* client.command(`AUTH PLAIN ${plain("alice", "guess")}`),
        "535 5.7.8 Error: Authentication credentials invalid\r\n"
      )
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`), "235 2.7.0 Authentication successful\r\n")
    }))

  it.scoped("sends the hook's own refusal", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, { onAuth: () => SmtpError.make(454, "Temporary authentication failure", "4.7.0") })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${plain("a", "b")}`), "454 4.7.0 Temporary authentication failure\r\n")
    }))

  it.scoped("sends the hook's own success text and 2xx code, ignoring a code outside 2xx", () =>
    Effect.gen(function*() {
      let code = 250
      const server = yield* serverWith({}, { onAuth: () => Effect.succeed({ user: "a", message: "Welcome back", code }) })
      const first = yield* greeted(server)
      assert.strictEqual(yield* first.command(`AUTH PLAIN ${plain("a", "b")}`), "250 2.7.0 Welcome back\r\n")
      code = 535
      const second = yield* greeted(server)
      assert.strictEqual(yield* second.command(`AUTH PLAIN ${plain("a", "b")}`), "235 2.7.0 Welcome back\r\n")
    }))

  it.scoped("counts a success without a user as a refusal", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authOptional: false }, { onAuth: () => Effect.succeed({ user: undefined }) })
      const client = yield* greeted(server)
      assert.strictEqual(
        yield* client.command(`AUTH PLAIN ${plain("a", "b")}`),
        "535 5.7.8 Error: Authentication credentials invalid\r\n"
      )
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "530 5.7.0 Error: authentication Required\r\n")
    }))

  it.scoped("turns a hook defect into 451 4.3.0 and stays unauthenticated", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ authOptional: false }, { onAuth: () => Effect.die("directory exploded") })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${plain("a", "b")}`), "451 4.3.0 Error: internal server error\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "530 5.7.0 Error: authentication Required\r\n")
    }))

  it.scoped("refuses a second AUTH with 503 5.5.1 No identity changes permitted", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith())
      yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`)
      assert.strictEqual(yield* client.command("AUTH LOGIN"), "503 5.5.1 Error: No identity changes permitted\r\n")
    }))

  it.scoped("refuses AUTH during a transaction with 503 5.5.1", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith())
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "250 2.1.0 Accepted\r\n")
      assert.strictEqual(
        yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`),
        "503 5.5.1 Error: AUTH not permitted during a mail transaction\r\n"
      )
    }))

  it.scoped("refuses a mechanism that is not enabled with 504 5.5.4", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith())
      assert.strictEqual(yield* client.command("AUTH CRAM-MD5"), "504 5.5.4 Error: Unrecognized authentication type\r\n")
      assert.strictEqual(yield* client.command("AUTH GSSAPI"), "504 5.5.4 Error: Unrecognized authentication type\r\n")
    }))

  it.scoped("answers * with 501 5.0.0, bad base64 and wrong fields with 501 5.5.2", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith())
      yield* client.command("AUTH PLAIN")
      assert.strictEqual(yield* client.command("*"), "501 5.0.0 Authentication aborted\r\n")
      assert.strictEqual(yield* client.command("AUTH PLAIN !!!!"), "501 5.5.2 Error: invalid base64 data\r\n")
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${b64("alice\0s3cret")}`), "501 5.5.2 Error: invalid userdata\r\n")
      assert.strictEqual(yield* client.command("AUTH PLAIN ="), "501 5.5.2 Error: invalid userdata\r\n")
      assert.strictEqual(yield* client.command("AUTH PLAIN a b"), "501 5.5.4 Error: syntax: AUTH PLAIN token\r\n")
    }))

  it.scoped("never parses a continuation line as a command", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith())
      yield* client.command("AUTH LOGIN")
      // "QUIT" is valid base64 (of "A", "B", 0x13): a user name with a control character.
      assert.strictEqual(yield* client.command("QUIT"), "501 5.5.2 Error: invalid userdata\r\n")
      yield* client.command("AUTH PLAIN")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "501 5.5.2 Error: invalid base64 data\r\n")
      assert.strictEqual(yield* client.command("RCPT TO:<b@example.test>"), "503 5.5.1 Error: need MAIL command\r\n")
    }))

  it.scoped("ends the exchange with 500 5.5.6 on a line past the limit, and stays usable", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith({ maxLineLength: 512 }))
      yield* client.command("AUTH PLAIN")
      assert.strictEqual(
        yield* client.command("A".repeat(600)),
        "500 5.5.6 Error: authentication exchange line is too long\r\n"
      )
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("ends cleanly when the client leaves mid-AUTH, and runs onClose", () =>
    Effect.gen(function*() {
      const closed = yield* Deferred.make<Session.SessionState>()
      const server = yield* serverWith({}, { onAuth, onClose: (s) => Deferred.succeed(closed, s) })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n")
      yield* client.send(`${b64("alice")}\r\n`)
      assert.strictEqual(yield* client.reply, "334 UGFzc3dvcmQ6\r\n")
      yield* client.end
      yield* client.closed
      assert.strictEqual((yield* Deferred.await(closed)).user, undefined)
      assert.strictEqual(yield* client.reply, "")
    }))

  it.scoped("closes with 421 when the client goes idle mid-AUTH", () =>
    Effect.gen(function*() {
      const client = yield* greeted(yield* serverWith({ socketTimeout: 10_000 }))
      assert.strictEqual(yield* client.command("AUTH PLAIN"), "334 \r\n")
      const reply = yield* Effect.fork(client.reply)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* Fiber.join(reply), "421 4.4.2 Timeout - closing connection\r\n")
      yield* client.closed
    }))
})

describe("AUTH and the session", () => {
  it.scoped("keeps the hook's user for later hooks, with transmission type ESMTPSA or ESMTPA", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<Array<[unknown, string]>>([])
      const onMailFrom: Context.Tag.Service<Hooks.OnMailFrom> = (_, session) =>
        Ref.update(seen, (a): Array<[unknown, string]> => [...a, [session.user, Session.transmissionType(session, false)]])
      const server = yield* serverWith({ allowInsecureAuth: true }, { onAuth, onMailFrom })
      for (const secure of [true, false]) {
        const client = yield* greeted(server, secure)
        yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`)
        yield* client.command("RSET")
        yield* client.command("EHLO again.test")
        assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "250 2.1.0 Accepted\r\n")
      }
      assert.deepStrictEqual(yield* Ref.get(seen), [[{ name: "alice" }, "ESMTPSA"], [{ name: "alice" }, "ESMTPA"]])
    }))

  it.scoped("hands the hook PLAIN's authzid and the session so far", () =>
    Effect.gen(function*() {
      const got = yield* Deferred.make<[Hooks.Credentials, Session.SessionState]>()
      const server = yield* serverWith({}, {
        onAuth: (credentials, session) =>
          Effect.as(Deferred.succeed(got, [credentials, session] as [Hooks.Credentials, Session.SessionState]), { user: "bob" })
      })
      const client = yield* greeted(server)
      yield* client.command(`AUTH PLAIN ${plain("bob", "pw", "shared-mailbox")}`)
      const [credentials, session] = yield* Deferred.await(got)
      assert.deepStrictEqual(credentials, { method: "PLAIN", username: "bob", password: "pw", authzid: "shared-mailbox" })
      assert.strictEqual(session.heloName, "client.test")
      assert.strictEqual(session.user, undefined)
    }))
})

describe("AUTH logs", () => {
  it.scoped("logs the mechanism and user name, never a password, token, digest or response", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => lines.push(line)))
      const server = yield* serverWith({ authMethods: ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"] }).pipe(
        Effect.provide(Layer.merge(capture, Logger.minimumLogLevel(LogLevel.All)))
      )
      const secrets: Array<string> = ["s3cret", "good-token", "wrong-pass"]
      const send = (client: TestClient.TestClient, line: string) => {
        secrets.push(line)
        return client.command(line)
      }
      let client = yield* greeted(server)
      yield* send(client, `AUTH PLAIN ${plain("alice", "s3cret")}`)
      client = yield* greeted(server)
      yield* send(client, `AUTH PLAIN ${plain("alice", "wrong-pass")}`)
      yield* client.command("AUTH LOGIN")
      yield* send(client, b64("alice"))
      yield* send(client, b64("s3cret"))
      client = yield* greeted(server)
      const challenge = unb64((yield* client.command("AUTH CRAM-MD5")).slice(4, -2))
      const digest = createHmac("md5", "s3cret").update(challenge).digest("hex")
      secrets.push(digest)
      yield* send(client, b64(`alice ${digest}`))
      client = yield* greeted(server)
      yield* send(client, `AUTH XOAUTH2 ${b64("user=alice\x01auth=Bearer good-token\x01\x01")}`)
      client = yield* greeted(server)
      yield* send(client, "AUTH PLAIN !!not-base64-wrong-pass")

      const auth = lines.filter((l) => l.includes("AUTH"))
      assert.strictEqual(auth.filter((l) => l.includes("AUTH succeeded")).length, 4)
      for (const mechanism of ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]) {
        assert.isTrue(auth.some((l) => l.includes(`mechanism=${mechanism}`) && l.includes("username=alice")), mechanism)
      }
      assert.isTrue(auth.some((l) => l.includes("AUTH refused") && l.includes("code=535")))
      for (const line of lines) {
        for (const secret of secrets) assert.notInclude(line, secret.replace(/^AUTH \S+ /, ""))
      }
    }))
})

// A user directory the auth hook depends on: the hook is a Layer built from it.
class Directory extends Context.Tag("test/Directory")<Directory, {
  readonly check: (user: string, password: string) => Effect.Effect<boolean>
}>() {}

const authFromDirectory = Layer.effect(
  Hooks.OnAuth,
  Effect.gen(function*() {
    const directory = yield* Directory
    return Effect.fn("OnAuth.directory")(function*(credentials) {
      if (credentials.method !== "PLAIN" && credentials.method !== "LOGIN") return yield* SmtpError.authenticationFailed()
      if (!(yield* directory.check(credentials.username, credentials.password))) {
        return yield* SmtpError.authenticationFailed("Error: bad user or password")
      }
      return { user: { id: credentials.username }, message: `Hello ${credentials.username}` }
    })
  })
)

describe("the auth hook as a layer", () => {
  const directory = Layer.succeed(Directory, { check: (user, password) => Effect.succeed(user === "carol" && password === "pw") })
  const hooks = Layer.merge(Hooks.layer(), authFromDirectory.pipe(Layer.provide(directory)))

  it.scoped("authenticates through a hook layer with its own dependency", () =>
    Effect.gen(function*() {
      const server = yield* TestClient.server.pipe(
        Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", closeTimeout: 0, authOptional: false }), hooks))
      )
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${plain("carol", "nope")}`), "535 5.7.8 Error: bad user or password\r\n")
      assert.strictEqual(yield* client.command(`AUTH PLAIN ${plain("carol", "pw")}`), "235 2.7.0 Hello carol\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<carol@example.test>"), "250 2.1.0 Accepted\r\n")
    }))

  it.scoped("without an auth layer, the default refuses every login and mail needs none", () =>
    Effect.gen(function*() {
      const server = yield* TestClient.server.pipe(
        Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", closeTimeout: 0 }), Hooks.Default))
      )
      const client = yield* greeted(server)
      assert.strictEqual(
        yield* client.command(`AUTH PLAIN ${plain("alice", "s3cret")}`),
        "535 5.7.8 Error: Authentication credentials invalid\r\n"
      )
      assert.strictEqual(yield* client.command("MAIL FROM:<a@example.test>"), "250 2.1.0 Accepted\r\n")
    }))

  it.effect("refuses in a unit test of the layer alone", () =>
    Effect.gen(function*() {
      const hook = yield* Hooks.OnAuth
      const session = Session.make("id", { remoteAddress: "127.0.0.1", remotePort: 1, localAddress: "127.0.0.1", localPort: 25 }, tls)
      const exit = yield* Effect.exit(hook({ method: "LOGIN", username: "carol", password: "x" }, session))
      assert.isTrue(Exit.isFailure(exit))
      const ok = yield* hook({ method: "LOGIN", username: "carol", password: "pw" }, session)
      assert.deepStrictEqual(ok, { user: { id: "carol" }, message: "Hello carol" })
    }).pipe(
      Effect.provide(authFromDirectory.pipe(Layer.provide(directory))),
      Effect.provideService(Session.Session, { get: Effect.die("unused"), raw: Effect.die("unused") })
    ))
})

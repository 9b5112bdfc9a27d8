import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Ref, Stream, TestClock } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import * as TestClient from "../../src/testing/TestClient.js"

const decoder = new TextDecoder()

// A server with the given options and hooks, started in the test's scope.
const serverWith = (config: Input = {}, hooks: Hooks.Implementations = {}) =>
  TestClient.server.pipe(Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", closeTimeout: 0, ...config }), Hooks.layer(hooks))))

// Connects and reads the greeting.
const connect = (server: TestClient.TestServer) =>
  Effect.tap(server.connect(), (client) => client.reply)

// Connects, reads the greeting and says EHLO.
const greeted = (server: TestClient.TestServer) =>
  Effect.tap(connect(server), (client) => client.command("EHLO client.test"))

describe("Connection", () => {
  it.scoped("greets with 220, the name and ESMTP", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ banner: "welcome" })
      const client = yield* server.connect()
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP welcome\r\n")
    }))

  it.scoped("answers EHLO with the capability list and enhanced codes advertised", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ size: 1000 })
      const client = yield* connect(server)
      assert.strictEqual(
        yield* client.command("EHLO client.test"),
        "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
          "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-SIZE 1000\r\n" +
          "250 LIMITS RCPTMAX=1000\r\n"
      )
    }))

  it.scoped("answers HELO with one line and hides nothing else", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ heloResponse: "%s greets %s" })
      const client = yield* connect(server)
      assert.strictEqual(yield* client.command("HELO client.test"), "250 mx.test greets [127.0.0.1]\r\n")
    }))

  it.scoped("hides capabilities that are configured hidden", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({
        hidePIPELINING: true,
        hide8BITMIME: true,
        hideSMTPUTF8: true,
        hideDSN: true,
        hideENHANCEDSTATUSCODES: true,
        size: 10,
        hideSize: true,
        hideCHUNKING: true,
        hideLIMITS: true
      })
      const client = yield* connect(server)
      assert.strictEqual(yield* client.command("EHLO c"), "250-mx.test Nice to meet you, [127.0.0.1]\r\n250 SIZE\r\n")
      // Without ENHANCEDSTATUSCODES advertised, replies carry none (RFC 2034 §3).
      assert.strictEqual(yield* client.command("NOOP"), "250 OK\r\n")
    }))

  it.scoped("runs a whole transaction and hands the hook the envelope and exact body", () =>
    Effect.gen(function*() {
      const received = yield* Deferred.make<{ from: string; to: Array<string>; body: string }>()
      const server = yield* serverWith({}, {
        onData: (message) =>
          Effect.gen(function*() {
            const chunks = yield* Stream.runCollect(message.body)
            const body = decoder.decode(Buffer.concat([...chunks]))
            yield* Deferred.succeed(received, {
              from: message.envelope.mailFrom!.address,
              to: message.envelope.rcptTo.map((r) => r.address),
              body
            })
          })
      })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
      assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "250 2.1.5 Accepted\r\n")
      assert.strictEqual(yield* client.command("RCPT TO:<c@y.test>"), "250 2.1.5 Accepted\r\n")
      assert.strictEqual(yield* client.command("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n")
      yield* client.send("Subject: hi\r\n\r\n..dot\r\nline\r\n.\r\n")
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message queued\r\n")
      assert.deepStrictEqual(yield* Deferred.await(received), {
        from: "a@x.test",
        to: ["b@y.test", "c@y.test"],
        body: "Subject: hi\r\n\r\n.dot\r\nline\r\n"
      })
      assert.strictEqual(yield* client.command("QUIT"), "221 2.0.0 Bye\r\n")
      yield* client.closed
    }))

  it.scoped("writes the replies of a pipelined batch together, in order", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* greeted(server)
      yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nbody\r\n.\r\nQUIT\r\n")
      // All replies arrive in one write: take() returns them in one piece.
      assert.strictEqual(
        (yield* client.reply) + (yield* client.reply) + (yield* client.reply) + (yield* client.reply) +
          (yield* client.reply),
        "250 2.1.0 Accepted\r\n250 2.1.5 Accepted\r\n354 End data with <CR><LF>.<CR><LF>\r\n" +
          "250 2.6.0 OK: message queued\r\n221 2.0.0 Bye\r\n"
      )
    }))

  it.scoped.each([
    ["MAIL FROM:<a@x.test>", "503 5.5.1 Error: send HELO/EHLO first\r\n"],
    ["RCPT TO:<a@x.test>", "503 5.5.1 Error: send HELO/EHLO first\r\n"],
    ["DATA", "503 5.5.1 Error: send HELO/EHLO first\r\n"]
  ])("refuses %s before a greeting: %s", ([line, expected]) =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* connect(server)
      assert.strictEqual(yield* client.command(line), expected)
    }))

  it.scoped("enforces the command sequence with 503 5.5.1", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "503 5.5.1 Error: need MAIL command\r\n")
      assert.strictEqual(yield* client.command("DATA"), "503 5.5.1 Error: need RCPT command\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "503 5.5.1 Error: nested MAIL command\r\n")
      assert.strictEqual(yield* client.command("DATA"), "503 5.5.1 Error: need RCPT command\r\n")
      assert.strictEqual(yield* client.command("RSET"), "250 2.0.0 Flushed\r\n")
      assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "503 5.5.1 Error: need MAIL command\r\n")
    }))

  it.scoped("answers NOOP, VRFY and HELP", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
      assert.strictEqual(yield* client.command("VRFY postmaster"), "252 2.1.5 Try to send something. No promises though\r\n")
      assert.strictEqual(yield* client.command("HELP"), "214 2.0.0 See https://tools.ietf.org/html/rfc5321 for details\r\n")
    }))

  it.scoped("answers unknown commands with 500 5.5.1 and closes with 421 after ten", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* greeted(server)
      for (let i = 1; i < 10; i++) {
        assert.strictEqual(yield* client.command("BOGUS"), "500 5.5.1 Error: command not recognized\r\n")
      }
      assert.strictEqual(yield* client.command("BOGUS"), "421 4.4.2 Error: too many unrecognized commands\r\n")
      yield* client.closed
    }))

  it.scoped("treats disabled commands as unknown", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ disabledCommands: ["vrfy"] })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("VRFY x"), "500 5.5.1 Error: command not recognized\r\n")
    }))

  it.scoped("answers a line past the limit with 500 5.5.2 and stays usable", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ maxLineLength: 512 })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command(`NOOP ${"x".repeat(600)}`), "500 5.5.2 Line too long\r\n")
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("refuses a declared SIZE over the limit with 552 5.3.4", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ size: 100 })
      const client = yield* greeted(server)
      assert.strictEqual(
        yield* client.command("MAIL FROM:<a@x.test> SIZE=101"),
        "552 5.3.4 Error: message exceeds fixed maximum message size 100\r\n"
      )
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test> SIZE=100"), "250 2.1.0 Accepted\r\n")
    }))

  it.scoped("refuses a body past the size limit with 552 5.3.4 after reading it all", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<string>("")
      const server = yield* serverWith({ size: 10 }, {
        onData: (message) =>
          Stream.runDrain(message.body).pipe(Effect.catchTag("MessageError", (e) => Ref.set(seen, e.reason)))
      })
      const client = yield* greeted(server)
      yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
      yield* client.reply
      yield* client.reply
      assert.strictEqual(yield* client.reply, "354 End data with <CR><LF>.<CR><LF>\r\n")
      yield* client.send(`${"x".repeat(50)}\r\n${"y".repeat(50)}\r\n.\r\nNOOP\r\n`)
      assert.strictEqual(yield* client.reply, "552 5.3.4 Error: message exceeds fixed maximum message size 10\r\n")
      assert.strictEqual(yield* client.reply, "250 2.0.0 OK\r\n")
      assert.strictEqual(yield* Ref.get(seen), "SizeExceeded")
    }))

  it.scoped("refuses recipients past maxRecipients with 452 4.5.3", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ maxRecipients: 2 })
      const client = yield* greeted(server)
      yield* client.command("MAIL FROM:<a@x.test>")
      assert.strictEqual(yield* client.command("RCPT TO:<1@y.test>"), "250 2.1.5 Accepted\r\n")
      assert.strictEqual(yield* client.command("RCPT TO:<2@y.test>"), "250 2.1.5 Accepted\r\n")
      assert.strictEqual(yield* client.command("RCPT TO:<3@y.test>"), "452 4.5.3 Error: too many recipients\r\n")
    }))

  it.scoped("sends a hook's SmtpError as the reply and keeps the session", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, {
        onRcptTo: (rcpt) => rcpt.address.startsWith("nobody") ? SmtpError.noSuchUser(rcpt.address) : Effect.void
      })
      const client = yield* greeted(server)
      yield* client.command("MAIL FROM:<a@x.test>")
      assert.strictEqual(
        yield* client.command("RCPT TO:<nobody@y.test>"),
        "550 5.1.1 <nobody@y.test>: no such user\r\n"
      )
      assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "250 2.1.5 Accepted\r\n")
    }))

  it.scoped("turns a hook defect into 451 4.3.0 for that command only", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, { onMailFrom: () => Effect.die(new Error("boom")) })
      const client = yield* greeted(server)
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "451 4.3.0 Error: internal server error\r\n")
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("refuses the connection when onConnect fails, with its reply", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, {
        onConnect: () => Effect.fail(new SmtpError({ reply: { code: 554, enhanced: "5.7.1", text: "go away" } }))
      })
      const client = yield* server.connect()
      assert.strictEqual(yield* client.reply, "554 5.7.1 go away\r\n")
      yield* client.closed
    }))

  it.scoped("runs onClose exactly once with the final session", () =>
    Effect.gen(function*() {
      const closes = yield* Ref.make<Array<number>>([])
      const done = yield* Deferred.make<void>()
      const server = yield* serverWith({}, {
        onClose: (session) => Ref.update(closes, (a) => [...a, session.transactions]).pipe(Effect.zipRight(Deferred.succeed(done, undefined)))
      })
      const client = yield* greeted(server)
      yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n")
      for (let i = 0; i < 4; i++) yield* client.reply
      yield* client.end
      yield* Deferred.await(done)
      assert.deepStrictEqual(yield* Ref.get(closes), [1])
    }))

  it.scoped("closes an idle connection after socketTimeout with 421", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ socketTimeout: 60_000 })
      const client = yield* greeted(server)
      const reply = yield* Effect.fork(client.reply)
      yield* TestClock.adjust("59 seconds")
      assert.isFalse(yield* client.isClosed)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(reply), "421 4.4.2 Timeout - closing connection\r\n")
      yield* client.closed
    }))

  it.scoped("refuses a client that talks before the delayed greeting with 421", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ greetingDelay: 100 })
      const client = yield* server.connect()
      yield* client.send("EHLO early\r\n")
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(yield* client.reply, "421 4.4.2 mx.test You talk too soon\r\n")
      yield* client.closed
    }))

  it.scoped("refuses an HTTP request line with 421", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* connect(server)
      assert.strictEqual(yield* client.command("GET / HTTP/1.1"), "421 4.4.2 HTTP requests not allowed\r\n")
      yield* client.closed
    }))

  it.scoped("refuses connections past maxClients with 421 4.7.0", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ maxClients: 1 })
      yield* connect(server)
      const second = yield* server.connect()
      assert.strictEqual(
        yield* second.reply,
        "421 4.7.0 mx.test Too many connected clients, try again in a moment\r\n"
      )
      yield* second.closed
    }))

  it.scoped("answers HELO/EHLO with 500 in LMTP mode and accepts LHLO", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ lmtp: true })
      const client = yield* server.connect()
      assert.strictEqual(yield* client.reply, "220 mx.test LMTP\r\n")
      assert.strictEqual(yield* client.command("EHLO c"), "500 5.5.1 Error: EHLO not allowed in LMTP server\r\n")
      assert.match(yield* client.command("LHLO c"), /^250-mx\.test Nice to meet you/)
    }))
})

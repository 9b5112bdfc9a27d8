import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Queue, Stream, TestClock } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import * as TestClient from "../../src/testing/TestClient.js"

// What the data hook saw: the exact body bytes, and how its stream ended.
interface Seen {
  readonly body: Buffer
  readonly error: string | undefined
  readonly bodyType: string
}

const serverWith = (config: Input = {}, hooks: Hooks.Implementations = {}) =>
  TestClient.server.pipe(
    Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", closeTimeout: 0, ...config }), Hooks.layer(hooks)))
  )

// A server whose data hook reports each body it reads to the returned queue.
const recording = (config: Input = {}) =>
  Effect.gen(function*() {
    const inbox = yield* Queue.unbounded<Seen>()
    const server = yield* serverWith(config, {
      onData: (message) =>
        Effect.gen(function*() {
          const pieces: Array<Uint8Array> = []
          const error = yield* Stream.runForEach(message.body, (piece) => Effect.sync(() => pieces.push(piece))).pipe(
            Effect.as(undefined),
            Effect.catchTag("MessageError", (e) => Effect.succeed(e.reason))
          )
          yield* Queue.offer(inbox, { body: Buffer.concat(pieces), error, bodyType: message.envelope.bodyType })
        })
    })
    return { server, inbox }
  })

// Connects, says EHLO and opens a transaction for one recipient.
const inTransaction = (server: TestClient.TestServer, mail = "MAIL FROM:<a@x.test>") =>
  Effect.gen(function*() {
    const client = yield* server.connect()
    yield* client.reply
    yield* client.command("EHLO client.test")
    assert.strictEqual(yield* client.command(mail), "250 2.1.0 Accepted\r\n")
    assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "250 2.1.5 Accepted\r\n")
    return client
  })

// Reads `n` replies and joins them.
const replies = (client: TestClient.TestClient, n: number) =>
  Effect.map(Effect.replicateEffect(client.reply, n), (all) => all.join(""))

describe("BDAT", () => {
  it.scoped("advertises CHUNKING, BINARYMIME and LIMITS from the configured limits", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ maxRecipients: 50, maxMessages: 3, hideDSN: true })
      const client = yield* server.connect()
      yield* client.reply
      assert.strictEqual(
        yield* client.command("EHLO c"),
        "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
          "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 LIMITS RCPTMAX=50 MAILMAX=3\r\n"
      )
    }))

  it.scoped.each([
    [{ hideBINARYMIME: true }, "250-CHUNKING\r\n250 LIMITS RCPTMAX=1000\r\n"],
    [{ hideCHUNKING: true }, "250 LIMITS RCPTMAX=1000\r\n"],
    [{ hideLIMITS: true }, "250-CHUNKING\r\n250 BINARYMIME\r\n"]
  ] as const)("hides keywords with %o", ([config, tail]) =>
    Effect.gen(function*() {
      const server = yield* serverWith({ ...config, hidePIPELINING: true, hide8BITMIME: true, hideSMTPUTF8: true, hideDSN: true, hideENHANCEDSTATUSCODES: true })
      const client = yield* server.connect()
      yield* client.reply
      assert.strictEqual(yield* client.command("EHLO c"), `250-mx.test Nice to meet you, [127.0.0.1]\r\n${tail}`)
    }))

  it.scoped("accepts BDAT while CHUNKING is hidden", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording({ hideCHUNKING: true })
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 2 LAST\r\nhi")
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message queued\r\n")
      assert.strictEqual((yield* Queue.take(inbox)).body.toString(), "hi")
    }))

  it.scoped("delivers a single LAST chunk and answers with the data hook's verdict", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording()
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 19 LAST\r\nSubject: hi\r\n\r\n.x\r\n")
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message queued\r\n")
      // No dot-unstuffing: a leading dot is content.
      assert.deepStrictEqual(yield* Queue.take(inbox), { body: Buffer.from("Subject: hi\r\n\r\n.x\r\n"), error: undefined, bodyType: "7bit" })
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("answers each chunk with 250 2.0.0 and hands one hook call the concatenation", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording()
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 6\r\nhello ")
      assert.strictEqual(yield* client.reply, "250 2.0.0 OK: 6 octets received\r\n")
      yield* client.send("BDAT 3\r\nbig")
      assert.strictEqual(yield* client.reply, "250 2.0.0 OK: 3 octets received\r\n")
      yield* client.send("BDAT 7 LAST\r\n world\n")
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message queued\r\n")
      assert.strictEqual((yield* Queue.take(inbox)).body.toString(), "hello big world\r\n")
      // The transaction is over: a new one starts cleanly.
      assert.strictEqual(yield* client.command("MAIL FROM:<c@x.test>"), "250 2.1.0 Accepted\r\n")
    }))

  it.scoped("answers a whole pipelined transaction in order, in one write", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording()
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO c")
      yield* client.send(
        "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 4\r\nab\r\nBDAT 0\r\nBDAT 4 LAST\r\ncd\r\n" +
          "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 0 LAST\r\nQUIT\r\n"
      )
      assert.strictEqual(
        yield* replies(client, 9),
        "250 2.1.0 Accepted\r\n250 2.1.5 Accepted\r\n250 2.0.0 OK: 4 octets received\r\n" +
          "250 2.0.0 OK: 0 octets received\r\n250 2.6.0 OK: message queued\r\n250 2.1.0 Accepted\r\n" +
          "250 2.1.5 Accepted\r\n250 2.6.0 OK: message queued\r\n221 2.0.0 Bye\r\n"
      )
      assert.strictEqual((yield* Queue.take(inbox)).body.toString(), "ab\r\ncd\r\n")
      // BDAT 0 LAST alone is an empty message.
      assert.strictEqual((yield* Queue.take(inbox)).body.length, 0)
      yield* client.closed
    }))

  it.scoped("passes every octet of a BINARYMIME body, NUL, CR and LF included", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording({ bareLineEndings: "reject" })
      const client = yield* inTransaction(server, "MAIL FROM:<a@x.test> BODY=BINARYMIME")
      const octets = Buffer.from([0, 13, 10, 13, 255, 10, 46, 13, 10, 46, 13, 10, 0, 13])
      yield* client.send(Buffer.concat([Buffer.from("BDAT 7\r\n"), octets.subarray(0, 7)]))
      assert.strictEqual(yield* client.reply, "250 2.0.0 OK: 7 octets received\r\n")
      yield* client.send(Buffer.concat([Buffer.from("BDAT 7 LAST\r\n"), octets.subarray(7)]))
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message queued\r\n")
      assert.deepStrictEqual(yield* Queue.take(inbox), { body: octets, error: undefined, bodyType: "binarymime" })
    }))

  it.scoped("normalises bare line endings across chunk boundaries, but not a CRLF split between chunks", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording()
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 4\r\na\nb\rBDAT 3\r\n\nc\rBDAT 1 LAST\r\nd")
      assert.strictEqual(
        yield* replies(client, 3),
        "250 2.0.0 OK: 4 octets received\r\n250 2.0.0 OK: 3 octets received\r\n250 2.6.0 OK: message queued\r\n"
      )
      assert.strictEqual((yield* Queue.take(inbox)).body.toString(), "a\r\nb\r\nc\r\nd")
    }))

  it.scoped("refuses a bare line ending under the reject policy at its chunk, and the chunks after it", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording({ bareLineEndings: "reject" })
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 4\r\nok\r\nBDAT 3\r\nx\nyBDAT 2 LAST\r\nzzNOOP\r\n")
      assert.strictEqual(
        yield* replies(client, 4),
        "250 2.0.0 OK: 4 octets received\r\n550 5.6.0 Error: bare CR or LF in message content is not allowed\r\n" +
          "550 5.6.0 Error: bare CR or LF in message content is not allowed\r\n250 2.0.0 OK\r\n"
      )
      assert.strictEqual((yield* Queue.take(inbox)).error, "BareLineEnding")
      // The refused transaction is over.
      assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "503 5.5.1 Error: need MAIL command\r\n")
    }))

  it.scoped("refuses a declared total past the size limit with 552 5.3.4 and discards the rest", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording({ size: 10 })
      const client = yield* inTransaction(server)
      yield* client.send(`BDAT 6\r\n${"a".repeat(6)}BDAT 6\r\n${"b".repeat(6)}BDAT 3 LAST\r\nccc`)
      assert.strictEqual(
        yield* replies(client, 3),
        "250 2.0.0 OK: 6 octets received\r\n552 5.3.4 Error: message exceeds fixed maximum message size 10\r\n" +
          "552 5.3.4 Error: message exceeds fixed maximum message size 10\r\n"
      )
      assert.deepStrictEqual(yield* Queue.take(inbox), { body: Buffer.from("aaaaaa"), error: "SizeExceeded", bodyType: "7bit" })
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
    }))

  it.scoped("refuses a first chunk larger than the size limit without calling the hook", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording({ size: 10 })
      const client = yield* inTransaction(server)
      yield* client.send(`BDAT 20 LAST\r\n${"x".repeat(20)}NOOP\r\n`)
      assert.strictEqual(
        yield* replies(client, 2),
        "552 5.3.4 Error: message exceeds fixed maximum message size 10\r\n250 2.0.0 OK\r\n"
      )
      assert.strictEqual(yield* Queue.size(inbox), 0)
    }))

  it.scoped("lets the hook decide past the size limit when rejectOversized is off", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording({ size: 10, rejectOversized: false })
      const client = yield* inTransaction(server)
      yield* client.send(`BDAT 6\r\n${"a".repeat(6)}BDAT 6 LAST\r\n${"b".repeat(6)}`)
      assert.strictEqual(
        yield* replies(client, 2),
        "250 2.0.0 OK: 6 octets received\r\n250 2.6.0 OK: message queued\r\n"
      )
      assert.deepStrictEqual(yield* Queue.take(inbox), { body: Buffer.from("aaaaaa"), error: undefined, bodyType: "7bit" })
    }))

  it.scoped("answers a bad chunk size with 501 5.5.4", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* inTransaction(server)
      assert.strictEqual(yield* client.command("BDAT"), "501 5.5.4 Error: syntax: BDAT chunk-size [LAST]\r\n")
      assert.strictEqual(yield* client.command("BDAT -1"), "501 5.5.4 Error: syntax: BDAT chunk-size [LAST]\r\n")
      assert.strictEqual(yield* client.command("BDAT 5 FIRST"), "501 5.5.4 Error: syntax: BDAT chunk-size [LAST]\r\n")
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("fails the message on a bad chunk size between chunks, and answers later chunks with it", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording()
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 2\r\nabBDAT x\r\n")
      assert.strictEqual(yield* replies(client, 2), "250 2.0.0 OK: 2 octets received\r\n501 5.5.4 Error: syntax: BDAT chunk-size [LAST]\r\n")
      yield* client.send("BDAT 2 LAST\r\ncd")
      assert.strictEqual(yield* client.reply, "501 5.5.4 Error: syntax: BDAT chunk-size [LAST]\r\n")
      // The hook was stopped, never handed an incomplete message as complete.
      assert.strictEqual(yield* Queue.size(inbox), 0)
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
    }))

  it.scoped("reads and drops the chunk of a BDAT after a refused RCPT, answering 503 5.5.1", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, { onRcptTo: (rcpt) => SmtpError.noSuchUser(rcpt.address) })
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO c")
      yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 12\r\nNOOP\r\nNOOP\r\nBDAT 6 LAST\r\nQUIT\r\nNOOP\r\n")
      assert.strictEqual(
        yield* replies(client, 5),
        "250 2.1.0 Accepted\r\n550 5.1.1 <b@y.test>: no such user\r\n503 5.5.1 Error: need RCPT command\r\n" +
          "503 5.5.1 Error: need RCPT command\r\n250 2.0.0 OK\r\n"
      )
    }))

  it.scoped("reads and drops the chunk of a BDAT without MAIL", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO c")
      yield* client.send("BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n")
      assert.strictEqual(yield* replies(client, 2), "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 OK\r\n")
    }))

  it.scoped("refuses DATA between chunks with 503 5.5.1 and goes on with the message", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording()
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 2\r\nabDATA\r\nNOOP\r\nRCPT TO:<c@y.test>\r\nBDAT 2 LAST\r\ncd")
      assert.strictEqual(
        yield* replies(client, 5),
        "250 2.0.0 OK: 2 octets received\r\n503 5.5.1 Error: DATA not allowed after BDAT\r\n250 2.0.0 OK\r\n" +
          "503 5.5.1 Error: bad sequence of commands\r\n250 2.6.0 OK: message queued\r\n"
      )
      assert.strictEqual((yield* Queue.take(inbox)).body.toString(), "abcd")
    }))

  it.scoped("refuses DATA after BODY=BINARYMIME with 503 5.5.1", () =>
    Effect.gen(function*() {
      const server = yield* serverWith()
      const client = yield* inTransaction(server, "MAIL FROM:<a@x.test> BODY=BINARYMIME")
      assert.strictEqual(yield* client.command("DATA"), "503 5.5.1 Error: BODY=BINARYMIME requires BDAT\r\n")
    }))

  it.scoped("interrupts the hook on RSET between chunks and runs the RSET", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      const server = yield* serverWith({}, {
        onData: (message) =>
          Stream.runDrain(message.body).pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      })
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 2\r\nabRSET\r\nRCPT TO:<b@y.test>\r\n")
      assert.strictEqual(
        yield* replies(client, 3),
        "250 2.0.0 OK: 2 octets received\r\n250 2.0.0 Flushed\r\n503 5.5.1 Error: need MAIL command\r\n"
      )
      yield* Deferred.await(interrupted)
    }))

  it.scoped("interrupts the hook on QUIT between chunks", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      const server = yield* serverWith({}, {
        onData: (message) =>
          Stream.runDrain(message.body).pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      })
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 1\r\naQUIT\r\n")
      assert.strictEqual(yield* replies(client, 2), "250 2.0.0 OK: 1 octets received\r\n221 2.0.0 Bye\r\n")
      yield* Deferred.await(interrupted)
      yield* client.closed
    }))

  it.scoped("answers the chunks after an early refusal by the hook with that refusal, then ends the transaction", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, {
        onData: (message) =>
          Stream.runHead(message.body).pipe(Effect.zipRight(Effect.fail(SmtpError.notAllowed("Error: spam"))))
      })
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 3\r\nabcBDAT 3\r\ndefBDAT 3 LAST\r\nghiMAIL FROM:<a@x.test>\r\n")
      assert.strictEqual(
        yield* replies(client, 4),
        "250 2.0.0 OK: 3 octets received\r\n550 5.7.1 Error: spam\r\n550 5.7.1 Error: spam\r\n250 2.1.0 Accepted\r\n"
      )
    }))

  it.scoped("drains what an early-accepting hook left and answers LAST with its verdict", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, { onData: () => Effect.succeed({ message: "thanks" }) })
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 3\r\nabcBDAT 3 LAST\r\ndefNOOP\r\n")
      assert.strictEqual(
        yield* replies(client, 3),
        "250 2.0.0 OK: 3 octets received\r\n250 2.6.0 thanks\r\n250 2.0.0 OK\r\n"
      )
    }))

  it.scoped("answers 451 4.3.0 when the hook interrupts itself, and reads the rest of the message", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({}, { onData: () => Effect.interrupt })
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 3\r\nabcBDAT 3 LAST\r\ndefNOOP\r\n")
      assert.strictEqual(
        yield* replies(client, 3),
        "451 4.3.0 Error: internal server error\r\n451 4.3.0 Error: internal server error\r\n250 2.0.0 OK\r\n"
      )
    }))

  it.scoped("reads the socket only as fast as the hook pulls", () =>
    Effect.gen(function*() {
      const go = yield* Deferred.make<void>()
      const server = yield* serverWith({}, {
        onData: (message) => Deferred.await(go).pipe(Effect.zipRight(Stream.runDrain(message.body)))
      })
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 3\r\nabc")
      const reply = yield* Effect.fork(client.reply)
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      assert.isNull(reply.unsafePoll())
      yield* Deferred.succeed(go, undefined)
      assert.strictEqual(yield* Fiber.join(reply), "250 2.0.0 OK: 3 octets received\r\n")
    }))

  it.scoped("answers BDAT LAST once per recipient in LMTP", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ lmtp: true }, {
        onData: (message) =>
          Stream.runDrain(message.body).pipe(Effect.as([{}, SmtpError.noSuchUser("c@y.test")]))
      })
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("LHLO c")
      yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nBDAT 1\r\nxBDAT 1 LAST\r\ny")
      assert.strictEqual(
        yield* replies(client, 6),
        "250 2.1.0 Accepted\r\n250 2.1.5 Accepted\r\n250 2.1.5 Accepted\r\n250 2.0.0 OK: 1 octets received\r\n" +
          "250 2.6.0 OK: message accepted\r\n550 5.1.1 <c@y.test>: no such user\r\n"
      )
    }))

  it.scoped("fails the hook's stream when the client disconnects between chunks", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording()
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 2\r\nab")
      assert.strictEqual(yield* client.reply, "250 2.0.0 OK: 2 octets received\r\n")
      yield* client.end
      assert.deepStrictEqual(yield* Queue.take(inbox), { body: Buffer.from("ab"), error: "Disconnected", bodyType: "7bit" })
      yield* client.closed
    }))

  it.scoped("closes with 421 when the client goes idle inside a chunk", () =>
    Effect.gen(function*() {
      const { inbox, server } = yield* recording({ socketTimeout: 1000 })
      const client = yield* inTransaction(server)
      yield* client.send("BDAT 5\r\nab")
      const reply = yield* Effect.fork(client.reply)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(reply), "421 4.4.2 Timeout - closing connection\r\n")
      assert.strictEqual((yield* Queue.take(inbox)).error, "Timeout")
      yield* client.closed
    }))

  it.scoped("limits MAIL commands per connection (MAILMAX), refused ones included, with 421", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ maxMessages: 2 }, {
        onMailFrom: (from) => from.address === "bad@x.test" ? Effect.fail(SmtpError.notAllowed()) : Effect.void
      })
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO c")
      assert.strictEqual(yield* client.command("MAIL FROM:<bad@x.test>"), "550 5.7.1 Not allowed\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
      assert.strictEqual(yield* client.command("RSET"), "250 2.0.0 Flushed\r\n")
      assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "421 4.7.0 Error: too many messages in this session\r\n")
      yield* client.closed
    }))
})

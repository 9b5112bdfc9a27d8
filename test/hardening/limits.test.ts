import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { SmtpError } from "../../src/core/SmtpError.js"
import * as RawClient from "../support/RawClient.js"
import * as Harness from "./Harness.js"

// Connects and reads the greeting.
const connect = (port: number) => Effect.tap(RawClient.connect(port), (client) => client.reply)

// Connects, greets, and opens a transaction for b@y.test.
const inTransaction = (port: number) =>
  Effect.gen(function*() {
    const client = yield* connect(port)
    yield* client.command("EHLO client.test")
    assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "250 2.1.0 Accepted\r\n")
    assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "250 2.1.5 Accepted\r\n")
    return client
  })

// Reads `n` replies and joins them.
const replies = (client: RawClient.RawClient, n: number) =>
  Effect.map(Effect.replicateEffect(client.reply, n), (all) => all.join(""))

describe("Command lines", () => {
  it.live("answers a line past 2048 bytes at once, before its end arrives, and skips the rest of it", () =>
    Effect.gen(function*() {
      const server = yield* Harness.nodeServer()
      const client = yield* connect(server.address.port)
      // 2049 bytes and no line end: the reply comes without waiting for one.
      yield* client.write("NOOP " + "x".repeat(2044))
      assert.strictEqual(yield* client.reply, "500 5.5.2 Line too long\r\n")
      // The rest of that line, 8 MiB more without a line end, is dropped unread into any buffer.
      const block = Buffer.alloc(1024 * 1024, 0x78)
      for (let i = 0; i < 8; i++) yield* client.write(block)
      yield* client.write("\r\n")
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }).pipe(Effect.scoped))

  it.live("accepts a line of exactly 2048 bytes", () =>
    Effect.gen(function*() {
      const server = yield* Harness.nodeServer()
      const client = yield* connect(server.address.port)
      assert.strictEqual(yield* client.command("NOOP " + "x".repeat(2043)), "250 2.0.0 OK\r\n")
    }).pipe(Effect.scoped))

  const controls = [
    ["NUL", "NOOP\x00"],
    ["NUL inside an address", "MAIL FROM:<a\x00@x.test>"],
    ["a bare CR", "NOOP\rRSET"],
    ["ESC", "HELO \x1b[31mred"],
    ["DEL", "RCPT TO:<b@y.test>\x7f"],
    ["a C0 control", "EHLO c\x01"]
  ] as const
  for (const [name, line] of controls) {
    it.live(`refuses a command with ${name} with 500 5.5.2 and serves on`, () =>
      Effect.gen(function*() {
        const log = Harness.journal()
        const server = yield* Harness.nodeServer({}, Harness.recordingHooks(log, {
          onMailFrom: () => log.add("mail"),
          onRcptTo: () => log.add("rcpt")
        }))
        const client = yield* connect(server.address.port)
        yield* client.command("EHLO client.test")
        assert.strictEqual(yield* client.command(line), "500 5.5.2 Error: command contains control characters\r\n")
        assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
        assert.deepStrictEqual(log.events, [])
      }).pipe(Effect.scoped))
  }
})

describe("Limits", () => {
  it.live("closes with 421 at the tenth unrecognized command", () =>
    Effect.gen(function*() {
      const server = yield* Harness.nodeServer()
      const client = yield* connect(server.address.port)
      yield* client.write("FOO\r\n".repeat(10))
      assert.strictEqual(yield* replies(client, 9), "500 5.5.1 Error: command not recognized\r\n".repeat(9))
      assert.strictEqual(yield* client.reply, "421 4.4.2 Error: too many unrecognized commands\r\n")
      yield* client.closed
      assert.strictEqual(yield* client.reply, "")
    }).pipe(Effect.scoped))

  it.live("closes with 421 at maxAllowedUnauthenticatedCommands when AUTH is required", () =>
    Effect.gen(function*() {
      const server = yield* Harness.nodeServer({ authOptional: false, allowInsecureAuth: true, maxAllowedUnauthenticatedCommands: 4 })
      const client = yield* connect(server.address.port)
      yield* client.write("EHLO client.test\r\nNOOP\r\nMAIL FROM:<a@x.test>\r\nNOOP\r\nNOOP\r\n")
      const ehlo = yield* client.reply
      assert.match(ehlo, /^250-mx\.test Nice to meet you/)
      assert.strictEqual(yield* client.reply, "250 2.0.0 OK\r\n")
      assert.strictEqual(yield* client.reply, "530 5.7.0 Error: authentication Required\r\n")
      assert.strictEqual(yield* client.reply, "421 4.7.0 Error: too many unauthenticated commands\r\n")
      yield* client.closed
      assert.strictEqual(yield* client.reply, "")
    }).pipe(Effect.scoped))

  it.live("refuses the 1001st recipient with 452 4.5.3 by default, and delivers to the first 1000", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.nodeServer({}, Harness.recordingHooks(log))
      const client = yield* connect(server.address.port)
      assert.match(yield* client.command("EHLO client.test"), /250 LIMITS RCPTMAX=1000\r\n$/)
      let batch = "MAIL FROM:<a@x.test>\r\n"
      for (let i = 0; i < 1001; i++) batch += `RCPT TO:<r${i}@y.test>\r\n`
      yield* client.write(batch + "DATA\r\n")
      assert.strictEqual(yield* client.reply, "250 2.1.0 Accepted\r\n")
      assert.strictEqual(yield* replies(client, 1000), "250 2.1.5 Accepted\r\n".repeat(1000))
      assert.strictEqual(yield* client.reply, "452 4.5.3 Error: too many recipients\r\n")
      assert.strictEqual(yield* client.reply, "354 End data with <CR><LF>.<CR><LF>\r\n")
      assert.strictEqual(yield* client.command("hi\r\n."), "250 2.6.0 OK: message queued\r\n")
      assert.strictEqual(log.deliveries[0]!.to.length, 1000)
      assert.strictEqual(log.deliveries[0]!.to[999], "r999@y.test")
    }).pipe(Effect.scoped))

  it.live("maxRecipients is configurable: the fourth of three gets 452 4.5.3", () =>
    Effect.gen(function*() {
      const server = yield* Harness.nodeServer({ maxRecipients: 3 })
      const client = yield* inTransaction(server.address.port)
      yield* client.write("RCPT TO:<c@y.test>\r\nRCPT TO:<d@y.test>\r\nRCPT TO:<e@y.test>\r\n")
      assert.strictEqual(
        yield* replies(client, 3),
        "250 2.1.5 Accepted\r\n250 2.1.5 Accepted\r\n452 4.5.3 Error: too many recipients\r\n"
      )
    }).pipe(Effect.scoped))

  it.live("reads a body past size to its end without keeping it: 552 5.3.4, the hook's stream fails, the session goes on", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const size = 1024 * 1024
      const server = yield* Harness.nodeServer({ size }, Harness.recordingHooks(log))
      const client = yield* inTransaction(server.address.port)
      assert.strictEqual(yield* client.command("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n")
      const before = Harness.liveBytes()
      let peak = 0
      const block = Buffer.from(`${"y".repeat(1022)}\r\n`.repeat(1024))
      // 64 MiB, sampling live memory every 8 MiB.
      for (let i = 0; i < 64; i++) {
        yield* client.write(block)
        if (i % 8 === 7) peak = Math.max(peak, Harness.liveBytes())
      }
      assert.strictEqual(
        yield* client.command("."),
        "552 5.3.4 Error: message exceeds fixed maximum message size 1048576\r\n"
      )
      assert.isBelow(peak - before, 16 * 1024 * 1024)
      const [delivery] = log.deliveries
      assert.strictEqual(delivery!.error, "SizeExceeded")
      assert.isAtMost(delivery!.body.length, size)
      // The next message on the same connection is taken.
      yield* client.write("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
      assert.strictEqual(yield* replies(client, 3), "250 2.1.0 Accepted\r\n250 2.1.5 Accepted\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
      assert.strictEqual(yield* client.command("small\r\n."), "250 2.6.0 OK: message queued\r\n")
      assert.strictEqual(log.deliveries[1]!.body.toString(), "small\r\n")
    }).pipe(Effect.scoped))

  // The facade's contract (smtp-server's): the hook decides, and once its stream has ended
  // sizeExceeded is set and byteLength is the whole message's, not the bytes up to the limit.
  const sizeDecidedByHook = (log: Harness.Journal) =>
    Harness.recordingHooks(log, {
      onData: (message) =>
        Stream.runDrain(message.body).pipe(
          Effect.zipRight(Effect.suspend(() => log.add(`size:${message.sizeExceeded}:${message.byteLength}`))),
          Effect.zipRight(Effect.suspend(() => message.sizeExceeded ? Effect.fail(SmtpError.make(552, "Too big for me")) : Effect.void))
        )
    })

  it.scoped("with rejectOversized off, a DATA body past size ends the stream at its end, whole byteLength, and the hook decides", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.memoryServer({ size: 10, rejectOversized: false }, sizeDecidedByHook(log))
      const client = yield* server.connect()
      yield* client.reply
      yield* client.send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
      for (let i = 0; i < 4; i++) yield* client.reply
      yield* client.send("0123456789\r\n")
      yield* client.send("0123456789\r\n")
      assert.strictEqual(yield* client.command("0123456789\r\n."), "552 5.2.2 Too big for me\r\n")
      assert.deepStrictEqual(log.events, ["size:true:36"])
      assert.strictEqual(yield* client.command("NOOP"), "250 2.0.0 OK\r\n")
    }))

  it.scoped("with rejectOversized off, BDAT chunks past size are read to the last one before the stream ends", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.memoryServer({ size: 10, rejectOversized: false }, sizeDecidedByHook(log))
      const client = yield* server.connect()
      yield* client.reply
      yield* client.send("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n")
      for (let i = 0; i < 3; i++) yield* client.reply
      const chunk = (line: string) => Effect.zipRight(client.send(line), client.reply)
      assert.strictEqual(yield* chunk("BDAT 8\r\n01234567"), "250 2.0.0 OK: 8 octets received\r\n")
      assert.strictEqual(yield* chunk("BDAT 8\r\n01234567"), "250 2.0.0 OK: 8 octets received\r\n")
      assert.strictEqual(yield* chunk("BDAT 8 LAST\r\n01234567"), "552 5.2.2 Too big for me\r\n")
      assert.deepStrictEqual(log.events, ["size:true:24"])
    }))

  it.live("refuses connections past maxClients with 421 4.7.0 and takes new ones once a slot is free", () =>
    Effect.gen(function*() {
      const server = yield* Harness.nodeServer({ maxClients: 2 })
      const port = server.address.port
      const first = yield* connect(port)
      yield* connect(port)
      const third = yield* RawClient.connect(port)
      assert.strictEqual(yield* third.reply, "421 4.7.0 mx.test Too many connected clients, try again in a moment\r\n")
      yield* third.closed
      assert.strictEqual(yield* first.command("QUIT"), "221 2.0.0 Bye\r\n")
      yield* first.closed
      // The slot is freed when the session ends, which is before the client sees its connection close.
      const fourth = yield* RawClient.connect(port)
      assert.strictEqual(yield* fourth.reply, "220 mx.test ESMTP\r\n")
    }).pipe(Effect.scoped))

  it.live("closes an idle connection with 421 4.4.2 after socketTimeout", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.nodeServer({ socketTimeout: 300 }, Harness.recordingHooks(log))
      const client = yield* connect(server.address.port)
      yield* client.command("EHLO client.test")
      const started = Date.now()
      assert.strictEqual(yield* client.reply, "421 4.4.2 Timeout - closing connection\r\n")
      yield* client.closed
      assert.isAtLeast(Date.now() - started, 250)
      yield* log.when("close")
      assert.strictEqual(log.count("close"), 1)
    }).pipe(Effect.scoped))
})

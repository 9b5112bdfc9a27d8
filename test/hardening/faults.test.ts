import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type * as Hooks from "../../src/core/Hooks.js"
import * as RawClient from "../support/RawClient.js"
import * as Harness from "./Harness.js"

const internalError = "451 4.3.0 Error: internal server error\r\n"
const b64 = (text: string) => Buffer.from(text).toString("base64")

// Connects and reads the greeting.
const connect = (port: number) => Effect.tap(RawClient.connect(port), (client) => client.reply)

// Sends a whole message on a new connection and returns the reply to its end of data.
const sendOne = (port: number, from = "a@x.test") =>
  Effect.gen(function*() {
    const client = yield* connect(port)
    yield* client.write(`EHLO c\r\nMAIL FROM:<${from}>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n`)
    for (let i = 0; i < 4; i++) yield* client.reply
    const reply = yield* client.command("fine\r\n.")
    yield* client.write("QUIT\r\n")
    yield* client.closed
    return reply
  }).pipe(Effect.scoped)

describe("A client that leaves mid-way", () => {
  it.live("mid-command: no hook runs for the partial line, the close hook runs once, others are served", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.nodeServer({}, Harness.recordingHooks(log, { onMailFrom: () => log.add("mail") }))
      const client = yield* connect(server.address.port)
      yield* client.command("EHLO c")
      yield* client.write("MAIL FROM:<a@x.te")
      client.socket.end()
      yield* client.closed
      yield* log.when("close")
      assert.deepStrictEqual(log.events, ["close"])
      assert.strictEqual(yield* sendOne(server.address.port), "250 2.6.0 OK: message queued\r\n")
      assert.strictEqual(log.count("close"), 2)
    }).pipe(Effect.scoped))

  it.live("mid-AUTH: the auth hook is never asked, the close hook runs once", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.nodeServer(
        { allowInsecureAuth: true },
        Harness.recordingHooks(log, { onAuth: () => Effect.as(log.add("auth"), { user: "u" }) })
      )
      const client = yield* connect(server.address.port)
      yield* client.command("EHLO c")
      assert.strictEqual(yield* client.command("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n")
      assert.strictEqual(yield* client.command(b64("alice")), "334 UGFzc3dvcmQ6\r\n")
      client.socket.resetAndDestroy()
      yield* log.when("close")
      assert.deepStrictEqual(log.events, ["close"])
      assert.strictEqual(yield* sendOne(server.address.port), "250 2.6.0 OK: message queued\r\n")
    }).pipe(Effect.scoped))

  it.live("mid-DATA: the data hook's stream fails with Disconnected, the close hook runs once", () =>
    Effect.gen(function*() {
      const log = Harness.journal()
      const server = yield* Harness.nodeServer({}, Harness.recordingHooks(log, {
        onData: (message) =>
          Stream.runForEach(message.body, (piece) => log.add(`piece:${Buffer.from(piece).toString()}`)).pipe(
            Effect.catchTag("MessageError", (e) => log.add(`data:${e.reason}`))
          )
      }))
      const client = yield* connect(server.address.port)
      yield* client.write("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
      for (let i = 0; i < 4; i++) yield* client.reply
      yield* client.write("Subject: half\r\n\r\nthe first li")
      // Once the hook has the piece it waits for more; the client leaves then.
      yield* log.when("piece:Subject: half\r\n\r\nthe first li")
      client.socket.end()
      yield* log.when("close")
      assert.deepStrictEqual(log.events, ["piece:Subject: half\r\n\r\nthe first li", "data:Disconnected", "close"])
      assert.strictEqual(yield* sendOne(server.address.port), "250 2.6.0 OK: message queued\r\n")
      assert.strictEqual(log.count("close"), 2)
    }).pipe(Effect.scoped))
})

describe("A hook that fails", () => {
  // Each faulty hook, and the line that reaches it. Thrown: the hook function itself throws
  // instead of returning an Effect; died: its Effect dies; failed: it fails with a plain Error.
  const faults = {
    thrown: () => {
      throw new Error("boom")
    },
    died: () => Effect.die(new Error("boom")),
    failed: () => Effect.fail(new Error("boom") as never)
  } as const

  for (const [kind, fault] of Object.entries(faults)) {
    it.live(`${kind} in onMailFrom, onRcptTo or onData: 451 4.3.0 for that command, the session and the server go on`, () =>
      Effect.gen(function*() {
        const log = Harness.journal()
        const faulty = (address: string | undefined) => address === "bad@x.test" || address === "bad@y.test"
        const server = yield* Harness.nodeServer({}, Harness.recordingHooks(log, {
          onMailFrom: ((from) => faulty(from.address) ? fault() : Effect.void) as NonNullable<Hooks.Implementations["onMailFrom"]>,
          onRcptTo: ((rcpt) => faulty(rcpt.address) ? fault() : Effect.void) as NonNullable<Hooks.Implementations["onRcptTo"]>,
          onData: ((message) =>
            message.envelope.mailFrom?.address === "data@x.test" ? fault() : Harness.record(log, message)) as NonNullable<Hooks.Implementations["onData"]>
        }))
        const client = yield* connect(server.address.port)
        yield* client.command("EHLO c")
        assert.strictEqual(yield* client.command("MAIL FROM:<bad@x.test>"), internalError)
        assert.strictEqual(yield* client.command("MAIL FROM:<data@x.test>"), "250 2.1.0 Accepted\r\n")
        assert.strictEqual(yield* client.command("RCPT TO:<bad@y.test>"), internalError)
        assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "250 2.1.5 Accepted\r\n")
        assert.strictEqual(yield* client.command("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n")
        assert.strictEqual(yield* client.command("body\r\n."), internalError)
        // The same session goes on with a message that meets no fault.
        yield* client.write("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        for (let i = 0; i < 3; i++) yield* client.reply
        assert.strictEqual(yield* client.command("good\r\n."), "250 2.6.0 OK: message queued\r\n")
        assert.deepStrictEqual(log.deliveries.map((d) => d.body.toString()), ["good\r\n"])
        // And so does the server.
        assert.strictEqual(yield* sendOne(server.address.port), "250 2.6.0 OK: message queued\r\n")
      }).pipe(Effect.scoped))

    it.live(`${kind} in onConnect: 451 4.3.0 and the connection ends; the close hook runs once`, () =>
      Effect.gen(function*() {
        const log = Harness.journal()
        const server = yield* Harness.nodeServer({}, Harness.recordingHooks(log, {
          onConnect: fault as NonNullable<Hooks.Implementations["onConnect"]>
        }))
        const client = yield* RawClient.connect(server.address.port)
        assert.strictEqual(yield* client.reply, internalError)
        yield* client.closed
        yield* log.when("close")
        assert.strictEqual(log.count("close"), 1)
      }).pipe(Effect.scoped))

    it.live(`${kind} in onAuth: 451 4.3.0 and the client stays unauthenticated`, () =>
      Effect.gen(function*() {
        const server = yield* Harness.nodeServer({ allowInsecureAuth: true, authOptional: false }, {
          onAuth: fault as NonNullable<Hooks.Implementations["onAuth"]>
        })
        const client = yield* connect(server.address.port)
        yield* client.command("EHLO c")
        assert.strictEqual(yield* client.command(`AUTH PLAIN ${b64("\0alice\0secret")}`), internalError)
        assert.strictEqual(yield* client.command("MAIL FROM:<a@x.test>"), "530 5.7.0 Error: authentication Required\r\n")
      }).pipe(Effect.scoped))

    it.live(`${kind} in onClose: logged, and the next session is served`, () =>
      Effect.gen(function*() {
        const server = yield* Harness.nodeServer({}, { onClose: fault as NonNullable<Hooks.Implementations["onClose"]> })
        const client = yield* connect(server.address.port)
        assert.strictEqual(yield* client.command("QUIT"), "221 2.0.0 Bye\r\n")
        yield* client.closed
        assert.strictEqual(yield* sendOne(server.address.port), "250 2.6.0 OK: message queued\r\n")
      }).pipe(Effect.scoped))
  }

  it.live("a hook that never completes is answered 451 4.3.0 after hookTimeout; the session goes on", () =>
    Effect.gen(function*() {
      const server = yield* Harness.nodeServer({ hookTimeout: 200 }, {
        onRcptTo: (rcpt) => rcpt.address === "stuck@y.test" ? Effect.never : Effect.void
      })
      const client = yield* connect(server.address.port)
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      assert.strictEqual(yield* client.command("RCPT TO:<stuck@y.test>"), "451 4.3.0 Error: timed out while processing the command\r\n")
      assert.strictEqual(yield* client.command("RCPT TO:<b@y.test>"), "250 2.1.5 Accepted\r\n")
    }).pipe(Effect.scoped))
})

/**
 * Callback answers over real sockets: reply codes per stage, misbehaving and late-bound callbacks.
 */
import { assert, describe, it } from "@effect/vitest"
import { SMTPServer } from "../../src/compat/index.js"
import type * as Types from "../../src/compat/Types.js"
import { connect, deferred, greeted, inTransaction, portOf, sendMessage, start, withCode } from "./client.js"

describe("callback errors", () => {
  it("use smtp-server's code per stage when the error has none", async () => {
    const { port, server } = await start({
      onMailFrom: (address, _session, callback) => callback(address.address === "bad@x.test" ? new Error("bad sender") : null),
      onRcptTo: (_address, _session, callback) => callback(new Error("bad recipient")),
      onData: (_stream, _session, callback) => callback(new Error("bad message"))
    })
    const client = await greeted(port)
    await client.command("EHLO c")
    assert.strictEqual(await client.command("MAIL FROM:<bad@x.test>"), "550 bad sender\r\n")
    assert.strictEqual(await client.command("MAIL FROM:<ok@x.test>"), "250 Accepted\r\n")
    assert.strictEqual(await client.command("RCPT TO:<r@y.test>"), "550 bad recipient\r\n")
    server.onRcptTo = (_address, _session, callback) => callback()
    await client.command("RCPT TO:<r@y.test>")
    assert.strictEqual(await sendMessage(client), "450 bad message\r\n")

    server.onConnect = (_session, callback) => callback(new Error("go away"))
    const refused = await connect(port)
    assert.strictEqual(await refused.reply(), "554 go away\r\n")
    await refused.closed
  })

  it("use responseCode when it is a 4xx or 5xx code, and ignore other values", async () => {
    const { port } = await start({
      onRcptTo: (address, _session, callback) =>
        callback(withCode("refused", address.address.startsWith("c") ? 250 : address.address.startsWith("t") ? 451 : 553))
    })
    const client = await inTransaction(port, [])
    assert.strictEqual(await client.command("RCPT TO:<t@y.test>"), "451 refused\r\n")
    assert.strictEqual(await client.command("RCPT TO:<p@y.test>"), "553 refused\r\n")
    assert.strictEqual(await client.command("RCPT TO:<c@y.test>"), "550 refused\r\n")
  })

  it("answer for the whole message once per LMTP recipient", async () => {
    const { port } = await start({ lmtp: true, onData: (_stream, _session, callback) => callback(withCode("try later", 451)) })
    const client = await greeted(port)
    await client.command("LHLO c")
    await client.command("MAIL FROM:<a@x.test>")
    await client.command("RCPT TO:<one@y.test>")
    await client.command("RCPT TO:<two@y.test>")
    assert.strictEqual(await sendMessage(client), "451 try later\r\n")
    assert.strictEqual(await client.reply(), "451 try later\r\n")
  })

  it("turn the text of a 250 into the message's reply, and strip control characters", async () => {
    const { port } = await start({ onData: (_stream, _session, callback) => callback(null, "Queued as 12\r\n250 injected") })
    const client = await inTransaction(port)
    assert.strictEqual(await sendMessage(client), "250 Queued as 12  250 injected\r\n")
  })
})

describe("misbehaving callbacks", () => {
  it("a synchronous throw answers with the stage's refusal and the session goes on", async () => {
    const errors: Array<string> = []
    const { port } = await start({
      logger: { error: (_fields: unknown, message: string) => errors.push(message), info: () => {} },
      onRcptTo: () => {
        throw new Error("lookup failed")
      },
      onData: () => {
        throw withCode("disk full", 452)
      }
    })
    const client = await inTransaction(port, [])
    assert.strictEqual(await client.command("RCPT TO:<r@y.test>"), "550 lookup failed\r\n")
    assert.strictEqual(await client.command("NOOP"), "250 OK\r\n")
    assert.deepStrictEqual(errors, ["onRcptTo failed: lookup failed"])
  })

  it("a throw in onData refuses the message and the core drains the body", async () => {
    const { port } = await start({
      onData: () => {
        throw withCode("disk full", 452)
      }
    })
    const client = await inTransaction(port)
    assert.strictEqual(await sendMessage(client, "x\r\n".repeat(10_000)), "452 disk full\r\n")
    assert.strictEqual(await client.command("NOOP"), "250 OK\r\n")
  })

  it("a rejected promise (an async callback) answers like callback(err)", async () => {
    const { port } = await start({
      async onMailFrom() {
        throw withCode("sender refused", 553)
      }
    })
    const client = await greeted(port)
    await client.command("EHLO c")
    assert.strictEqual(await client.command("MAIL FROM:<a@x.test>"), "553 sender refused\r\n")
  })

  it("a throw that is not an Error still refuses, with a generic text", async () => {
    const { port } = await start({
      onConnect: () => {
        throw 42
      }
    })
    const client = await connect(port)
    assert.strictEqual(await client.reply(), "554 Error: internal server error\r\n")
  })

  it("a second callback is ignored and logged", async () => {
    const warnings: Array<string> = []
    const { port } = await start({
      logger: { warn: (_fields: unknown, message: string) => warnings.push(message), info: () => {} },
      onRcptTo: (_address, _session, callback) => {
        callback(null)
        callback(new Error("too late"))
      }
    })
    const client = await inTransaction(port, [])
    assert.strictEqual(await client.command("RCPT TO:<r@y.test>"), "250 Accepted\r\n")
    assert.strictEqual(await client.command("NOOP"), "250 OK\r\n")
    assert.deepStrictEqual(warnings, ["onRcptTo called back more than once; the later call is ignored"])
  })

  it("onClose that throws or rejects is logged and nothing else happens", async () => {
    const errors: Array<string> = []
    const logged = deferred<void>()
    const { port, server } = await start({
      logger: {
        error: (_fields: unknown, message: string) => {
          errors.push(message)
          if (errors.length === 2) logged.resolve()
        },
        info: () => {}
      },
      onClose: () => {
        throw new Error("cleanup failed")
      }
    })
    const first = await greeted(port)
    await first.command("QUIT")
    server.onClose = async () => {
      throw new Error("async cleanup failed")
    }
    const second = await greeted(port)
    await second.command("QUIT")
    await logged.promise
    assert.deepStrictEqual(errors, ["onClose failed: cleanup failed", "onClose failed: async cleanup failed"])
  })
})

describe("late-bound callbacks", () => {
  it("replacing a callback on the instance takes effect for the next command", async () => {
    const { port, server } = await start()
    const client = await inTransaction(port, ["first@y.test"])
    server.onRcptTo = (_address, _session, callback) => callback(withCode("closed for today", 450))
    assert.strictEqual(await client.command("RCPT TO:<second@y.test>"), "450 closed for today\r\n")
  })

  it("a subclass can override the callbacks as methods", async () => {
    class Picky extends SMTPServer {
      override onRcptTo(_address: Types.SMTPAddress, _session: Types.SMTPSession, callback: Types.Callback): void {
        callback(new Error("subclass says no"))
      }
    }
    const server = new Picky({ name: "mx.test", greetingDelay: 0, authOptional: true, disableReverseLookup: true })
    await server.listen(0, "127.0.0.1")
    try {
      const client = await inTransaction(portOf(server), [])
      assert.strictEqual(await client.command("RCPT TO:<r@y.test>"), "550 subclass says no\r\n")
      client.socket.destroy()
    } finally {
      await server.close()
    }
  })
})

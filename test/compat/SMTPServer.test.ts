/**
 * The facade over real sockets on 127.0.0.1: reply codes per stage, misbehaving callbacks,
 * late-bound callbacks, the session object, events, listen/close, logging and the Node stream.
 */
import { assert, describe, it, vi } from "@effect/vitest"
import * as net from "node:net"
import nodemailer from "nodemailer"
import { SMTPServer } from "../../src/compat/index.js"
import type * as Types from "../../src/compat/Types.js"
import { connect, deferred, greeted, inTransaction, portOf, start } from "./client.js"

const withCode = (message: string, responseCode?: number): Error =>
  Object.assign(new Error(message), responseCode === undefined ? {} : { responseCode })

// Sends one message on an open transaction and returns the reply.
const sendMessage = async (client: Awaited<ReturnType<typeof inTransaction>>, body = "Subject: x\r\n\r\nhi\r\n") => {
  await client.command("DATA")
  client.send(`${body}.\r\n`)
  return client.reply()
}

describe("SMTPServer replies", () => {
  it("greets, answers EHLO without ENHANCEDSTATUSCODES and DSN by default, and says Bye", async () => {
    const { port } = await start()
    const client = await connect(port)
    assert.strictEqual(await client.reply(), "220 mx.test ESMTP\r\n")
    assert.strictEqual(
      await client.command("EHLO client.test"),
      "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
    )
    assert.strictEqual(await client.command("QUIT"), "221 Bye\r\n")
    await client.closed
  })

  it("shows enhanced status codes when hideENHANCEDSTATUSCODES is false", async () => {
    const { port } = await start({
      hideENHANCEDSTATUSCODES: false,
      onRcptTo: (_address, _session, callback) => callback(new Error("No such user"))
    })
    const client = await inTransaction(port, [])
    assert.strictEqual(await client.command("RCPT TO:<x@y.test>"), "550 5.1.1 No such user\r\n")
  })

  it("refuses an early talker with 421 when greetingDelay is on (100 ms by default)", async () => {
    const { port } = await start({ greetingDelay: undefined })
    const client = await connect(port)
    client.send("EHLO early.test\r\n")
    assert.strictEqual(await client.reply(), "421 mx.test You talk too soon\r\n")
    await client.closed
  })

  it("refuses an HTTP request line with 421", async () => {
    const { port } = await start()
    const client = await greeted(port)
    assert.strictEqual(await client.command("GET / HTTP/1.1"), "421 HTTP requests not allowed\r\n")
    await client.closed
  })

  it("refuses connections past maxClients with 421", async () => {
    const { port } = await start({ maxClients: 1 })
    await greeted(port)
    const second = await connect(port)
    assert.strictEqual(await second.reply(), "421 mx.test Too many connected clients, try again in a moment\r\n")
  })

  it("refuses a declared SIZE over the limit with 552", async () => {
    const { port } = await start({ size: 1000 })
    const client = await greeted(port)
    assert.match(await client.command("EHLO c"), /250 SIZE 1000\r\n$/)
    assert.strictEqual(
      await client.command("MAIL FROM:<a@x.test> SIZE=1001"),
      "552 Error: message exceeds fixed maximum message size 1000\r\n"
    )
  })

  it("answers 552 itself past the size with rejectOversized, whatever onData says", async () => {
    const { port } = await start({
      size: 10,
      rejectOversized: true,
      onData: (stream, _session, callback) => {
        stream.pipeTo(new WritableStream()).then(() => callback(null), callback)
      }
    })
    const client = await inTransaction(port)
    assert.strictEqual(
      await sendMessage(client, "x".repeat(100) + "\r\n"),
      "552 Error: message exceeds fixed maximum message size 10\r\n"
    )
  })
})

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

describe("the session object", () => {
  it("shows smtp-server's fields, and numbers transactions from 1", async () => {
    const seen: Array<unknown> = []
    const { port } = await start({
      onMailFrom: (address, session, callback) => {
        seen.push(["mail", address, session.transaction, session.envelope.mailFrom, session.envelope.bodyType])
        callback()
      },
      onRcptTo: (address, session, callback) => {
        seen.push(["rcpt", address.address, session.transaction, session.envelope.mailFrom])
        callback()
      },
      onData: (stream, session, callback) => {
        seen.push(["data", session.transaction, session.envelope.rcptTo.map((r) => r.address)])
        stream.cancel().then(() => callback(null))
      }
    })
    const client = await greeted(port)
    await client.command("EHLO Client.Test")
    await client.command("MAIL FROM:<a@x.test> BODY=8BITMIME")
    await client.command("RCPT TO:<b@y.test>")
    await sendMessage(client)
    await client.command("MAIL FROM:<c@x.test>")
    await client.command("RCPT TO:<d@y.test>")
    await sendMessage(client)
    assert.deepStrictEqual(seen, [
      ["mail", { address: "a@x.test", args: { BODY: "8BITMIME" } }, 1, false, "8bitmime"],
      ["rcpt", "b@y.test", 1, { address: "a@x.test", args: { BODY: "8BITMIME" } }],
      ["data", 1, ["b@y.test"]],
      ["mail", { address: "c@x.test", args: false }, 2, false, "7bit"],
      ["rcpt", "d@y.test", 2, { address: "c@x.test", args: false }],
      ["data", 2, ["d@y.test"]]
    ])
  })

  it("has the connection's addresses, greeting and transmission type", async () => {
    const seen = deferred<Types.SMTPSession>()
    const { port } = await start({
      onMailFrom: (_address, session, callback) => {
        seen.resolve(session)
        callback()
      }
    })
    const client = await greeted(port)
    await client.command("EHLO Client.Test")
    await client.command("MAIL FROM:<a@x.test>")
    const session = await seen.promise
    assert.match(session.id, /^[0-9a-v]{16}$/)
    assert.strictEqual(session.remoteAddress, "127.0.0.1")
    assert.strictEqual(session.remotePort, client.socket.localPort)
    assert.strictEqual(session.localAddress, "127.0.0.1")
    assert.strictEqual(session.localPort, port)
    assert.strictEqual(session.clientHostname, "[127.0.0.1]")
    assert.strictEqual(session.hostNameAppearsAs, "client.test")
    assert.strictEqual(session.openingCommand, "EHLO")
    assert.strictEqual(session.transmissionType, "ESMTP")
    assert.strictEqual(session.secure, false)
    assert.strictEqual(session.tlsOptions, false)
    assert.strictEqual(session.user, undefined)
    assert.instanceOf(session.xClient, Map)
    assert.instanceOf(session.xForward, Map)
    assert.deepStrictEqual(session.envelope, { mailFrom: false, rcptTo: [], bodyType: "7bit", smtpUtf8: false, requireTLS: false })
  })

  it("is one object per connection: properties set in one callback are there in the next", async () => {
    const seen = deferred<unknown>()
    const { port } = await start({
      onConnect: (session, callback) => {
        ;(session as Types.SMTPSession & { tenant?: string }).tenant = "blue"
        callback()
      },
      onRcptTo: (_address, session, callback) => {
        seen.resolve((session as Types.SMTPSession & { tenant?: string }).tenant)
        callback()
      }
    })
    await inTransaction(port)
    assert.strictEqual(await seen.promise, "blue")
  })

  it("gives the same address object to onRcptTo and in envelope.rcptTo", async () => {
    const seen = deferred<boolean>()
    let first: Types.SMTPAddress | undefined
    const { port } = await start({
      onRcptTo: (address, _session, callback) => {
        first = address
        callback()
      },
      onData: (stream, session, callback) => {
        seen.resolve(session.envelope.rcptTo[0] === first)
        stream.cancel().then(() => callback(null))
      }
    })
    await sendMessage(await inTransaction(port))
    assert.isTrue(await seen.promise)
  })

  it("shows DSN parameters when hideDSN is false", async () => {
    const seen = deferred<unknown>()
    const { port } = await start({
      hideDSN: false,
      onRcptTo: (address, session, callback) => {
        seen.resolve([address.dsn, session.envelope.dsn])
        callback()
      }
    })
    const client = await greeted(port)
    assert.match(await client.command("EHLO c"), /250[- ]DSN\r\n/)
    await client.command("MAIL FROM:<a@x.test> RET=HDRS ENVID=abc")
    await client.command("RCPT TO:<b@y.test> NOTIFY=success,failure ORCPT=rfc822;b@y.test")
    assert.deepStrictEqual(await seen.promise, [
      { notify: ["SUCCESS", "FAILURE"], orcpt: "rfc822;b@y.test" },
      { ret: "HDRS", envid: "abc" }
    ])
  })

  it("has a signal that aborts when the connection ends", async () => {
    const seen = deferred<AbortSignal>()
    const aborted = deferred<void>()
    const { port } = await start({
      onConnect: (session, callback) => {
        session.signal.addEventListener("abort", () => aborted.resolve())
        seen.resolve(session.signal)
        callback()
      }
    })
    const client = await greeted(port)
    const signal = await seen.promise
    assert.isFalse(signal.aborted)
    await client.command("QUIT")
    await aborted.promise
    assert.isTrue(signal.aborted)
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
    const server = new Picky({ name: "mx.test", greetingDelay: 0 })
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

describe("onData", () => {
  it("may answer without reading: the body is drained and the next transaction works", async () => {
    const { port } = await start({ onData: (_stream, _session, callback) => callback(withCode("no thanks", 554)) })
    const client = await inTransaction(port)
    assert.strictEqual(await sendMessage(client, "line\r\n".repeat(50_000)), "554 no thanks\r\n")
    await client.command("MAIL FROM:<a@x.test>")
    assert.strictEqual(await client.command("RCPT TO:<b@y.test>"), "250 Accepted\r\n")
  })

  it("updates byteLength and sizeExceeded while the stream is read", async () => {
    const firstChunk = deferred<void>()
    const seen = deferred<Array<[number, boolean]>>()
    const { port } = await start({
      size: 50_000,
      onData: async (stream, _session, callback) => {
        const states: Array<[number, boolean]> = [[stream.byteLength, stream.sizeExceeded]]
        for await (const _chunk of stream) {
          states.push([stream.byteLength, stream.sizeExceeded])
          firstChunk.resolve()
        }
        states.push([stream.byteLength, stream.sizeExceeded])
        seen.resolve(states)
        callback(null)
      }
    })
    const client = await inTransaction(port)
    await client.command("DATA")
    client.send("x".repeat(998) + "\r\n")
    // The rest only once the first chunk was read, so the counters are seen moving.
    await firstChunk.promise
    client.send(("y".repeat(998) + "\r\n").repeat(100) + ".\r\n")
    const states = await seen.promise
    assert.deepStrictEqual(states.slice(0, 2), [[0, false], [1000, false]])
    const last = states[states.length - 1]!
    assert.isTrue(last[1])
    assert.isAbove(last[0], 50_000)
    assert.strictEqual(await client.reply(), "250 OK: message queued\r\n")
  })

  it("errors the stream and ends the session when the client leaves mid-message", async () => {
    const failed = deferred<unknown>()
    const closed = deferred<number>()
    const { port, server } = await start({
      onData: async (stream, _session, callback) => {
        try {
          for await (const _chunk of stream) {}
          callback(null)
        } catch (error) {
          failed.resolve(error)
          callback(error as Error)
        }
      },
      onClose: (session) => closed.resolve(session.transaction)
    })
    const client = await inTransaction(port)
    await client.command("DATA")
    client.send("Subject: cut\r\n\r\npart of a")
    client.socket.destroy()
    const error = (await failed.promise) as Error & { code?: string }
    assert.strictEqual(error.message, "Connection closed before the message was received in full")
    assert.strictEqual(error.code, "ECONNECTION")
    assert.strictEqual(await closed.promise, 1)
    assert.strictEqual(server.connections.size, 0)
  })

  it("with streamType \"node\" gets a Node Readable that pipes", async () => {
    const received = deferred<[string, number, boolean]>()
    const { port } = await start({
      streamType: "node",
      onData(stream, _session, callback) {
        const chunks: Array<Buffer> = []
        stream.on("data", (chunk: Buffer) => chunks.push(chunk))
        stream.on("end", () => {
          received.resolve([Buffer.concat(chunks).toString(), stream.byteLength, stream.sizeExceeded])
          callback(null, "stored")
        })
      }
    })
    const client = await inTransaction(port)
    assert.strictEqual(await sendMessage(client, "Subject: node\r\n\r\n..dot\r\n"), "250 stored\r\n")
    assert.deepStrictEqual(await received.promise, ["Subject: node\r\n\r\n.dot\r\n", 23, false])
  })

  it("a throw in a Node stream's data handler refuses the message like callback(err)", async () => {
    const { port } = await start({
      streamType: "node",
      onData(stream, _session, callback) {
        stream.on("data", () => {
          throw withCode("parser crashed", 451)
        })
        stream.on("end", () => callback(null))
      }
    })
    const client = await inTransaction(port)
    assert.strictEqual(await sendMessage(client), "451 parser crashed\r\n")
    assert.strictEqual(await client.command("NOOP"), "250 OK\r\n")
  })

  it("a second data callback is ignored: one reply per message", async () => {
    const { port } = await start({
      onData(stream, _session, callback) {
        new Response(stream).text().then(() => {
          callback(null, "first")
          callback(new Error("second"))
        })
      }
    })
    const client = await inTransaction(port)
    assert.strictEqual(await sendMessage(client), "250 first\r\n")
    assert.strictEqual(await client.command("NOOP"), "250 OK\r\n")
  })

  it("the default onData drains, answers 250 and logs the size", async () => {
    const infos: Array<string> = []
    const { port } = await start({ logger: { info: (_fields: unknown, message: string) => infos.push(message) } })
    const client = await inTransaction(port)
    assert.strictEqual(await sendMessage(client, "12345678\r\n"), "250 OK: message queued\r\n")
    assert.include(infos, "<received 10 bytes>")
  })

  it("delivers nodemailer's messages with exact bodies, several on one connection", async () => {
    const bodies: Array<string> = []
    const { port } = await start({
      onData(stream, _session, callback) {
        new Response(stream).text().then((text) => {
          bodies.push(text)
          callback(null)
        }, callback)
      }
    })
    const mailer = nodemailer.createTransport({ host: "127.0.0.1", port, ignoreTLS: true, pool: true, maxConnections: 1 })
    const raws = ["Subject: one\r\n\r\n.leading dot\r\n", "Subject: two\r\n\r\ncaf\u00e9 \u{1F600}\r\n", "Subject: three\r\n\r\n3\r\n"]
    for (const raw of raws) await mailer.sendMail({ envelope: { from: "a@x.test", to: ["b@y.test"] }, raw })
    mailer.close()
    assert.deepStrictEqual(bodies, raws)
  })
})

describe("lifecycle", () => {
  it("listen resolves, emits listening and calls the callback; address() has the port", async () => {
    const server = new SMTPServer({ greetingDelay: 0 })
    const events: Array<string> = []
    server.on("listening", () => events.push("event"))
    await server.listen(0, "127.0.0.1", () => events.push("callback"))
    events.push("resolved")
    try {
      assert.deepStrictEqual(events, ["event", "callback", "resolved"])
      assert.isTrue(server.server.listening)
      assert.isAbove(portOf(server), 0)
      assert.deepStrictEqual(server.address(), server.server.address())
    } finally {
      await server.close()
    }
  })

  it("listen(port, callback) binds all interfaces", async () => {
    const server = new SMTPServer({ greetingDelay: 0 })
    const ready = deferred<void>()
    server.listen(0, () => ready.resolve())
    await ready.promise
    const address = server.address()
    await server.close()
    assert.isTrue(typeof address === "object" && address !== null && (address.address === "::" || address.address === "0.0.0.0"))
  })

  it("emits error with the code when the port is in use, and the promise rejects", async () => {
    const { port } = await start()
    const second = new SMTPServer()
    const emitted = deferred<NodeJS.ErrnoException>()
    second.on("error", (error) => emitted.resolve(error))
    const rejected = await second.listen(port, "127.0.0.1").then(() => undefined, (error: NodeJS.ErrnoException) => error)
    assert.strictEqual(rejected?.code, "EADDRINUSE")
    assert.strictEqual((await emitted.promise).code, "EADDRINUSE")
    assert.isFalse(second.server.listening)
  })

  it("an unawaited failed listen without an error listener is no unhandled rejection", async () => {
    const { port } = await start()
    const unhandled: Array<unknown> = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on("unhandledRejection", onUnhandled)
    try {
      const failed = deferred<void>()
      const second = new SMTPServer({ logger: { error: () => failed.resolve() } })
      second.listen(port, "127.0.0.1")
      await failed.promise
      // Node reports unhandled rejections when the tick that rejected ends.
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepStrictEqual(unhandled, [])
    } finally {
      process.off("unhandledRejection", onUnhandled)
    }
  })

  it("emits connect with the connection's info once onConnect accepted", async () => {
    const { port, server } = await start()
    const info = deferred<Types.ConnectionInfo>()
    server.on("connect", (data: Types.ConnectionInfo) => info.resolve(data))
    const client = await greeted(port)
    const data = await info.promise
    assert.deepStrictEqual(Object.keys(data).sort(), [
      "clientHostname",
      "hostNameAppearsAs",
      "id",
      "localAddress",
      "localPort",
      "remoteAddress",
      "remotePort"
    ])
    assert.strictEqual(data.remotePort, client.socket.localPort)
    assert.strictEqual(data.localPort, port)
    assert.strictEqual(data.clientHostname, "[127.0.0.1]")
    assert.strictEqual(data.hostNameAppearsAs, false)
  })

  it("lists open sessions in server.connections", async () => {
    const { port, server } = await start()
    const client = await greeted(port)
    const [session] = [...server.connections]
    assert.strictEqual(server.connections.size, 1)
    assert.strictEqual(session?.remoteAddress, "127.0.0.1")
    assert.strictEqual(session?.remotePort, client.socket.localPort)
    const closed = deferred<void>()
    server.onClose = () => closed.resolve()
    await client.command("QUIT")
    await closed.promise
    assert.strictEqual(server.connections.size, 0)
  })

  it("close lets a message under way finish, refuses new commands with 421, and emits close", async () => {
    const gate = deferred<void>()
    const reading = deferred<void>()
    const { port, server } = await start({
      closeTimeout: 10_000,
      onData: (stream, _session, callback) => {
        reading.resolve()
        Promise.all([new Response(stream).text(), gate.promise]).then(() => callback(null, "kept"), callback)
      }
    })
    const client = await inTransaction(port)
    await client.command("DATA")
    client.send("Subject: late\r\n\r\nhi\r\n.\r\n")
    await reading.promise
    const events: Array<string> = []
    server.on("close", () => events.push("event"))
    const closing = server.close(() => events.push("callback"))
    assert.isFalse(server.server.listening)
    gate.resolve()
    assert.strictEqual(await client.reply(), "250 kept\r\n")
    assert.strictEqual(await client.command("NOOP"), "421 Server shutting down\r\n")
    await closing
    assert.deepStrictEqual(events, ["event", "callback"])
  })

  it("close ends a session still busy after closeTimeout with 421", async () => {
    const { port, server } = await start({
      closeTimeout: 50,
      onData: () => {}
    })
    const client = await inTransaction(port)
    await client.command("DATA")
    client.send("Subject: stuck\r\n\r\nhi\r\n.\r\n")
    const closing = server.close()
    assert.strictEqual(await client.reply(), "421 Server shutting down\r\n")
    await client.closed
    await closing
  })

  it("listens again after close", async () => {
    const server = new SMTPServer({ name: "mx.test", greetingDelay: 0 })
    await server.listen(0, "127.0.0.1")
    await server.close()
    await server.listen(0, "127.0.0.1")
    try {
      const client = await connect(portOf(server))
      assert.strictEqual(await client.reply(), "220 mx.test ESMTP\r\n")
      client.socket.destroy()
    } finally {
      await server.close()
    }
  })
})

describe("logger", () => {
  it("true logs lines to the console, with the component", async () => {
    const lines: Array<string> = []
    const log = vi.spyOn(console, "log").mockImplementation((line: string) => lines.push(line))
    try {
      const { port, server } = await start({ logger: true, component: "mx" })
      await greeted(port)
      await server.close()
    } finally {
      log.mockRestore()
    }
    assert.match(lines[0]!, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] INFO  \[mx\] SMTP Server listening on 127\.0\.0\.1:\d+$/)
    assert.isTrue(lines.some((line) => /INFO  \[mx\] \[#[0-9a-v]{16}\] Connection from \[127\.0\.0\.1\]$/.test(line)))
  })

  it("false (the default) logs nothing", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {})
    try {
      const { port, server } = await start({ onRcptTo: () => {
        throw new Error("x")
      } })
      const client = await inTransaction(port, [])
      await client.command("RCPT TO:<r@y.test>")
      await server.close()
      assert.strictEqual(log.mock.calls.length, 0)
    } finally {
      log.mockRestore()
    }
  })

  it("a bunyan-style object gets (fields, message) with the component and the session id", async () => {
    const calls: Array<[string, Record<string, unknown>, string]> = []
    const logger = Object.fromEntries(
      ["trace", "debug", "info", "warn", "error"].map((level) => [
        level,
        (fields: Record<string, unknown>, message: string) => calls.push([level, fields, message])
      ])
    )
    const { port } = await start({ logger, component: "edge" })
    const client = await greeted(port)
    await client.command("QUIT")
    await client.closed
    const connection = calls.find(([, , message]) => message === "Connection from [127.0.0.1]")
    assert.isDefined(connection)
    assert.strictEqual(connection![0], "info")
    assert.strictEqual(connection![1]["component"], "edge")
    assert.match(String(connection![1]["cid"]), /^[0-9a-v]{16}$/)
  })
})

describe("raw bytes", () => {
  it("a pipelined transaction gets its replies in order", async () => {
    const { port } = await start()
    const socket = net.connect(port, "127.0.0.1")
    const text = await new Promise<string>((resolve) => {
      let received = ""
      socket.on("data", (chunk) => {
        received += chunk.toString()
        if (received === "220 mx.test ESMTP\r\n") {
          socket.write("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
        }
        if (received.includes("354 ")) socket.write("hi\r\n.\r\nQUIT\r\n")
      })
      socket.on("close", () => resolve(received))
    })
    assert.strictEqual(
      text,
      "220 mx.test ESMTP\r\n250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n" +
        "250 SMTPUTF8\r\n250 Accepted\r\n250 Accepted\r\n354 End data with <CR><LF>.<CR><LF>\r\n" +
        "250 OK: message queued\r\n221 Bye\r\n"
    )
  })
})

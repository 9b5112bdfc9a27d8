/**
 * The facade over real sockets on 127.0.0.1: replies, listen/close and events, pipelining.
 */
import { assert, describe, it } from "@effect/vitest"
import * as net from "node:net"
import { SMTPServer } from "../../src/compat/index.js"
import type * as Types from "../../src/compat/Types.js"
import { connect, deferred, greeted, inTransaction, portOf, sendMessage, start } from "./client.js"

describe("SMTPServer replies", () => {
  it("greets, answers EHLO without ENHANCEDSTATUSCODES and DSN by default, and says Bye", async () => {
    const { port } = await start()
    const client = await connect(port)
    assert.strictEqual(await client.reply(), "220 mx.test ESMTP\r\n")
    assert.strictEqual(
      await client.command("EHLO client.test"),
      "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
        "250-CHUNKING\r\n250-BINARYMIME\r\n250-STARTTLS\r\n250 LIMITS RCPTMAX=1000\r\n"
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
    assert.match(await client.command("EHLO c"), /250-SIZE 1000\r\n250 LIMITS RCPTMAX=1000\r\n$/)
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
        "250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-STARTTLS\r\n250 LIMITS RCPTMAX=1000\r\n" +
        "250 Accepted\r\n250 Accepted\r\n354 End data with <CR><LF>.<CR><LF>\r\n" +
        "250 OK: message queued\r\n221 Bye\r\n"
    )
  })
})

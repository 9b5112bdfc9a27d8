/**
 * The message stream onData reads (Web and Node), over real sockets.
 */
import { assert, describe, it } from "@effect/vitest"
import nodemailer from "nodemailer"
import { deferred, inTransaction, sendMessage, start, withCode } from "./client.js"

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

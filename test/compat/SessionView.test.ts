/**
 * The session object the callbacks receive, over real sockets.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as Types from "../../src/compat/Types.js"
import { deferred, greeted, inTransaction, sendMessage, start } from "./client.js"

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

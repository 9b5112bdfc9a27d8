import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Queue, Stream } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import type * as Session from "../../src/core/Session.js"
import type * as Transport from "../../src/core/Transport.js"
import * as TestClient from "../../src/testing/TestClient.js"

const tls: Transport.TlsInfo = { name: "TLS_AES_128_GCM_SHA256", standardName: "TLS_AES_128_GCM_SHA256", version: "TLSv1.3" }

// A server whose data hook hands each envelope to the test.
const serverWith = (config: Input = {}) =>
  Effect.gen(function*() {
    const envelopes = yield* Queue.unbounded<Session.Envelope>()
    const server = yield* TestClient.server.pipe(Effect.provide(Layer.merge(
      ServerConfig.layer({ name: "mx.test", closeTimeout: 0, ...config }),
      Hooks.layer({
        onData: (message) => Effect.zipRight(Stream.runDrain(message.body), Queue.offer(envelopes, message.envelope)).pipe(Effect.asVoid)
      })
    )))
    return { server, nextEnvelope: Queue.take(envelopes) }
  })

const greeted = (server: TestClient.TestServer, secure = false) =>
  Effect.gen(function*() {
    const client = yield* server.connect(undefined, secure ? { tls } : {})
    yield* client.reply
    return client
  })

// Sends a one-line message after the envelope commands and reads every reply.
const send = (client: TestClient.TestClient, commands: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const replies: Array<string> = []
    for (const line of commands) replies.push(yield* client.command(line))
    replies.push(yield* client.command("DATA"))
    replies.push(yield* client.command("hi\r\n."))
    return replies
  })

describe("DSN (RFC 3461)", () => {
  it.scoped("records RET and ENVID in envelope.dsn and NOTIFY and ORCPT on each recipient, decoded", () =>
    Effect.gen(function*() {
      const { nextEnvelope, server } = yield* serverWith()
      const client = yield* greeted(server)
      yield* client.command("EHLO c")
      const replies = yield* send(client, [
        "MAIL FROM:<a@x.test> RET=hdrs ENVID=QQ+2B314159",
        "RCPT TO:<b@y.test> NOTIFY=success,delay ORCPT=rfc822;B+40y.test",
        "RCPT TO:<c@y.test> NOTIFY=NEVER",
        "RCPT TO:<d@y.test>"
      ])
      assert.deepStrictEqual(replies.slice(0, 4), [
        "250 2.1.0 Accepted\r\n",
        "250 2.1.5 Accepted\r\n",
        "250 2.1.5 Accepted\r\n",
        "250 2.1.5 Accepted\r\n"
      ])
      const envelope = yield* nextEnvelope
      assert.deepStrictEqual(envelope.dsn, { ret: "HDRS", envid: "QQ+314159" })
      assert.deepStrictEqual(envelope.rcptTo.map((r) => r.dsn), [
        { notify: ["SUCCESS", "DELAY"], orcpt: "rfc822;B@y.test" },
        { notify: ["NEVER"] },
        undefined
      ])
      // The raw parameters stay as the client wrote them.
      assert.strictEqual(envelope.rcptTo[0]!.args["ORCPT"], "rfc822;B+40y.test")
    }))

  it.scoped("leaves envelope.dsn empty without DSN parameters", () =>
    Effect.gen(function*() {
      const { nextEnvelope, server } = yield* serverWith()
      const client = yield* greeted(server)
      yield* client.command("EHLO c")
      yield* send(client, ["MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"])
      assert.deepStrictEqual((yield* nextEnvelope).dsn, { ret: null, envid: null })
    }))

  it.scoped.each([
    ["MAIL FROM:<a@x.test> RET=BODY", "501 5.5.4 Invalid RET parameter value. Must be FULL or HDRS\r\n"],
    ["MAIL FROM:<a@x.test> RET", "501 5.5.4 Error: RET parameter requires a value\r\n"],
    ["MAIL FROM:<a@x.test> ENVID=a+0D+0Ab", "501 5.1.7 Error: Bad sender address syntax\r\n"],
    ["MAIL FROM:<a@x.test> RET=FULL RET=HDRS", "501 5.5.4 Error: duplicate RET parameter\r\n"]
  ])("refuses %s with %j", ([line, expected]) =>
    Effect.gen(function*() {
      const { server } = yield* serverWith()
      const client = yield* greeted(server)
      yield* client.command("EHLO c")
      assert.strictEqual(yield* client.command(line), expected)
    }))

  it.scoped.each([
    ["RCPT TO:<b@y.test> NOTIFY=SOMETIMES", "501 5.5.4 Error: NOTIFY parameter must be NEVER, SUCCESS, FAILURE, or DELAY\r\n"],
    ["RCPT TO:<b@y.test> NOTIFY=NEVER,FAILURE", "501 5.5.4 Error: NOTIFY=NEVER cannot be combined with other values\r\n"],
    ["RCPT TO:<b@y.test> ORCPT=user@y.test", "501 5.5.4 Error: Bad ORCPT parameter syntax\r\n"],
    ["RCPT TO:<b@y.test> ORCPT=rfc822;a+0Ab", "501 5.1.3 Error: Bad recipient address syntax\r\n"]
  ])("refuses %s with %j", ([line, expected]) =>
    Effect.gen(function*() {
      const { server } = yield* serverWith()
      const client = yield* greeted(server)
      yield* client.command("EHLO c")
      yield* client.command("MAIL FROM:<a@x.test>")
      assert.strictEqual(yield* client.command(line), expected)
    }))

  it.scoped("still takes DSN parameters when hideDSN leaves DSN out of EHLO", () =>
    Effect.gen(function*() {
      const { nextEnvelope, server } = yield* serverWith({ hideDSN: true })
      const client = yield* greeted(server)
      assert.notInclude(yield* client.command("EHLO c"), "DSN")
      yield* send(client, ["MAIL FROM:<a@x.test> RET=FULL", "RCPT TO:<b@y.test> NOTIFY=FAILURE"])
      const envelope = yield* nextEnvelope
      assert.strictEqual(envelope.dsn.ret, "FULL")
      assert.deepStrictEqual(envelope.rcptTo[0]!.dsn, { notify: ["FAILURE"] })
    }))
})

describe("REQUIRETLS (RFC 8689)", () => {
  it.scoped("is neither offered nor accepted on a plaintext connection", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith()
      const client = yield* greeted(server)
      assert.notInclude(yield* client.command("EHLO c"), "REQUIRETLS")
      assert.strictEqual(
        yield* client.command("MAIL FROM:<a@x.test> REQUIRETLS"),
        "530 5.7.0 REQUIRETLS not permitted on non-TLS connections\r\n"
      )
    }))

  it.scoped("is offered on a secure connection and recorded in envelope.requireTLS", () =>
    Effect.gen(function*() {
      const { nextEnvelope, server } = yield* serverWith({ size: 1000 })
      const client = yield* greeted(server, true)
      assert.strictEqual(
        yield* client.command("EHLO c"),
        "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" +
          "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-AUTH PLAIN LOGIN\r\n250-REQUIRETLS\r\n" +
            "250-SIZE 1000\r\n250 LIMITS RCPTMAX=1000\r\n"
      )
      const replies = yield* send(client, ["MAIL FROM:<a@x.test> REQUIRETLS", "RCPT TO:<b@y.test>"])
      assert.strictEqual(replies[0], "250 2.1.0 Accepted\r\n")
      assert.isTrue((yield* nextEnvelope).requireTLS)
    }))

  it.scoped("is still accepted on a secure connection when hideREQUIRETLS hides it", () =>
    Effect.gen(function*() {
      const { nextEnvelope, server } = yield* serverWith({ hideREQUIRETLS: true })
      const client = yield* greeted(server, true)
      assert.notInclude(yield* client.command("EHLO c"), "REQUIRETLS")
      yield* send(client, ["MAIL FROM:<a@x.test> REQUIRETLS", "RCPT TO:<b@y.test>"])
      assert.isTrue((yield* nextEnvelope).requireTLS)
    }))

  it.scoped("refuses REQUIRETLS with a value", () =>
    Effect.gen(function*() {
      const { server } = yield* serverWith()
      const client = yield* greeted(server, true)
      yield* client.command("EHLO c")
      assert.strictEqual(
        yield* client.command("MAIL FROM:<a@x.test> REQUIRETLS=YES"),
        "501 5.5.4 Invalid REQUIRETLS parameter. This flag does not accept a value\r\n"
      )
    }))

  it.scoped("leaves envelope.requireTLS false without the parameter", () =>
    Effect.gen(function*() {
      const { nextEnvelope, server } = yield* serverWith()
      const client = yield* greeted(server, true)
      yield* client.command("EHLO c")
      yield* send(client, ["MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"])
      assert.isFalse((yield* nextEnvelope).requireTLS)
    }))
})

import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Queue, Stream } from "effect"
import nodemailer from "nodemailer"
import * as Hooks from "../../src/core/Hooks.js"
import type * as Session from "../../src/core/Session.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"

// A server whose data hook refuses full@ recipients one by one and hands each envelope to the test.
const start = (options: Partial<NodeSmtpServer.Options>) =>
  Effect.gen(function*() {
    const envelopes = yield* Queue.unbounded<Session.Envelope>()
    const hooks = Hooks.layer({
      onData: (message) =>
        Stream.runDrain(message.body).pipe(
          Effect.zipRight(Queue.offer(envelopes, message.envelope)),
          Effect.as(message.envelope.rcptTo.map((rcpt) =>
            rcpt.address.startsWith("full@") ? SmtpError.make(452, "Mailbox full", "4.2.2") : { message: `Delivered to ${rcpt.address}` }
          ))
        )
    })
    const layer = NodeSmtpServer.layer({ port: 0, host: "127.0.0.1", name: "mx.test", closeTimeout: 0, ...options }).pipe(
      Layer.provide(hooks)
    )
    const server = Context.get(yield* Layer.build(layer), NodeSmtpServer.SmtpServer)
    return { port: server.address.port, nextEnvelope: Queue.take(envelopes) }
  })

describe("nodemailer over LMTP", () => {
  it.live("delivers to three recipients and learns that the middle one was refused", () =>
    Effect.gen(function*() {
      const { nextEnvelope, port } = yield* start({ lmtp: true })
      const mailer = nodemailer.createTransport({ host: "127.0.0.1", port, lmtp: true, ignoreTLS: true })
      const info = yield* Effect.promise(() =>
        mailer.sendMail({
          envelope: { from: "sender@x.test", to: ["a@y.test", "full@y.test", "c@y.test"] },
          raw: "Subject: lmtp\r\n\r\nhello\r\n"
        })
      )
      mailer.close()
      assert.deepStrictEqual(info.accepted, ["a@y.test", "c@y.test"])
      assert.deepStrictEqual(info.rejected, ["full@y.test"])
      const errors = (info as unknown as { rejectedErrors: Array<{ response: string }> }).rejectedErrors
      assert.deepStrictEqual(errors.map((e) => e.response), ["452 4.2.2 Mailbox full"])
      // The response nodemailer reports is the last recipient's.
      assert.strictEqual(info.response, "250 2.6.0 Delivered to c@y.test")
      assert.deepStrictEqual((yield* nextEnvelope).rcptTo.map((r) => r.address), ["a@y.test", "full@y.test", "c@y.test"])
    }).pipe(Effect.scoped))

  it.live("carries nodemailer's DSN options through xtext to envelope.dsn and each recipient", () =>
    Effect.gen(function*() {
      const { nextEnvelope, port } = yield* start({ lmtp: false })
      const mailer = nodemailer.createTransport({ host: "127.0.0.1", port, ignoreTLS: true })
      yield* Effect.promise(() =>
        mailer.sendMail({
          envelope: { from: "sender@x.test", to: ["a@y.test"] },
          raw: "Subject: dsn\r\n\r\nhello\r\n",
          // Decoded only if the client encoded it: "+2B" survives the round trip only as "+2B2B" on the wire.
          dsn: { id: "id+2B=x y", return: "headers", notify: ["success", "failure"], recipient: "orig@x.test" }
        })
      )
      mailer.close()
      const envelope = yield* nextEnvelope
      assert.deepStrictEqual(envelope.dsn, { ret: "HDRS", envid: "id+2B=x y" })
      assert.deepStrictEqual(envelope.rcptTo[0]!.dsn, { notify: ["SUCCESS", "FAILURE"], orcpt: "rfc822;orig@x.test" })
    }).pipe(Effect.scoped))
})

import { assert, describe, it } from "@effect/vitest"
import * as Session from "../../src/core/Session.js"

const info = { remoteAddress: "192.0.2.7", remotePort: 4000, localAddress: "192.0.2.1", localPort: 25 }
const fresh = Session.make("id1", info, undefined)
const tls = { name: "TLS_AES_256_GCM_SHA384", standardName: "TLS_AES_256_GCM_SHA384", version: "TLSv1.3" }

describe("Session", () => {
  it("starts with the peer's addresses and [address] as the client name", () => {
    assert.strictEqual(fresh.clientHostname, "[192.0.2.7]")
    assert.strictEqual(fresh.envelope.mailFrom, undefined)
    assert.strictEqual(fresh.transactions, 0)
  })

  it("records the greeting lower-cased and resets the envelope (RFC 5321 §4.1.4)", () => {
    const inMail = Session.startTransaction(fresh, { address: "a@x.test", args: {} })
    const greeted = Session.greet(inMail, "EHLO", "Client.Example")
    assert.strictEqual(greeted.heloName, "client.example")
    assert.strictEqual(greeted.openingCommand, "EHLO")
    assert.isFalse(Session.inTransaction(greeted))
  })

  it("reads BODY, SMTPUTF8, REQUIRETLS, RET and ENVID off MAIL FROM", () => {
    const s = Session.startTransaction(fresh, {
      address: "a@x.test",
      args: { BODY: "8BITMIME", SMTPUTF8: true, REQUIRETLS: true, RET: "hdrs", ENVID: "QQ314159" }
    })
    assert.strictEqual(s.envelope.bodyType, "8bitmime")
    assert.isTrue(s.envelope.smtpUtf8)
    assert.isTrue(s.envelope.requireTLS)
    assert.deepStrictEqual(s.envelope.dsn, { ret: "HDRS", envid: "QQ314159" })
  })

  it("replaces a repeated recipient instead of adding it", () => {
    let s = Session.startTransaction(fresh, { address: "a@x.test", args: {} })
    s = Session.addRecipient(s, { address: "B@y.test", args: {} })
    s = Session.addRecipient(s, { address: "c@y.test", args: {} })
    s = Session.addRecipient(s, { address: "b@y.test", args: { NOTIFY: "NEVER" } })
    assert.deepStrictEqual(s.envelope.rcptTo.map((r) => r.address), ["c@y.test", "b@y.test"])
  })

  it("counts only completed transactions", () => {
    const s = Session.startTransaction(fresh, { address: "a@x.test", args: {} })
    assert.strictEqual(Session.endTransaction(s, false).transactions, 0)
    assert.strictEqual(Session.endTransaction(s, true).transactions, 1)
  })

  it.each([
    [{}, false, "SMTP", "HELO"],
    [{}, false, "ESMTP", "EHLO"],
    [{ tls }, false, "ESMTPS", "EHLO"],
    [{ tls, user: "u" }, false, "ESMTPSA", "EHLO"],
    [{ user: "u" }, false, "ESMTPA", "EHLO"],
    [{}, true, "LMTP", "LHLO"],
    [{ tls, user: "u" }, true, "LMTPSA", "LHLO"]
  ] as const)("names the transmission type of %j (lmtp %s) %s", (fields, lmtp, expected, verb) => {
    const s = { ...Session.greet(fresh, verb, "c"), ...fields }
    assert.strictEqual(Session.transmissionType(s, lmtp), expected)
  })
})

import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
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

describe("Session.newId", () => {
  it("gives distinct 16-character base-32 ids, also across refills of its random pool", () => {
    // 2,000 ids use the pool of 409 ids five times over.
    const ids = Array.from({ length: 2_000 }, () => Session.newId())
    for (const id of ids) assert.match(id, /^[0-9a-v]{16}$/)
    assert.strictEqual(new Set(ids).size, ids.length)
    // Every base-32 digit turns up in the first position: the top bits are random too.
    assert.strictEqual(new Set(ids.map((id) => id[0])).size, 32)
  })
})

describe("Session.SessionRef", () => {
  it.effect("is a Ref: get, update and modify go through current", () =>
    Effect.gen(function*() {
      const ref = new Session.SessionRef(fresh)
      assert.strictEqual(yield* Ref.get(ref), fresh)
      yield* Ref.update(ref, (s) => Session.greet(s, "EHLO", "Client.Example"))
      assert.strictEqual(ref.current.heloName, "client.example")
      const before = yield* Ref.modify(ref, (s) => [s.transactions, Session.endTransaction(s, true)] as const)
      assert.strictEqual(before, 0)
      assert.strictEqual(ref.current.transactions, 1)
      // The Ref is also an Effect that reads the session, as Effect's own Refs are.
      assert.strictEqual(yield* ref, ref.current)
    }))

  it.effect("shows a value set directly through current to Ref.get", () =>
    Effect.gen(function*() {
      const ref = new Session.SessionRef(fresh)
      const greeted = Session.greet(fresh, "HELO", "c")
      ref.current = greeted
      assert.strictEqual(yield* Ref.get(ref), greeted)
    }))
})

import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as crypto from "node:crypto"
import * as Users from "../../src/cli/Users.js"
import * as Hooks from "../../src/core/Hooks.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as Session from "../../src/core/Session.js"

const users: ReadonlyArray<Users.User> = [{ name: "alice", password: "s3cret:with:colons" }, { name: "bob", password: "hunter2" }]

const plain = (username: string, password: string): Hooks.Credentials => ({ method: "PLAIN", username, password })

// CRAM-MD5 as the core builds it: the client's digest of a challenge, checked against a password.
const cram = (username: string, password: string): Hooks.Credentials => {
  const challenge = "<1.2@mx.test>"
  const response = crypto.createHmac("md5", password).update(challenge).digest("hex")
  return {
    method: "CRAM-MD5",
    username,
    challenge,
    challengeResponse: response,
    validatePassword: (candidate) => crypto.createHmac("md5", candidate).update(challenge).digest("hex") === response
  }
}

const session = Session.make("s", { remoteAddress: "127.0.0.1", remotePort: 1, localAddress: "127.0.0.1", localPort: 25 }, undefined)

describe("Users", () => {
  it.each([
    ["alice:pw", { name: "alice", password: "pw" }],
    ["alice:a:b:c", { name: "alice", password: "a:b:c" }],
    ["alice:", undefined],
    [":pw", undefined],
    ["alice", undefined]
  ])("reads %j", (spec, user) => {
    assert.deepStrictEqual(Users.parse(spec), user)
  })

  it("accepts the right password by PLAIN, LOGIN and CRAM-MD5, and names the user", () => {
    assert.strictEqual(Users.verify(users, plain("alice", "s3cret:with:colons")), "alice")
    assert.strictEqual(Users.verify(users, { method: "LOGIN", username: "bob", password: "hunter2" }), "bob")
    assert.strictEqual(Users.verify(users, cram("bob", "hunter2")), "bob")
  })

  it("refuses a wrong password, another user's password, an unknown name and XOAUTH2", () => {
    assert.isUndefined(Users.verify(users, plain("alice", "hunter2")))
    assert.isUndefined(Users.verify(users, plain("bob", "s3cret:with:colons")))
    assert.isUndefined(Users.verify(users, plain("mallory", "hunter2")))
    assert.isUndefined(Users.verify(users, cram("alice", "wrong")))
    assert.isUndefined(Users.verify(users, { method: "XOAUTH2", username: "alice", accessToken: "s3cret:with:colons" }))
  })

  it.effect("as the OnAuth hook: the user on success, 535 5.7.8 otherwise", () =>
    Effect.gen(function*() {
      const onAuth = yield* Hooks.OnAuth
      assert.deepStrictEqual(yield* onAuth(plain("bob", "hunter2"), session), { user: "bob" })
      const refused = yield* Effect.flip(onAuth(plain("bob", "nope"), session))
      assert.strictEqual(Reply.format(refused.reply), "535 5.7.8 Error: Authentication credentials invalid\r\n")
    }).pipe(Effect.provide(Users.layer(users)), Effect.provideService(Session.Session, { get: Effect.succeed(session), raw: Effect.succeed(undefined) })))
})

/** The adapters from callbacks to hooks, called directly: what AUTH and TLS will rely on, and the error mapping. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import * as Session from "../../src/core/Session.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as Callbacks from "../../src/compat/Callbacks.js"
import * as Logging from "../../src/compat/Logging.js"
import * as SessionView from "../../src/compat/SessionView.js"
import type * as Types from "../../src/compat/Types.js"

const state = Session.make("s1", { remoteAddress: "10.0.0.1", remotePort: 40000, localAddress: "10.0.0.2", localPort: 25 }, undefined)
const sessionLayer = Layer.succeed(Session.Session, { get: Effect.succeed(state), raw: Effect.succeed("raw socket") })

const hostWith = (callbacks: Partial<Callbacks.AnyCallbacks>): Callbacks.Host => ({
  callbacks: { ...Callbacks.defaults, ...callbacks },
  sessions: new SessionView.Registry({ lmtp: false, hideDSN: true }),
  log: Logging.silent,
  streamType: "web",
  connected: () => {}
})

const authenticate = (host: Callbacks.Host, credentials: Hooks.Credentials) =>
  Effect.flatMap(Hooks.OnAuth, (onAuth) => Effect.either(onAuth(credentials, state))).pipe(
    Effect.provide(Layer.merge(Callbacks.fromOnAuth(host), sessionLayer))
  )

const replyOf = <A>(result: Either.Either<A, { readonly reply: Reply.Reply }>): string =>
  Either.isLeft(result) ? Reply.format(result.left.reply) : "accepted"

describe("fromOnAuth", () => {
  it.effect("hands onAuth the method's fields", () =>
    Effect.gen(function*() {
      const seen: Array<Types.AuthObject> = []
      const host = hostWith({
        onAuth: (auth, _session, callback) => {
          seen.push(auth)
          callback(null, { user: { name: auth.username }, message: "Welcome" })
        }
      })
      const result = yield* authenticate(host, { method: "XOAUTH2", username: "u", accessToken: "t0ken" })
      assert.deepStrictEqual(result, Either.right({ user: { name: "u" }, message: "Welcome" }))
      assert.strictEqual(seen[0]?.method, "XOAUTH2")
      assert.strictEqual(seen[0]?.accessToken, "t0ken")
      assert.isFalse(seen[0]?.validatePassword("anything"))
    }))

  it.effect("refuses a response without user with its code and message, else 535", () =>
    Effect.gen(function*() {
      const plain = { method: "PLAIN", username: "u", password: "p" } as const
      const withCode = hostWith({ onAuth: (_auth, _session, callback) => callback(null, { message: "Try later", responseCode: 454 }) })
      assert.strictEqual(replyOf(yield* authenticate(withCode, plain)), "454 4.7.0 Try later\r\n")
      const bare = hostWith({ onAuth: (_auth, _session, callback) => callback(null) })
      assert.strictEqual(replyOf(yield* authenticate(bare, plain)), "535 5.7.8 Error: Authentication credentials invalid\r\n")
    }))

  it.effect("sends XOAUTH2's data as a 334 base64 JSON challenge, with or without an error", () =>
    Effect.gen(function*() {
      const xoauth2 = { method: "XOAUTH2", username: "u", accessToken: "bad" } as const
      const data = { status: "401", schemes: "bearer" }
      const challenge = Buffer.from(JSON.stringify(data)).toString("base64")
      const withError = hostWith({ onAuth: (_auth, _session, callback) => callback(new Error("expired"), { data }) })
      assert.strictEqual(replyOf(yield* authenticate(withError, xoauth2)), `334 ${challenge}\r\n`)
      const withoutUser = hostWith({ onAuth: (_auth, _session, callback) => callback(null, { data }) })
      assert.strictEqual(replyOf(yield* authenticate(withoutUser, xoauth2)), `334 ${challenge}\r\n`)
    }))

  it.effect("by default refuses PLAIN, challenges XOAUTH2 and lets XCLIENT pass without a user", () =>
    Effect.gen(function*() {
      const host = hostWith({})
      assert.strictEqual(
        replyOf(yield* authenticate(host, { method: "LOGIN", username: "u", password: "p" })),
        "535 5.7.8 Authentication not implemented\r\n"
      )
      assert.match(replyOf(yield* authenticate(host, { method: "XOAUTH2", username: "u", accessToken: "t" })), /^334 /)
      assert.deepStrictEqual(yield* authenticate(host, { method: "XCLIENT", username: "u" }), Either.right({ user: undefined }))
    }))

  it.effect("shows the user onAuth set on later sessions through the core state", () =>
    Effect.gen(function*() {
      const host = hostWith({})
      const view = host.sessions.view({ ...state, user: { id: 7 } })
      assert.deepStrictEqual(view.user, { id: 7 })
      assert.strictEqual(view.transmissionType, "ESMTPA")
    }))
})

describe("fromOnSecure", () => {
  it.effect("passes the session's socket and the handshake's TLS facts; an error refuses with 554", () =>
    Effect.gen(function*() {
      const seen: Array<[unknown, boolean, unknown, unknown]> = []
      const host = hostWith({
        onSecure: (socket, session, callback) => {
          seen.push([socket, session.secure, session.servername, session.tlsOptions])
          callback(new Error("certificate required"))
        }
      })
      const tls = { name: "AES", standardName: "TLS_AES", version: "TLSv1.3", servername: "mx.test" }
      const result = yield* Effect.flatMap(Hooks.OnSecure, (onSecure) => Effect.either(onSecure(tls, state))).pipe(
        Effect.provide(Layer.merge(Callbacks.fromOnSecure(host), sessionLayer))
      )
      assert.strictEqual(replyOf(result), "554 5.7.1 certificate required\r\n")
      assert.deepStrictEqual(seen, [["raw socket", true, "mx.test", { name: "AES", standardName: "TLS_AES", version: "TLSv1.3" }]])
    }))
})

describe("refusal", () => {
  it.each([
    [{ message: "m", responseCode: 421 }, "421 4.4.2 m\r\n"],
    [{ message: "m", responseCode: 456 }, "456 4.0.0 m\r\n"],
    [{ message: "m", responseCode: 599 }, "599 5.0.0 m\r\n"],
    [{ message: "m", responseCode: 250 }, "550 5.1.1 m\r\n"],
    [{ message: "m", responseCode: "451" }, "550 5.1.1 m\r\n"],
    ["plain text", "550 5.1.1 plain text\r\n"],
    [{}, "550 5.1.1 \r\n"]
  ])("maps %j to %j", (err, reply) => {
    assert.strictEqual(Reply.format(Callbacks.refusal(err, Reply.table.mailboxUnavailable).reply), reply)
  })
})

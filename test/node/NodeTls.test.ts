import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeTls from "../../src/node/NodeTls.js"
import * as RawClient from "../support/RawClient.js"

const mxA = { key: RawClient.fixture("test-only-mx-a.key"), cert: RawClient.fixture("test-only-mx-a.crt") }
const mxB = { key: RawClient.fixture("test-only-mx-b.key"), cert: RawClient.fixture("test-only-mx-b.crt") }

describe("NodeTls.Contexts", () => {
  it.effect("uses the development certificate only when no key and cert are given", () =>
    Effect.gen(function*() {
      assert.isTrue((yield* NodeTls.Contexts.make()).usesDevelopmentCertificate)
      assert.isFalse((yield* NodeTls.Contexts.make(mxA)).usesDevelopmentCertificate)
    }))

  it.effect.each([
    ["a key without its certificate", { key: mxA.key }, "Invalid TLS options: key and cert go together"],
    ["a key that is not PEM", { key: "not a key", cert: mxA.cert }, "Invalid TLS options: "],
    ["a key that does not match its certificate", { key: mxB.key, cert: mxA.cert }, "Invalid TLS options: "],
    ["an unknown protocol version", { ...mxA, minVersion: "TLSv9" as "TLSv1.3" }, "Invalid TLS options: "],
    ["a bad SNI entry", { ...mxA, sniOptions: { "mx-b.test": { key: mxB.key } } }, "Invalid TLS options of sniOptions \"mx-b.test\": "]
  ] as const)("refuses %s with SecureContextError", ([, options, message]) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(NodeTls.Contexts.make(options))
      assert.strictEqual(error._tag, "SecureContextError")
      assert.isTrue(error.message.startsWith(message), error.message)
    }))

  it.effect("update merges over the current options and keeps them when the new ones fail", () =>
    Effect.gen(function*() {
      const contexts = yield* NodeTls.Contexts.make({ ...mxA, requestCert: true })
      yield* contexts.update(mxB)
      assert.strictEqual(contexts.options.cert, mxB.cert)
      assert.isTrue(contexts.options.requestCert)
      yield* Effect.flip(contexts.update({ key: mxA.key }))
      assert.strictEqual(contexts.options.cert, mxB.cert)
      assert.isFalse(contexts.usesDevelopmentCertificate)
    }))
})

describe("NodeTls.split", () => {
  it("takes the TLS options out and leaves the rest", () => {
    const { rest, tls } = NodeTls.split({ port: 25, name: "mx.test", ...mxA, requestCert: true, sniOptions: {} })
    assert.deepStrictEqual(rest, { port: 25, name: "mx.test" })
    assert.deepStrictEqual(tls, { ...mxA, requestCert: true, sniOptions: {} })
  })
})

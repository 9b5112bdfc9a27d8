import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ServerConfig from "../../src/core/ServerConfig.js"

describe("ServerConfig", () => {
  it("fills every default", () => {
    const config = ServerConfig.decodeSync({})
    assert.strictEqual(config.name, "localhost")
    assert.strictEqual(config.maxLineLength, 2048)
    assert.strictEqual(config.maxRecipients, 1000)
    assert.strictEqual(config.maxUnrecognizedCommands, 10)
    assert.strictEqual(config.socketTimeout, 60_000)
    assert.strictEqual(config.closeTimeout, 30_000)
    assert.strictEqual(config.greetingDelay, 0)
    assert.strictEqual(config.bareLineEndings, "normalize")
    assert.isTrue(config.rejectOversized)
    assert.isFalse(config.hideENHANCEDSTATUSCODES)
    assert.deepStrictEqual(config.disabledCommands, [])
  })

  it("upper-cases disabled commands", () => {
    assert.deepStrictEqual(ServerConfig.decodeSync({ disabledCommands: ["vrfy", "Help"] }).disabledCommands, [
      "VRFY",
      "HELP"
    ])
  })

  it.each([
    [{ size: -1 }, "size"],
    [{ maxLineLength: 100 }, "maxLineLength"],
    [{ socketTimeout: 1.5 }, "socketTimeout"],
    [{ bareLineEndings: "strip" }, "bareLineEndings"],
    [{ name: "" }, "name"],
    [{ nonsense: true }, "nonsense"]
  ])("refuses %j with a message naming %s", (input, field) => {
    assert.throws(() => ServerConfig.decodeSync(input as ServerConfig.Input), new RegExp(`\\b${field}\\b`))
  })

  it.effect("fails the layer with a ConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ServerConfig.decode({ maxRecipients: 0 }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.match(error.message, /maxRecipients/)
    }))
})

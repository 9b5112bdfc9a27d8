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

  it.each([
    [{ authMethods: ["plain", "DIGEST-MD5"] }, "authMethods[1]: expected one of PLAIN, LOGIN, CRAM-MD5, XOAUTH2, got \"DIGEST-MD5\""],
    [{ useXClient: ["127.0.0.1", "localhost"] }, "useXClient[1]: expected an IP address or \"*\", got \"localhost\""],
    [{ useProxy: "yes" }, "useProxy: expected true, false or a list of IP addresses, got \"yes\""],
    [{ disabledCommands: ["HELP", 7] }, "disabledCommands[1]: expected a string, got 7"],
    [{ maxLineLength: 100 }, "maxLineLength: expected an integer from 512 to 1048576, got 100"],
    [{ maxAllowedUnauthenticatedCommands: true }, "maxAllowedUnauthenticatedCommands: expected false or an integer ≥ 1, got true"],
    [{ bareLineEndings: "strip" }, "bareLineEndings: expected \"normalize\" or \"reject\" or \"pass\", got \"strip\""],
    [{ banner: "x".repeat(100) }, undefined],
    [{ heloResponse: "y".repeat(100) }, undefined],
    [{ name: 7 }, "name: expected a non-empty string without surrounding spaces, got 7"],
    [{ greetingDelay: -1 }, "greetingDelay: expected an integer ≥ 0, got -1"],
    [{ nonsense: true }, "nonsense: is not an option"]
  ])("reads %j: the message says exactly what is wrong with which entry", (input, message) => {
    if (message === undefined) return void ServerConfig.decodeSync(input as ServerConfig.Input)
    assert.throws(() => ServerConfig.decodeSync(input as ServerConfig.Input), message)
  })

  it("shows a long wrong value cut short", () => {
    assert.throws(
      () => ServerConfig.decodeSync({ size: "9".repeat(200) } as never),
      `size: expected an integer ≥ 0, got "${"9".repeat(56)}...`
    )
  })

  it("takes undefined as the default, keeps given values, and reads names in any case", () => {
    const config = ServerConfig.decodeSync({
      size: undefined,
      maxAllowedUnauthenticatedCommands: false,
      authMethods: ["xoauth2", "Plain"],
      useProxy: ["*"],
      useXForward: true,
      banner: "hi"
    })
    assert.strictEqual(config.size, 0)
    assert.strictEqual(config.maxAllowedUnauthenticatedCommands, false)
    assert.deepStrictEqual(config.authMethods, ["XOAUTH2", "PLAIN"])
    assert.deepStrictEqual(config.useProxy, ["*"])
    assert.strictEqual(config.useXForward, true)
    assert.strictEqual(config.banner, "hi")
    assert.strictEqual(config.authRequiredMessage, undefined)
  })

  it("refuses options that are not an object", () => {
    assert.throws(() => ServerConfig.decodeSync(null as never), "options: expected an object")
  })

  it.effect("fails the layer with a ConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ServerConfig.decode({ maxRecipients: 0 }))
      assert.strictEqual(error._tag, "ConfigError")
      assert.match(error.message, /maxRecipients/)
    }))
})

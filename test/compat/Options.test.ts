import { assert, describe, it } from "@effect/vitest"
import * as os from "node:os"
import { SMTPServer } from "../../src/compat/index.js"
import * as Options from "../../src/compat/Options.js"

// Options as a JavaScript caller may pass them, whatever the types say.
const make = (options: Record<string, unknown>) => () => new SMTPServer(options as never)

describe("SMTPServer options", () => {
  it.each([
    [{ size: "10MB" }, `SMTPServer option "size" must be a non-negative integer`],
    [{ size: -1 }, `SMTPServer option "size" must be a non-negative integer`],
    [{ maxClients: 1.5 }, `SMTPServer option "maxClients" must be a non-negative integer`],
    [{ socketTimeout: "60s" }, `SMTPServer option "socketTimeout" must be a non-negative integer`],
    [{ closeTimeout: -5 }, `SMTPServer option "closeTimeout" must be a non-negative integer`],
    [{ greetingDelay: true }, `SMTPServer option "greetingDelay" must be a non-negative integer`],
    [{ maxAllowedUnauthenticatedCommands: true }, `SMTPServer option "maxAllowedUnauthenticatedCommands" must be a non-negative integer`],
    [{ secure: "yes" }, `SMTPServer option "secure" must be a boolean`],
    [{ needsUpgrade: 1 }, `SMTPServer option "needsUpgrade" must be a boolean`],
    [{ hideDSN: "false" }, `SMTPServer option "hideDSN" must be a boolean`],
    [{ hideREQUIRETLS: 0 }, `SMTPServer option "hideREQUIRETLS" must be a boolean`],
    [{ hideSTARTTLS: 0 }, `SMTPServer option "hideSTARTTLS" must be a boolean`],
    [{ authOptional: "no" }, `SMTPServer option "authOptional" must be a boolean`],
    [{ allowInsecureAuth: 1 }, `SMTPServer option "allowInsecureAuth" must be a boolean`],
    [{ disableReverseLookup: "true" }, `SMTPServer option "disableReverseLookup" must be a boolean`],
    [{ name: 42 }, `SMTPServer option "name" must be a string`],
    [{ name: "mx example" }, `SMTPServer option "name" must be a host name without spaces`],
    [{ banner: {} }, `SMTPServer option "banner" must be a string`],
    [{ authRequiredMessage: 530 }, `SMTPServer option "authRequiredMessage" must be a string`],
    [{ authMethods: "PLAIN" }, `SMTPServer option "authMethods" must be an array of strings`],
    [{ authMethods: ["PLAIN", "NTLM"] }, `SMTPServer option "authMethods" must be a list of PLAIN, LOGIN, CRAM-MD5, XOAUTH2`],
    [{ disabledCommands: "AUTH" }, `SMTPServer option "disabledCommands" must be an array of strings`],
    [{ useProxy: "10.0.0.1" }, `SMTPServer option "useProxy" must be a boolean or an array of IP addresses`],
    [{ useXClient: [1] }, `SMTPServer option "useXClient" must be a boolean or an array of IP addresses`],
    [{ useXForward: {} }, `SMTPServer option "useXForward" must be a boolean or an array of IP addresses`],
    [{ resolver: { resolve: () => {} } }, `SMTPServer option "resolver" must be an object with a reverse(ip, callback) method`],
    [{ key: 42 }, `SMTPServer option "key" must be a string, a Buffer, or an array of them`],
    [{ cert: [42] }, `SMTPServer option "cert" must be a string, a Buffer, or an array of them`],
    [{ requestCert: "yes" }, `SMTPServer option "requestCert" must be a boolean`],
    [{ minVersion: "SSLv3" }, `SMTPServer option "minVersion" must be one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3`],
    [{ sessionIdContext: 1 }, `SMTPServer option "sessionIdContext" must be a string`],
    [{ sniOptions: { "mx.test": "cert" } }, `SMTPServer option "sniOptions" must be an object or a Map of host name to TLS options`],
    [{ sniOptions: new Map([["mx.test", { key: 1 }]]) }, `SMTPServer sniOptions["mx.test"] option "key" must be a string, a Buffer, or an array of them`],
    [{ logger: "console" }, `SMTPServer option "logger" must be true, false, or an object with info/debug/warn/error/trace methods`],
    [{ logger: {} }, `SMTPServer option "logger" must be true, false, or an object with info/debug/warn/error/trace methods`],
    [{ component: 1 }, `SMTPServer option "component" must be a string`],
    [{ streamType: "buffer" }, `SMTPServer option "streamType" must be "web" or "node"`],
    [{ onData: "handler" }, `SMTPServer option "onData" must be a function`],
    [{ onConnect: {} }, `SMTPServer option "onConnect" must be a function`]
  ])("refuses %j with a TypeError naming the option", (options, message) => {
    assert.throws(make(options), TypeError, message)
  })

  it("refuses values outside the core's bounds with a TypeError", () => {
    assert.throws(make({ maxCommandLength: 100 }), TypeError, /SMTPServer options are invalid: .*maxLineLength/s)
  })

  it("refuses options that are not an object", () => {
    assert.throws(make(42 as never), TypeError, "SMTPServer options must be an object")
  })

  it("accepts every documented option with a valid value", () => {
    const server = new SMTPServer({
      secure: false,
      needsUpgrade: false,
      name: "mx.test",
      banner: "welcome",
      lmtp: false,
      heloResponse: "%s hello %s",
      authMethods: ["plain", "LOGIN", "CRAM-MD5", "XOAUTH2"],
      authOptional: true,
      allowInsecureAuth: true,
      authRequiredMessage: "Log in first",
      hideSTARTTLS: true,
      hideSize: true,
      hidePIPELINING: true,
      hideDSN: false,
      hideENHANCEDSTATUSCODES: false,
      hideREQUIRETLS: false,
      hide8BITMIME: true,
      hideSMTPUTF8: true,
      disabledCommands: ["auth"],
      size: 1024,
      maxClients: Infinity,
      socketTimeout: 1000,
      closeTimeout: 1000,
      maxAllowedUnauthenticatedCommands: false,
      useXClient: ["127.0.0.1"],
      useXForward: true,
      useProxy: false,
      disableReverseLookup: true,
      resolver: { reverse: (_ip, callback) => callback(null, []) },
      key: "-----BEGIN PRIVATE KEY-----",
      cert: Buffer.from("cert"),
      ca: ["a", Buffer.from("b")],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.3",
      honorCipherOrder: true,
      sessionIdContext: "effect-smtp",
      sniOptions: new Map([["mx.test", { key: "k", cert: "c" }]]),
      logger: false,
      component: "mx"
    })
    assert.deepStrictEqual(server.options.authMethods, ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"])
    assert.deepStrictEqual(server.options.disabledCommands, ["AUTH"])
  })

  it("fills in smtp-server's defaults", () => {
    const options = new SMTPServer().options
    assert.strictEqual(options.name, os.hostname())
    assert.isTrue(options.hideDSN)
    assert.isTrue(options.hideENHANCEDSTATUSCODES)
    assert.isTrue(options.hideREQUIRETLS)
    assert.strictEqual(options.socketTimeout, 60_000)
    assert.strictEqual(options.closeTimeout, 30_000)
    assert.strictEqual(options.maxAllowedUnauthenticatedCommands, 10)
    assert.strictEqual(options.greetingDelay, 100)
    assert.deepStrictEqual(options.authMethods, ["PLAIN", "LOGIN"])
    assert.strictEqual(options.component, "smtp-server")
    assert.strictEqual(options.streamType, "web")
  })

  it("maps onto the core configuration; 0 timeouts mean the defaults, as in smtp-server", () => {
    const config = Options.toConfig(Options.normalize({ size: 5, socketTimeout: 0, closeTimeout: 0, maxCommandLength: 4096, maxRecipients: 5 }))
    assert.strictEqual(config.size, 5)
    assert.isFalse(config.rejectOversized)
    assert.strictEqual(config.socketTimeout, 60_000)
    assert.strictEqual(config.closeTimeout, 30_000)
    assert.strictEqual(config.greetingDelay, 100)
    assert.strictEqual(config.maxLineLength, 4096)
    assert.strictEqual(config.maxRecipients, 5)
    assert.strictEqual(config.maxClients, 0)
    assert.isTrue(config.hideENHANCEDSTATUSCODES)
    assert.isTrue(config.hideDSN)
  })

  it("updateSecureContext checks the TLS options and keeps them", () => {
    const server = new SMTPServer()
    assert.throws(() => server.updateSecureContext({ minVersion: "SSLv2" as never }), TypeError, `updateSecureContext option "minVersion"`)
    server.updateSecureContext({ key: "new key", cert: "new cert" })
    assert.strictEqual(server.options.key, "new key")
  })

  it("listen refuses a port that is not one", () => {
    assert.throws(() => new SMTPServer().listen(70_000), TypeError, "port must be an integer from 0 to 65535")
  })
})

import { assert, describe, it } from "@effect/vitest"
import * as Ehlo from "../../src/protocol/Ehlo.js"

const base: Ehlo.Options = {
  size: 0,
  hidePIPELINING: false,
  hide8BITMIME: false,
  hideSMTPUTF8: false,
  hideENHANCEDSTATUSCODES: false,
  hideDSN: false,
  hideSize: false,
  hideCHUNKING: true,
  hideLIMITS: true
}

describe("Ehlo.capabilities", () => {
  it.each([
    [{}, ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN"]],
    [{ size: 1024 }, ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN", "SIZE 1024"]],
    [{ size: 1024, hideSize: true }, ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN", "SIZE"]],
    [{ hidePIPELINING: true, hideDSN: true, hideENHANCEDSTATUSCODES: true }, ["8BITMIME", "SMTPUTF8"]],
    [{ authMethods: ["PLAIN", "LOGIN"], startTls: true }, [
      "PIPELINING",
      "8BITMIME",
      "SMTPUTF8",
      "ENHANCEDSTATUSCODES",
      "DSN",
      "AUTH PLAIN LOGIN",
      "STARTTLS"
    ]],
    [{ authMethods: [], hideCHUNKING: false, hideLIMITS: false, maxRecipients: 5, maxMessages: 3, extra: ["XFOO"] }, [
      "PIPELINING",
      "8BITMIME",
      "SMTPUTF8",
      "ENHANCEDSTATUSCODES",
      "DSN",
      "CHUNKING",
      "BINARYMIME",
      "LIMITS RCPTMAX=5 MAILMAX=3",
      "XFOO"
    ]]
  ])("advertises %j as %j", (options, expected) => {
    assert.deepStrictEqual(Ehlo.capabilities({ ...base, ...options }), expected)
  })
})

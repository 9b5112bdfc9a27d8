import { assert, describe, it } from "@effect/vitest"
import * as Xtext from "../../src/protocol/Xtext.js"

describe("Xtext.decode", () => {
  it.each([
    ["plain", "plain"],
    ["a+2Bb", "a+b"],
    ["a+3Db+20c", "a=b c"],
    ["rfc822;user+40example.com", "rfc822;user@example.com"],
    // Lower-case hex and a lone "+" are not escapes (RFC 3461 §4): kept as written.
    ["a+2bb", "a+2bb"],
    ["a+", "a+"],
    ["+0D+0A", "\r\n"]
  ])("decodes %j to %j", (input, expected) => {
    assert.strictEqual(Xtext.decode(input), expected)
  })
})

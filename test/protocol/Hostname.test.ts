import { assert, describe, it } from "@effect/vitest"
import * as Hostname from "../../src/protocol/Hostname.js"

describe("Hostname", () => {
  it.each(["mail.example.com", "MAIL.Example.COM.", "a", "host_1.isp.example", "xn--bcher-kva.example", `${"a".repeat(63)}.example`])(
    "accepts %j",
    (name) => assert.isTrue(Hostname.isValid(name))
  )

  it.each([
    "",
    ".",
    "a..b",
    ".a",
    "-a.example",
    "a-.example",
    "host name.example",
    "evil.example\r\n250 injected",
    "b\u00fccher.example",
    `${"a".repeat(64)}.example`,
    `${"a.".repeat(126)}ab`
  ])("refuses %j", (name) => assert.isFalse(Hostname.isValid(name)))

  it("keeps names lower case without the root dot", () => {
    assert.strictEqual(Hostname.normalize("Mail.Example.COM."), "mail.example.com")
  })
})

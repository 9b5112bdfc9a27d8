import { assert, describe, it } from "@effect/vitest"
import * as Reply from "../../src/protocol/Reply.js"
import * as Xclient from "../../src/protocol/Xclient.js"

// The parsed attributes as [name, value] pairs, or the formatted refusal.
const parse = (parameters: string, kind = Xclient.xclient) => {
  const parsed = Xclient.parse(parameters, kind)
  return parsed._tag === "Ok" ? [...parsed.attributes] : Reply.format(parsed.reply)
}

const badSyntax = "501 5.5.4 Error: Bad command parameter syntax\r\n"

describe("Xclient.parse", () => {
  it.each<[string, Array<[string, string | false]>]>([
    // As Postfix's smtpd proxy sends it.
    [
      "NAME=spike.porcupine.org ADDR=168.100.189.2 PORT=50412 PROTO=ESMTP HELO=spike.porcupine.org LOGIN=wietse",
      [
        ["NAME", "spike.porcupine.org"],
        ["ADDR", "168.100.189.2"],
        ["PORT", "50412"],
        ["PROTO", "ESMTP"],
        ["HELO", "spike.porcupine.org"],
        ["LOGIN", "wietse"]
      ]
    ],
    ["DESTADDR=192.0.2.25 DESTPORT=25", [["DESTADDR", "192.0.2.25"], ["DESTPORT", "25"]]],
    ["addr=IPv6:2001:DB8::0:1", [["ADDR", "2001:db8::1"]]],
    ["ADDR=IPV6:::ffff:192.0.2.1", [["ADDR", "192.0.2.1"]]],
    ["NAME=[UNAVAILABLE] ADDR=[TEMPUNAVAIL] LOGIN=[unavailable]", [["NAME", false], ["ADDR", false], ["LOGIN", false]]],
    ["NAME=", [["NAME", ""]]],
    ["LOGIN=user+40example.com", [["LOGIN", "user@example.com"]]],
    ["HELO=+5Bweird+5D", [["HELO", "[weird]"]]],
    ["PORT=00025", [["PORT", "25"]]],
    // A repeated attribute is ignored, as smtp-server ignores it.
    ["NAME=a.example NAME=b.example", [["NAME", "a.example"]]],
    ["  NAME=a.example   ADDR=192.0.2.1  ", [["NAME", "a.example"], ["ADDR", "192.0.2.1"]]]
  ])("XCLIENT %j", (parameters, expected) => {
    assert.deepStrictEqual(parse(parameters), expected)
  })

  it.each<[string, Array<[string, string | false]>]>([
    [
      "NAME=spike.porcupine.org ADDR=168.100.189.2 PORT=50412 PROTO=SMTP HELO=spike IDENT=123 SOURCE=REMOTE",
      [
        ["NAME", "spike.porcupine.org"],
        ["ADDR", "168.100.189.2"],
        ["PORT", "50412"],
        ["PROTO", "SMTP"],
        ["HELO", "spike"],
        ["IDENT", "123"],
        ["SOURCE", "REMOTE"]
      ]
    ],
    ["NAME=[UNAVAILABLE] HELO=[UNAVAILABLE]", [["NAME", false], ["HELO", false]]],
    // [TEMPUNAVAIL] is XCLIENT's; for XFORWARD it is a name like any other, and not a host name.
    ["IDENT=[TEMPUNAVAIL]", [["IDENT", "[TEMPUNAVAIL]"]]]
  ])("XFORWARD %j", (parameters, expected) => {
    assert.deepStrictEqual(parse(parameters, Xclient.xforward), expected)
  })

  it.each<[string, "XCLIENT" | "XFORWARD", string]>([
    ["", "XCLIENT", badSyntax],
    ["NAME", "XCLIENT", badSyntax],
    ["NAME=a=b", "XCLIENT", badSyntax],
    ["=x", "XCLIENT", badSyntax],
    ["BOGUS=1", "XCLIENT", badSyntax],
    ["IDENT=1", "XCLIENT", badSyntax],
    ["LOGIN=x", "XFORWARD", badSyntax],
    ["DESTADDR=192.0.2.1", "XFORWARD", badSyntax],
    // CR LF smuggled through xtext would split replies and forge Received headers.
    ["HELO=a+0D+0A250+20ok", "XCLIENT", badSyntax],
    ["LOGIN=a+00b", "XCLIENT", badSyntax],
    ["ADDR=192.0.2.256", "XCLIENT", "501 5.5.4 Error: Bad command parameter syntax. Invalid address\r\n"],
    ["ADDR=mail.example", "XCLIENT", "501 5.5.4 Error: Bad command parameter syntax. Invalid address\r\n"],
    ["DESTADDR=IPv6:zz::1", "XCLIENT", "501 5.5.4 Error: Bad command parameter syntax. Invalid address\r\n"],
    ["NAME=bad+20name", "XCLIENT", "501 5.5.4 Error: Bad command parameter syntax. Invalid hostname\r\n"],
    ["NAME=-x.example", "XFORWARD", "501 5.5.4 Error: Bad command parameter syntax. Invalid hostname\r\n"],
    ["PORT=65536", "XCLIENT", "501 5.5.4 Error: Bad command parameter syntax. Invalid port\r\n"],
    ["DESTPORT=x", "XCLIENT", "501 5.5.4 Error: Bad command parameter syntax. Invalid port\r\n"],
    // One bad attribute refuses the whole command, whatever came before it.
    ["NAME=ok.example ADDR=nope", "XCLIENT", "501 5.5.4 Error: Bad command parameter syntax. Invalid address\r\n"]
  ])("refuses %j (%s)", (parameters, verb, expected) => {
    assert.strictEqual(parse(parameters, verb === "XCLIENT" ? Xclient.xclient : Xclient.xforward), expected)
  })

  it("advertises every attribute it takes", () => {
    assert.strictEqual(Xclient.capability(Xclient.xclient), "XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT")
    assert.strictEqual(Xclient.capability(Xclient.xforward), "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE")
  })
})

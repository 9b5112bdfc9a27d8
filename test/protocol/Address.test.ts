import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as Address from "../../src/protocol/Address.js"
import * as Reply from "../../src/protocol/Reply.js"

const badSender = "501 5.1.7 Error: Bad sender address syntax\r\n"
const badRecipient = "501 5.1.3 Error: Bad recipient address syntax\r\n"
const needsSmtputf8 = "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n"

// A mailbox of exactly `octets` ASCII octets, for the RFC 5321 §4.5.3.1.3 path limit.
const mailboxOf = (octets: number) => `${"a".repeat(octets - "@example.com".length)}@example.com`

const ok = (address: string, args: Record<string, string | true> = {}, dsn?: Address.RecipientDsn): Address.Parsed => ({
  _tag: "Ok",
  address: dsn === undefined ? { address, args } : { address, args, dsn }
})

const formatted = (parsed: Address.Parsed): string =>
  parsed._tag === "Error" ? Reply.format(parsed.reply) : `accepted ${JSON.stringify(parsed.address)}`

describe("Address.parseMailFrom", () => {
  it.each<[string, Address.Parsed]>([
    ["<user@example.com>", ok("user@example.com")],
    ["<>", ok("")],
    [" <user@example.com>", ok("user@example.com")],
    ["   <>   ", ok("")],
    ["<User.Name+tag@Example.COM>", ok("User.Name+tag@Example.COM")],
    ["<a@b>", ok("a@b")],
    ['<"john doe"@example.com>', ok('"john doe"@example.com')],
    ['<"john \\"jd\\" doe"@example.com>', ok('"john \\"jd\\" doe"@example.com')],
    ['<"a@b>c"@example.com>', ok('"a@b>c"@example.com')],
    ['<"a..b."@example.com>', ok('"a..b."@example.com')],
    ['<""@example.com>', ok('""@example.com')],
    ['<a"b@example.com>', ok('a"b@example.com')],
    ['<"open@example.com>', ok('"open@example.com')],
    ["<user@[192.0.2.1]>", ok("user@[192.0.2.1]")],
    ["<user@[IPv6:2001:db8::1]>", ok("user@[IPv6:2001:db8::1]")],
    ["<user@[ipv6:::ffff:192.0.2.1]>", ok("user@[ipv6:::ffff:192.0.2.1]")],
    ["<user@[IPv6:2001:DB8:0:0:0:0:0:1]>", ok("user@[IPv6:2001:DB8:0:0:0:0:0:1]")],
    ["<@a.example,@b.example:user@c.example>", ok("user@c.example")],
    ['<@a.example:"x y"@c.example>', ok('"x y"@c.example')],
    ["<postmaster@example.com>", ok("postmaster@example.com")],
    [`<${mailboxOf(254)}>`, ok(mailboxOf(254))],
    ["<user@example.com> SIZE=1000", ok("user@example.com", { SIZE: "1000" })],
    ["<user@example.com>   size=1000   body=8bitmime  ", ok("user@example.com", { SIZE: "1000", BODY: "8BITMIME" })],
    ["<user@example.com> BODY=7bit", ok("user@example.com", { BODY: "7BIT" })],
    ["<user@example.com> BODY=BinaryMIME", ok("user@example.com", { BODY: "BINARYMIME" })],
    ["<user@example.com> SIZE=00000000000000000001", ok("user@example.com", { SIZE: "00000000000000000001" })],
    ["<user@example.com> SMTPUTF8 REQUIRETLS", ok("user@example.com", { SMTPUTF8: true, REQUIRETLS: true })],
    ["<user@example.com> smtputf8=", ok("user@example.com", { SMTPUTF8: true })],
    ["<user@example.com> RET=hdrs ENVID=QQ314159", ok("user@example.com", { RET: "hdrs", ENVID: "QQ314159" })],
    ["<user@example.com> ENVID=a+2Bb+20c", ok("user@example.com", { ENVID: "a+2Bb+20c" })],
    ["<user@example.com> X-Custom=a=b FOO", ok("user@example.com", { "X-CUSTOM": "a=b", FOO: true })],
    ["<user@example.com> NOTIFY=bogus ORCPT=", ok("user@example.com", { NOTIFY: "bogus", ORCPT: true })],
    ["<user@example.com> =orphan", ok("user@example.com")],
    ["<用户@例子.广告> SMTPUTF8", ok("用户@例子.广告", { SMTPUTF8: true })],
    ["<josé@example.com> SMTPUTF8", ok("josé@example.com", { SMTPUTF8: true })],
    ["<user@例子.广告> SMTPUTF8=", ok("user@例子.广告", { SMTPUTF8: true })],
    ['<"zoë \\"z\\""@example.com> SMTPUTF8', ok('"zoë \\"z\\""@example.com', { SMTPUTF8: true })]
  ])("accepts %j", (arg, expected) => {
    expect(Address.parseMailFrom(arg)).toStrictEqual(expected)
  })

  it.each<[string, string]>([
    // smtp-server requires the angle brackets too
    ["user@example.com", badSender],
    ["", badSender],
    ["   ", badSender],
    ["<user@example.com", badSender],
    ["<user@example.com>x", badSender],
    ["<user@example.com>SIZE=1", badSender],
    ["<<user@example.com>>", badSender],
    ["<user @example.com>", badSender],
    ["<user>", badSender],
    ["<postmaster>", badSender],
    ["<@example.com>", badSender],
    ["<user@>", badSender],
    ["<a@b@example.com>", badSender],
    ["<.user@example.com>", badSender],
    ["<user.@example.com>", badSender],
    ["<us..er@example.com>", badSender],
    ["<user@.example.com>", badSender],
    ["<user@example.com.>", badSender],
    ["<user@exa..mple.com>", badSender],
    ["<user@a-.example.com>", badSender],
    ["<user@a.-example.com>", badSender],
    ["<user@ex_ample.com>", badSender],
    ["<user@exa mple.com>", badSender],
    ["<user@[192.0.2.256]>", badSender],
    ["<user@[01.2.3.4]>", badSender],
    ["<user@[192.0.2]>", badSender],
    ["<user@[IPv6:1::2::3]>", badSender],
    ["<user@[IPv6:1:2:3:4:5:6:7:8:9]>", badSender],
    ["<user@[IPv6:1.2.3.4::]>", badSender],
    ["<user@[IPv6:fe80::1%eth0]>", badSender],
    ["<user@[IPv6:192.0.2.1]>", badSender],
    ["<user@[tag:content]>", badSender],
    ["<@a.example:>x", badSender],
    ['<"a\\é"@example.com> SMTPUTF8', badSender],
    ['<"a\u00a0b"@example.com> SMTPUTF8', badSender],
    ["<us\u200ber@example.com>", badSender],
    ["<user@exam\u2060ple.com>", badSender],
    ["<user@exam\ufeffple.com>", badSender],
    ["<user\u0085@example.com>", badSender],
    ["<user\u0000@example.com>", badSender],
    ["<user@example.com\r\nRCPT TO:<x@y>>", badSender],
    ["<user@exa\u3000mple.com> SMTPUTF8", badSender],
    [`<${mailboxOf(255)}>`, badSender],
    ["<user@example.com> ENVID=a+0D+0Ab", badSender],
    ["<user@example.com> ENVID=a+7Fb", badSender],
    ["<user@example.com> ENVID=a\u0085b", badSender],
    ["<user@example.com> ENVID=a\tb", badSender],
    ["<user@example.com> =a+0Ab", badSender],
    ["<user@example.com> SIZE=1 size=2", "501 5.5.4 Error: duplicate SIZE parameter\r\n"],
    ["<user@example.com> FOO FOO=1", "501 5.5.4 Error: duplicate FOO parameter\r\n"],
    ["<user@example.com> SIZE", "501 5.5.4 Error: SIZE parameter requires a value\r\n"],
    ["<user@example.com> BODY=", "501 5.5.4 Error: BODY parameter requires a value\r\n"],
    ["<user@example.com> RET", "501 5.5.4 Error: RET parameter requires a value\r\n"],
    ["<user@example.com> ENVID=", "501 5.5.4 Error: ENVID parameter requires a value\r\n"],
    ["<user@example.com> SIZE=12k", "501 5.5.4 Error: Bad message size syntax\r\n"],
    ["<user@example.com> SIZE=-1", "501 5.5.4 Error: Bad message size syntax\r\n"],
    ["<user@example.com> SIZE=123456789012345678901", "501 5.5.4 Error: Bad message size syntax\r\n"],
    [
      "<user@example.com> BODY=8BIT",
      "501 5.5.4 Invalid BODY parameter value. Must be 7BIT, 8BITMIME or BINARYMIME\r\n"
    ],
    [
      "<user@example.com> SMTPUTF8=yes",
      "501 5.5.4 Invalid SMTPUTF8 parameter. This flag does not accept a value\r\n"
    ],
    [
      "<user@example.com> REQUIRETLS=1",
      "501 5.5.4 Invalid REQUIRETLS parameter. This flag does not accept a value\r\n"
    ],
    ["<user@example.com> RET=ALL", "501 5.5.4 Invalid RET parameter value. Must be FULL or HDRS\r\n"],
    ["<用户@example.com>", needsSmtputf8],
    ["<user@例子.广告>", needsSmtputf8]
  ])("answers %j with %j", (arg, reply) => {
    expect(formatted(Address.parseMailFrom(arg))).toBe(reply)
  })
})

describe("Address.parseRcptTo", () => {
  it.each<[string, boolean, Address.Parsed]>([
    ["<user@example.com>", false, ok("user@example.com")],
    [" <user@example.com> ", false, ok("user@example.com")],
    ["<postmaster>", false, ok("postmaster")],
    ["<PostMaster>", false, ok("PostMaster")],
    ["<@relay.example:user@example.com>", false, ok("user@example.com")],
    ["<user@[IPv6:::1]>", false, ok("user@[IPv6:::1]")],
    [
      "<user@example.com> NOTIFY=SUCCESS,FAILURE,DELAY",
      false,
      ok("user@example.com", { NOTIFY: "SUCCESS,FAILURE,DELAY" }, { notify: ["SUCCESS", "FAILURE", "DELAY"] })
    ],
    ["<user@example.com> notify=never", false, ok("user@example.com", { NOTIFY: "never" }, { notify: ["NEVER"] })],
    [
      "<user@example.com> ORCPT=rfc822;user@example.com",
      false,
      ok("user@example.com", { ORCPT: "rfc822;user@example.com" }, { notify: [], orcpt: "rfc822;user@example.com" })
    ],
    // RFC 3461 §4.2: the ORCPT address is xtext; args keep it raw, dsn has it decoded.
    [
      "<user@example.com> ORCPT=rfc822;a+2Bb",
      false,
      ok("user@example.com", { ORCPT: "rfc822;a+2Bb" }, { notify: [], orcpt: "rfc822;a+b" })
    ],
    // MAIL parameters are the core's business on RCPT: kept unchecked, like any unknown one
    ["<user@example.com> SIZE=abc ENVID=", false, ok("user@example.com", { SIZE: "abc", ENVID: true })],
    ["<用户@例子.广告>", true, ok("用户@例子.广告")]
  ])("accepts %j (smtputf8 %s)", (arg, smtputf8, expected) => {
    expect(Address.parseRcptTo(arg, smtputf8)).toStrictEqual(expected)
  })

  it.each<[string, boolean, string]>([
    ["<>", false, badRecipient],
    ["user@example.com", false, badRecipient],
    ["postmaster", false, badRecipient],
    ["<postmaster@>", false, badRecipient],
    ["<user@example.com> ORCPT=rfc822;a+0Ab", false, badRecipient],
    ["<user@example.com> NOTIFY", false, "501 5.5.4 Error: NOTIFY parameter requires a value\r\n"],
    ["<user@example.com> ORCPT=", false, "501 5.5.4 Error: ORCPT parameter requires a value\r\n"],
    [
      "<user@example.com> NOTIFY=SOMETIMES",
      false,
      "501 5.5.4 Error: NOTIFY parameter must be NEVER, SUCCESS, FAILURE, or DELAY\r\n"
    ],
    [
      "<user@example.com> NOTIFY=SUCCESS,",
      false,
      "501 5.5.4 Error: NOTIFY parameter must be NEVER, SUCCESS, FAILURE, or DELAY\r\n"
    ],
    [
      "<user@example.com> NOTIFY=NEVER,DELAY",
      false,
      "501 5.5.4 Error: NOTIFY=NEVER cannot be combined with other values\r\n"
    ],
    ["<user@example.com> ORCPT=rfc822", false, "501 5.5.4 Error: Bad ORCPT parameter syntax\r\n"],
    ["<user@example.com> ORCPT=;user@example.com", false, "501 5.5.4 Error: Bad ORCPT parameter syntax\r\n"],
    ["<user@example.com> ORCPT=rfc822;", false, "501 5.5.4 Error: Bad ORCPT parameter syntax\r\n"],
    ["<user@example.com> NOTIFY=SUCCESS notify=FAILURE", false, "501 5.5.4 Error: duplicate NOTIFY parameter\r\n"],
    ["<用户@example.com>", false, needsSmtputf8],
    // SMTPUTF8 is a MAIL parameter: on RCPT it does not open the door
    ["<用户@example.com> SMTPUTF8", false, needsSmtputf8]
  ])("answers %j (smtputf8 %s) with %j", (arg, smtputf8, reply) => {
    expect(formatted(Address.parseRcptTo(arg, smtputf8))).toBe(reply)
  })
})

describe("Address parsers on arbitrary input", () => {
  // Pieces of real paths mixed with any code point, lone surrogates and control characters,
  // so the runs reach past the first check.
  const unit = fc.oneof(
    fc.constantFrom("<", ">", "@", '"', "\\", " ", ":", ",", ".", "[", "]", "IPv6:", "=", "+0D", "SIZE", "SMTPUTF8", "a"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 1 }),
    fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code))
  )
  const input = fc.string({ unit, maxLength: 80 })

  it("never throw, and refuse with a single reply line", () => {
    fc.assert(
      fc.property(input, fc.boolean(), (arg, smtputf8) => {
        for (const parsed of [Address.parseMailFrom(arg), Address.parseRcptTo(arg, smtputf8)]) {
          if (parsed._tag === "Error") {
            expect(Reply.format(parsed.reply)).toMatch(/^\d{3} [^\r\n]*\r\n$/)
          } else {
            expect(parsed.address.address).not.toMatch(/[\x00-\x1f\x7f-\x9f\u200b\u2060\ufeff]/)
          }
        }
      }),
      { numRuns: 10_000 }
    )
  })
})

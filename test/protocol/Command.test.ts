import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as Command from "../../src/protocol/Command.js"
import * as Reply from "../../src/protocol/Reply.js"

const badCharacters = "500 5.5.2 Error: command contains control characters\r\n"
const badSender = "501 5.1.7 Error: Bad sender address syntax\r\n"
const badRecipient = "501 5.1.3 Error: Bad recipient address syntax\r\n"
const badHostname = "501 5.5.4 Error: Bad hostname syntax\r\n"
const bdatSyntax = "501 5.5.4 Error: syntax: BDAT chunk-size [LAST]\r\n"

describe("Command.parse", () => {
  it.each<[string, Command.Command]>([
    ["EHLO mail.example.com", { _tag: "Hello", verb: "EHLO", domain: "mail.example.com" }],
    ["ehlo Mail.Example.COM", { _tag: "Hello", verb: "EHLO", domain: "Mail.Example.COM" }],
    ["HELO [192.0.2.1]", { _tag: "Hello", verb: "HELO", domain: "[192.0.2.1]" }],
    ["LHLO lmtp.example", { _tag: "Hello", verb: "LHLO", domain: "lmtp.example" }],
    ["EHLO   spaced.example   ", { _tag: "Hello", verb: "EHLO", domain: "spaced.example" }],
    ["EHLO WIN-PC_01", { _tag: "Hello", verb: "EHLO", domain: "WIN-PC_01" }],
    [`EHLO ${"a".repeat(300)}`, { _tag: "Hello", verb: "EHLO", domain: "a".repeat(300) }],
    ["MAIL FROM:<a@b.example>", { _tag: "Mail", address: { address: "a@b.example", args: {} } }],
    ["mail from:<>", { _tag: "Mail", address: { address: "", args: {} } }],
    [
      "MAIL FROM: <a@b.example> SIZE=10 BODY=8bitmime",
      { _tag: "Mail", address: { address: "a@b.example", args: { SIZE: "10", BODY: "8BITMIME" } } }
    ],
    ["MAIL FROM :<a@b.example>", { _tag: "Mail", address: { address: "a@b.example", args: {} } }],
    ["Mail From:<a@b.example>", { _tag: "Mail", address: { address: "a@b.example", args: {} } }],
    ["MAIL   FROM:<a@b.example>  ", { _tag: "Mail", address: { address: "a@b.example", args: {} } }],
    [
      "MAIL FROM:<josé@b.example> SMTPUTF8",
      { _tag: "Mail", address: { address: "josé@b.example", args: { SMTPUTF8: true } } }
    ],
    ["RCPT TO:<a@b.example>", { _tag: "Rcpt", address: { address: "a@b.example", args: {} } }],
    ["rcpt to: <postmaster>", { _tag: "Rcpt", address: { address: "postmaster", args: {} } }],
    [
      "RCPT TO:<a@b.example> NOTIFY=FAILURE ORCPT=rfc822;a@b.example",
      {
        _tag: "Rcpt",
        address: {
          address: "a@b.example",
          args: { NOTIFY: "FAILURE", ORCPT: "rfc822;a@b.example" },
          dsn: { notify: ["FAILURE"], orcpt: "rfc822;a@b.example" }
        }
      }
    ],
    ["DATA", { _tag: "Data" }],
    ["data  ", { _tag: "Data" }],
    ["RSET", { _tag: "Rset" }],
    ["QUIT", { _tag: "Quit" }],
    ["StartTLS", { _tag: "StartTls" }],
    ["NOOP", { _tag: "Noop" }],
    ["NOOP anything at all", { _tag: "Noop" }],
    ["HELP", { _tag: "Help", argument: "" }],
    ["HELP  MAIL ", { _tag: "Help", argument: "MAIL" }],
    ["VRFY postmaster", { _tag: "Vrfy", argument: "postmaster" }],
    ["vrfy John  Smith", { _tag: "Vrfy", argument: "John  Smith" }],
    ["BDAT 0", { _tag: "Bdat", size: 0, last: false }],
    ["BDAT 1000 LAST", { _tag: "Bdat", size: 1000, last: true }],
    ["bdat 007  last ", { _tag: "Bdat", size: 7, last: true }],
    ["BDAT 9007199254740991", { _tag: "Bdat", size: Number.MAX_SAFE_INTEGER, last: false }],
    ["AUTH PLAIN", { _tag: "Auth", mechanism: "PLAIN", initialResponse: undefined }],
    ["auth plain dGVzdAB0ZXN0AHRlc3Q=", { _tag: "Auth", mechanism: "PLAIN", initialResponse: "dGVzdAB0ZXN0AHRlc3Q=" }],
    ["AUTH LOGIN =", { _tag: "Auth", mechanism: "LOGIN", initialResponse: "=" }],
    ["AUTH cram-md5", { _tag: "Auth", mechanism: "CRAM-MD5", initialResponse: undefined }],
    ["AUTH X-UNKNOWN abc", { _tag: "Auth", mechanism: "X-UNKNOWN", initialResponse: "abc" }],
    [
      "XCLIENT NAME=spike.porcupine.org ADDR=168.100.189.2",
      { _tag: "XClient", parameters: "NAME=spike.porcupine.org ADDR=168.100.189.2" }
    ],
    ["XCLIENT", { _tag: "XClient", parameters: "" }],
    ["xforward PROTO=ESMTP HELO=x ", { _tag: "XForward", parameters: "PROTO=ESMTP HELO=x" }],
    ["GET / HTTP/1.1", { _tag: "Http" }],
    ["post /submit?x=1 HTTP/1.0", { _tag: "Http" }],
    ["CONNECT /x HTTP/2.0", { _tag: "Http" }],
    ["GET /", { _tag: "Unknown", verb: "GET" }],
    ["", { _tag: "Unknown", verb: "" }],
    [" EHLO x", { _tag: "Unknown", verb: "" }],
    ["EXPN staff", { _tag: "Unknown", verb: "EXPN" }],
    ["foo", { _tag: "Unknown", verb: "FOO" }]
  ])("parses %j", (line, expected) => {
    expect(Command.parse(line)).toStrictEqual(expected)
  })

  it.each<[string, string, string]>([
    ["EHLO", "EHLO", "501 5.5.4 Error: syntax: EHLO hostname\r\n"],
    ["EHLO   ", "EHLO", "501 5.5.4 Error: syntax: EHLO hostname\r\n"],
    ["LHLO", "LHLO", "501 5.5.4 Error: syntax: LHLO hostname\r\n"],
    ["HELO", "HELO", "501 5.5.4 Error: Syntax: HELO hostname\r\n"],
    // RFC 5321 §4.1.1.1 and smtp-server agree: exactly one argument
    ["EHLO a.example b.example", "EHLO", "501 5.5.4 Error: syntax: EHLO hostname\r\n"],
    ["HELO a b", "HELO", "501 5.5.4 Error: Syntax: HELO hostname\r\n"],
    [`EHLO ${"a".repeat(301)}`, "EHLO", badHostname],
    ["EHLO a\u0085b", "EHLO", badHostname],
    ["MAIL", "MAIL", badSender],
    ["MAIL <a@b.example>", "MAIL", badSender],
    ["MAIL TO:<a@b.example>", "MAIL", badSender],
    ["MAIL FROM<a@b.example>", "MAIL", badSender],
    ["MAIL FROMX:<a@b.example>", "MAIL", badSender],
    ["MAIL FROM:a@b.example", "MAIL", badSender],
    ["MAIL FROM:<a@b.example> SIZE=x", "MAIL", "501 5.5.4 Error: Bad message size syntax\r\n"],
    ["MAIL FROM:<josé@b.example>", "MAIL", "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n"],
    ["RCPT", "RCPT", badRecipient],
    ["RCPT FROM:<a@b.example>", "RCPT", badRecipient],
    ["RCPT TO:<>", "RCPT", badRecipient],
    ["RCPT TO:<josé@b.example>", "RCPT", "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n"],
    ["RCPT TO:<a@b.example> NOTIFY", "RCPT", "501 5.5.4 Error: NOTIFY parameter requires a value\r\n"],
    ["DATA now", "DATA", "501 5.5.4 Error: syntax: DATA\r\n"],
    ["RSET all", "RSET", "501 5.5.4 Error: syntax: RSET\r\n"],
    ["QUIT bye", "QUIT", "501 5.5.4 Error: syntax: QUIT\r\n"],
    ["STARTTLS x", "STARTTLS", "501 5.5.4 Error: syntax: STARTTLS\r\n"],
    ["VRFY", "VRFY", "501 5.5.4 Error: Syntax: VRFY address\r\n"],
    ["VRFY   ", "VRFY", "501 5.5.4 Error: Syntax: VRFY address\r\n"],
    ["BDAT", "BDAT", bdatSyntax],
    ["BDAT -1", "BDAT", bdatSyntax],
    ["BDAT +1", "BDAT", bdatSyntax],
    ["BDAT 1.5", "BDAT", bdatSyntax],
    ["BDAT 1e3", "BDAT", bdatSyntax],
    ["BDAT 0x10", "BDAT", bdatSyntax],
    ["BDAT ١٢", "BDAT", bdatSyntax],
    ["BDAT 9007199254740992", "BDAT", bdatSyntax],
    ["BDAT 10 FIRST", "BDAT", bdatSyntax],
    ["BDAT 10 LAST x", "BDAT", bdatSyntax],
    ["BDAT LAST", "BDAT", bdatSyntax],
    ["AUTH", "AUTH", "501 5.5.4 Error: syntax: AUTH mechanism\r\n"],
    ["AUTH PLAIN a b", "AUTH", "501 5.5.4 Error: syntax: AUTH PLAIN token\r\n"],
    ["AUTH login a b", "AUTH", "501 5.5.4 Error: syntax: AUTH LOGIN\r\n"],
    ["AUTH X-FOO a b", "AUTH", "501 5.5.4 Error: syntax: AUTH mechanism [initial-response]\r\n"],
    ["MAIL FROM:<a@b.example>\u0000", "MAIL", badCharacters],
    ["EHLO a\tb", "EHLO", badCharacters],
    ["NOOP\r", "NOOP\r", badCharacters],
    ["QUIT\n", "QUIT\n", badCharacters],
    ["\u007f", "\u007f", badCharacters],
    ["GET / HTTP/1.1\u0000", "GET", badCharacters],
    ["DATA\u001b[2J", "DATA\u001b[2J", badCharacters]
  ])("refuses %j as %s with %j", (line, verb, reply) => {
    const command = Command.parse(line)
    expect(command._tag === "Invalid" ? [command.verb, Reply.format(command.reply)] : command).toStrictEqual([verb, reply])
  })

  it.each<[string, boolean, string]>([
    ["RCPT TO:<josé@b.example>", true, "accepted"],
    ["RCPT TO:<josé@b.example>", false, "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n"]
  ])("takes the transaction's SMTPUTF8 for %j (smtputf8 %s): %j", (line, smtputf8, outcome) => {
    const command = Command.parse(line, { smtputf8 })
    expect(command._tag === "Invalid" ? Reply.format(command.reply) : "accepted").toBe(outcome)
  })
})

describe("Command.verbOf", () => {
  it.each<[string, string]>([
    ["mail from:<a@b.example>", "MAIL"],
    ["EHLO", "EHLO"],
    ["starttls", "STARTTLS"],
    ["", ""],
    ["  ehlo x", ""],
    ["AUTH PLAIN secret", "AUTH"]
  ])("reads %j as %j", (line, verb) => {
    expect(Command.verbOf(line)).toBe(verb)
  })
})

describe("Command.parse on arbitrary input", () => {
  const unit = fc.oneof(
    fc.constantFrom(
      "EHLO ", "HELO ", "MAIL FROM:", "RCPT TO:", "BDAT ", "AUTH ", "VRFY ", "DATA", "GET / HTTP/1.1",
      "<", ">", "@", '"', "\\", " ", ":", "=", "LAST", "9", "SMTPUTF8"
    ),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 1 }),
    fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code))
  )
  const line = fc.string({ unit, maxLength: 120 })

  it("never throws, and an Invalid carries one reply line and the line's verb", () => {
    fc.assert(
      fc.property(line, fc.boolean(), (text, smtputf8) => {
        const command = Command.parse(text, { smtputf8 })
        if (command._tag === "Invalid") {
          expect(Reply.format(command.reply)).toMatch(/^\d{3} [^\r\n]*\r\n$/)
          expect(command.verb).toBe(Command.verbOf(text))
        }
      }),
      { numRuns: 10_000 }
    )
  })
})

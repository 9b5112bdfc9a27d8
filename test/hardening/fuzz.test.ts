import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Buffer } from "node:buffer"
import * as Address from "../../src/protocol/Address.js"
import { ChunkDecoder } from "../../src/protocol/ChunkDecoder.js"
import * as Command from "../../src/protocol/Command.js"
import { type BareLineEndings, DataDecoder } from "../../src/protocol/DataDecoder.js"
import * as Hostname from "../../src/protocol/Hostname.js"
import * as Ip from "../../src/protocol/Ip.js"
import * as LineFramer from "../../src/protocol/LineFramer.js"
import * as Proxy from "../../src/protocol/Proxy.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as Sasl from "../../src/protocol/Sasl.js"
import * as Xclient from "../../src/protocol/Xclient.js"
import * as Xtext from "../../src/protocol/Xtext.js"

// Mutation fuzzing: valid inputs, then a few random edits. Random bytes alone rarely get past
// the first check of a parser; a valid input with a byte flipped, cut or repeated reaches the
// deep branches, where the mistakes are.
const special = [0x00, 0x0d, 0x0a, 0x2e, 0x20, 0x3a, 0x3c, 0x3e, 0x3d, 0x40, 0x2b, 0x5b, 0x5d, 0x7f, 0xc3, 0xa9, 0xff, 0x01]

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.array(fc.oneof(fc.constantFrom(...special), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })
  }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("repeat" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }), times: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() })
)

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

const apply = (input: Uint8Array, m: Mutation): Uint8Array => {
  const b = Array.from(input)
  const at = b.length === 0 ? 0 : m.at % (b.length + 1)
  switch (m.kind) {
    case "flip":
      if (b.length > 0) b[at % b.length] = b[at % b.length]! ^ m.mask
      break
    case "insert":
      b.splice(at, 0, ...m.bytes)
      break
    case "delete":
      b.splice(at, m.length)
      break
    case "repeat": {
      const piece = b.slice(at, at + m.length)
      b.splice(at, 0, ...Array.from({ length: m.times }, () => piece).flat())
      break
    }
    case "truncate":
      b.length = at
      break
  }
  return Uint8Array.from(b)
}

/** `corpus` entries with zero to four mutations each. */
const mutated = (corpus: ReadonlyArray<string | Uint8Array>) =>
  fc.tuple(fc.constantFrom(...corpus), fc.array(mutation, { maxLength: 4 })).map(([seed, ms]) =>
    ms.reduce((bytes, m) => apply(bytes, m), typeof seed === "string" ? Uint8Array.from(Buffer.from(seed, "latin1")) : seed)
  )

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const utf8 = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

// Splits `input` at the given cut points (taken modulo its length).
const split = (input: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => (input.length === 0 ? 0 : c % input.length)))].sort((a, b) => a - b)
  const pieces: Array<Uint8Array> = []
  let from = 0
  for (const p of points) {
    if (p > from) pieces.push(input.subarray(from, p))
    from = Math.max(from, p)
  }
  if (from < input.length) pieces.push(input.subarray(from))
  return pieces
}

const singleLineReply = /^\d{3} [^\r\n]*\r\n$/
const controlChars = /[\x00-\x1f\x7f]/

const commands = [
  "EHLO client.example.test",
  "HELO [192.0.2.1]",
  "LHLO lmtp.test",
  "MAIL FROM:<sender@example.test> SIZE=12345 BODY=8BITMIME",
  "MAIL FROM:<> RET=HDRS ENVID=abc+2Bdef",
  "MAIL FROM:<\"quoted local\"@example.test> SMTPUTF8 REQUIRETLS",
  "RCPT TO:<rcpt@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;rcpt+40example.test",
  "RCPT TO:<postmaster>",
  "RCPT TO:<user@[IPv6:2001:db8::1]>",
  "DATA",
  "BDAT 1024 LAST",
  "BDAT 0",
  "RSET",
  "NOOP ignored text",
  "QUIT",
  "VRFY someone",
  "HELP MAIL",
  "STARTTLS",
  "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
  "AUTH LOGIN",
  "AUTH XOAUTH2 dXNlcj1hAWF1dGg9QmVhcmVyIHQBAQ==",
  "XCLIENT NAME=mail.example.test ADDR=192.0.2.1 PORT=2525 PROTO=ESMTP HELO=x LOGIN=alice",
  "XFORWARD NAME=[UNAVAILABLE] ADDR=IPv6:2001:db8::1 SOURCE=REMOTE IDENT=abc",
  "GET / HTTP/1.1"
]

describe("Fuzzing the protocol modules (mutated valid inputs, thousands of runs each)", () => {
  it("LineFramer: pipelined commands, mutated and split anywhere, never throw or buffer past the limit", () => {
    const stream = fc.array(mutated(commands.map((c) => `${c}\r\n`)), { minLength: 1, maxLength: 8 })
      .map((parts) => Uint8Array.from(Buffer.concat(parts)))
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), fc.integer({ min: 1, max: 96 }), (input, cuts, max) => {
        const framer = new LineFramer.LineFramer(max)
        for (const piece of split(input, cuts)) {
          framer.push(piece)
          for (let item = framer.next(); item !== LineFramer.NeedMore; item = framer.next()) {
            if (typeof item === "string") {
              // A decoded line never holds more characters than the limit has bytes, nor a line feed.
              assert.isAtMost(item.length, max)
              assert.notInclude(item, "\n")
            }
            assert.isAtMost(framer.bufferedBytes, max)
          }
          assert.isAtMost(framer.bufferedBytes, max)
        }
        framer.takeRemaining()
        assert.isFalse(framer.hasInput)
      }),
      { numRuns: 3_000 }
    )
  })

  it("Command.parse: mutated commands never throw; control characters always get 500 5.5.2", () => {
    fc.assert(
      fc.property(mutated(commands), fc.boolean(), (bytes, smtputf8) => {
        for (const line of [text(bytes), utf8(bytes)]) {
          const command = Command.parse(line, { smtputf8 })
          if (command._tag === "Invalid") assert.match(Reply.format(command.reply), singleLineReply)
          if (controlChars.test(line)) {
            assert.strictEqual(command._tag, "Invalid")
            assert.strictEqual(Reply.format((command as { reply: Reply.Reply }).reply), "500 5.5.2 Error: command contains control characters\r\n")
          }
          if (command._tag === "Mail" || command._tag === "Rcpt") {
            assert.notMatch(command.address.address, controlChars)
            for (const [key, value] of Object.entries(command.address.args)) {
              assert.notMatch(key, controlChars)
              if (typeof value === "string") assert.notMatch(value, controlChars)
            }
          }
        }
      }),
      { numRuns: 20_000 }
    )
  })

  it("Address parsers: mutated paths and parameters never throw and refuse with one line", () => {
    const paths = [
      "<a@example.test>",
      "<> SIZE=10 BODY=7BIT",
      "<\"a b\\\"c\"@example.test> SMTPUTF8",
      "<@relay.test:a@example.test>",
      "<a@[192.0.2.1]> NOTIFY=NEVER",
      "<a@[IPv6:::1]> ORCPT=rfc822;a+40b.test NOTIFY=DELAY,FAILURE",
      "<us\u00e9r@ex\u00e4mple.test> SMTPUTF8",
      " <spaced@example.test>  ENVID=x+2By RET=FULL "
    ].map((p) => Uint8Array.from(Buffer.from(p, "utf8")))
    fc.assert(
      fc.property(mutated(paths), fc.boolean(), (bytes, smtputf8) => {
        for (const arg of [text(bytes), utf8(bytes)]) {
          for (const parsed of [Address.parseMailFrom(arg), Address.parseRcptTo(arg, smtputf8)]) {
            if (parsed._tag === "Error") assert.match(Reply.format(parsed.reply), singleLineReply)
          }
        }
      }),
      { numRuns: 10_000 }
    )
  })

  const policies: ReadonlyArray<BareLineEndings> = ["normalize", "reject", "pass"]
  const bodies = [
    "Subject: x\r\n\r\nline\r\n.\r\n",
    "..stuffed\r\n.\r\n",
    ".\r\n",
    "a\r\n.\r\r\n.\r\n",
    "a\n.\nb\r\n.\r\n",
    "a\r\n\x00.\r\nb\r\n.\r\n",
    "x\r.\rMAIL FROM:<s@x>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n"
  ]

  it("DataDecoder: only the first CRLF.CRLF ends the data, whatever is around it and however it is split", () => {
    fc.assert(
      fc.property(mutated(bodies), fc.array(fc.nat(), { maxLength: 10 }), fc.constantFrom(...policies), (input, cuts, policy) => {
        const decoder = new DataDecoder(policy)
        const out: Array<Uint8Array> = []
        let offset = 0
        let end = -1
        for (const piece of split(input, cuts)) {
          const at = decoder.decode(piece, 0, out)
          if (at >= 0) {
            end = offset + at
            break
          }
          offset += piece.length
        }
        // RFC 5321 §4.1.1.4: the data ends right after the first CRLF.CRLF, the opening CRLF
        // being the one before the first line; nothing else ends it.
        const first = Buffer.from("\r\n" + text(input), "latin1").indexOf("\r\n.\r\n")
        assert.strictEqual(end, first < 0 ? -1 : first + 3)
        assert.strictEqual(decoder.done, first >= 0)
        const body = Buffer.concat(out)
        assert.strictEqual(decoder.byteLength, body.length)
        if (policy === "normalize" && decoder.done) {
          // What the hook receives has no bare CR and no bare LF.
          assert.notMatch(body.toString("latin1"), /\r(?!\n)|(?<!\r)\n/)
        }
      }),
      { numRuns: 20_000 }
    )
  })

  it("ChunkDecoder: mutated chunks never throw; normalized content has no bare CR or LF", () => {
    fc.assert(
      fc.property(
        mutated(bodies),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.constantFrom(...policies),
        fc.boolean(),
        (input, cuts, policy, binary) => {
          const decoder = new ChunkDecoder(policy, binary)
          const out: Array<Uint8Array> = []
          for (const piece of split(input, cuts)) decoder.decode(piece, out)
          decoder.end(out)
          const body = Buffer.concat(out)
          assert.strictEqual(decoder.byteLength, body.length)
          if (binary || policy !== "normalize") assert.deepStrictEqual(body, Buffer.from(input))
          else assert.notMatch(body.toString("latin1"), /\r(?!\n)|(?<!\r)\n/)
        }
      ),
      { numRuns: 10_000 }
    )
  })

  const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64")
  const challenge = () => "PDEyMzQ1Njc4OTAuMTIzNDVAbXgudGVzdD4="
  // Valid responses per mechanism, as the decoded bytes the client would base64-encode.
  const saslResponses: Record<Sasl.Mechanism, ReadonlyArray<string>> = {
    PLAIN: ["\0alice\0secret", "admin\0alice\0secret", "\0al\u00e9ce\0p\u00e4ss"],
    LOGIN: ["alice", "secret"],
    "CRAM-MD5": ["alice 0123456789abcdef0123456789abcdef"],
    XOAUTH2: ["user=alice\x01auth=Bearer token123\x01\x01"]
  }

  it("Sasl: mutated responses, before or after base64, never throw and end in one reply line", () => {
    const exchange = fc.constantFrom(...Sasl.mechanisms).chain((mechanism) => {
      const decoded = mutated(saslResponses[mechanism].map((r) => Uint8Array.from(Buffer.from(r, "utf8")))).map(b64)
      const encoded = mutated(saslResponses[mechanism].map((r) => b64(Buffer.from(r, "utf8")))).map(text)
      const line = fc.oneof(decoded, encoded, fc.constantFrom("*", "=", ""))
      return fc.tuple(fc.constant(mechanism), fc.option(line, { nil: undefined }), fc.array(line, { maxLength: 3 }))
    })
    fc.assert(
      fc.property(exchange, ([mechanism, initial, lines]) => {
        let step = Sasl.start(mechanism, initial, challenge)
        for (const l of lines) {
          if (step._tag !== "Challenge") break
          step = Sasl.respond(step.state, l)
        }
        if (step._tag === "Challenge") assert.match(Reply.format(Reply.table.authChallenge(step.challenge)), /^334 [A-Za-z0-9+/=]*\r\n$/)
        if (step._tag === "Fail") assert.match(Reply.format(step.reply), singleLineReply)
        if (step._tag === "Done") {
          assert.notStrictEqual(step.credentials.username, "")
          assert.notMatch(step.credentials.username, /[\x00-\x1f\x7f-\x9f]/)
        }
      }),
      { numRuns: 20_000 }
    )
  })

  const signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]
  const v2 = (body: ReadonlyArray<number>, familyTransport = 0x11) =>
    Uint8Array.from([...signature, 0x21, familyTransport, body.length >> 8, body.length & 0xff, ...body])
  const proxyHeaders: ReadonlyArray<Uint8Array> = [
    Uint8Array.from(Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO x\r\n", "latin1")),
    Uint8Array.from(Buffer.from("PROXY TCP6 2001:db8::1 ::1 1 25\r\n", "latin1")),
    Uint8Array.from(Buffer.from("PROXY UNKNOWN\r\n", "latin1")),
    v2([192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0, 25]),
    v2([...Array(32).fill(0x20), 0x9c, 0x40, 0x02, 0x4b], 0x21),
    v2([192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0, 25, 0x04, 0, 3, 1, 2, 3]),
    Uint8Array.from([...signature, 0x20, 0x00, 0, 0])
  ]

  it("Proxy: mutated v1 and v2 headers, split anywhere, never throw and are decided within the cap", () => {
    fc.assert(
      fc.property(mutated(proxyHeaders), fc.array(fc.nat(), { maxLength: 8 }), (input, cuts) => {
        const reader = new Proxy.HeaderReader()
        let fed = 0
        for (const piece of split(input, cuts)) {
          const result = reader.push(piece)
          fed += piece.length
          if (result._tag === "NeedMore") {
            assert.isBelow(fed, Proxy.maxHeaderLength)
            continue
          }
          if (result._tag === "Header") assert.isAtMost(result.length, fed)
          return
        }
      }),
      { numRuns: 10_000 }
    )
  })

  it("Xclient: mutated attribute lists never throw, refuse with one line, and keep only known names", () => {
    const lists = [
      "NAME=mail.example.test ADDR=192.0.2.1 PORT=2525 PROTO=ESMTP HELO=helo.test LOGIN=alice",
      "ADDR=IPv6:2001:db8::1 DESTADDR=198.51.100.2 DESTPORT=25 NAME=[TEMPUNAVAIL]",
      "NAME=[UNAVAILABLE] IDENT=abc+20def SOURCE=LOCAL PROTO=SMTP",
      "HELO=x+2By+3Dz"
    ]
    fc.assert(
      fc.property(mutated(lists), fc.constantFrom(Xclient.xclient, Xclient.xforward), (bytes, kind) => {
        for (const parameters of [text(bytes), utf8(bytes)]) {
          const parsed = Xclient.parse(parameters, kind)
          if (parsed._tag === "Error") assert.match(Reply.format(parsed.reply), singleLineReply)
          else for (const name of parsed.attributes.keys()) assert.include(kind.attributes, name)
        }
      }),
      { numRuns: 10_000 }
    )
  })

  it("Reply.format: text from a hook cannot split a reply or add one", () => {
    const line = fc.string({ unit: fc.oneof(fc.constantFrom("\r", "\n", "\r\n", "\x00", "250 ", "-"), fc.string({ minLength: 1, maxLength: 1 })), maxLength: 40 })
    fc.assert(
      fc.property(
        fc.integer({ min: 200, max: 599 }),
        fc.oneof(line, fc.array(line, { minLength: 1, maxLength: 4 })),
        fc.boolean(),
        (code, replyText, enhanced) => {
          const lines = typeof replyText === "string" ? 1 : replyText.length
          const out = Reply.format(Reply.make(code, replyText, enhanced ? "5.0.0" : undefined), enhanced)
          const parts = out.split("\r\n")
          assert.strictEqual(parts.pop(), "")
          assert.strictEqual(parts.length, lines)
          parts.forEach((part, i) => {
            assert.notMatch(part, /[\r\n]/)
            // Every line is this reply's: its code, then "-" on all but the last (RFC 5321 §4.2.1).
            const separator = i < lines - 1 ? "-" : " "
            assert.isTrue(part === String(code) || part.startsWith(`${code}${separator}`), part)
          })
        }
      ),
      { numRuns: 10_000 }
    )
  })

  it("Xtext, Hostname and Ip never throw on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), (s) => {
        Xtext.decode(s)
        Hostname.isValid(s)
        Hostname.normalize(s)
        Ip.isIP(s)
        Ip.normalize(s)
        Ip.isAllowed(["192.0.2.1", "2001:db8::1"], s)
      }),
      { numRuns: 10_000 }
    )
  })
})

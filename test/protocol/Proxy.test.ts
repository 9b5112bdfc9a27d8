import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Buffer } from "node:buffer"
import * as Proxy from "../../src/protocol/Proxy.js"

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"))

const signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]

// A v2 header: signature, version 2 with `command`, family/transport byte, then `body` with its length.
const v2 = (command: number, familyTransport: number, body: ReadonlyArray<number>, declared = body.length) =>
  new Uint8Array([...signature, 0x20 | command, familyTransport, declared >> 8, declared & 0xff, ...body])

const u16 = (n: number) => [n >> 8, n & 0xff]
const tlv = (type: number, value: ReadonlyArray<number>) => [type, ...u16(value.length), ...value]
const inet = [192, 0, 2, 1, 198, 51, 100, 2, ...u16(56324), ...u16(25)]
const inet6 = [
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01],
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02],
  ...u16(40000),
  ...u16(587)
]
const mapped6 = [
  ...[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7],
  ...[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1],
  ...u16(1),
  ...u16(25)
]

const header = (
  version: 1 | 2,
  length: number,
  source?: Proxy.Endpoint,
  destination?: Proxy.Endpoint
): Proxy.Result => ({ _tag: "Header", version, length, source, destination })

const invalid = (reason: string): Proxy.Result => ({ _tag: "Invalid", reason })
const needMore: Proxy.Result = { _tag: "NeedMore" }

// The longest v1 line the specification allows: 107 bytes, CRLF included.
const worstV1 = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"

describe("Proxy.parse v1", () => {
  it.each<[string, Proxy.Result]>([
    [
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n",
      header(1, 44, { address: "192.0.2.1", port: 56324 }, { address: "198.51.100.2", port: 25 })
    ],
    [
      "PROXY TCP6 2001:DB8::1 2001:db8:0:0:0:0:0:2 0 65535\r\n",
      header(1, 53, { address: "2001:db8::1", port: 0 }, { address: "2001:db8::2", port: 65535 })
    ],
    // A dual-stack proxy's IPv4 client is shown as IPv4, as Node shows its own peers.
    [
      "PROXY TCP6 ::ffff:203.0.113.7 ::1 1 25\r\n",
      header(1, 40, { address: "203.0.113.7", port: 1 }, { address: "::1", port: 25 })
    ],
    ["PROXY UNKNOWN\r\n", header(1, 15)],
    [worstV1, header(1, 107)],
    // What follows the header is not the parser's business.
    ["PROXY UNKNOWN\r\nEHLO x\r\n", header(1, 15)]
  ])("reads %j", (input, expected) => {
    assert.deepStrictEqual(Proxy.parse(bytes(input)), expected)
  })

  it.each<[string, Proxy.Result]>([
    ["EHLO client.test\r\n", invalid("not a PROXY protocol header")],
    ["proxy TCP4 192.0.2.1 198.51.100.2 1 25\r\n", invalid("not a PROXY protocol header")],
    ["PROXY TCP5 192.0.2.1 198.51.100.2 1 25\r\n", invalid("v1 header names no known protocol")],
    ["PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", invalid("v1 header has the wrong number of fields")],
    ["PROXY TCP4 192.0.2.1  198.51.100.2 1 25\r\n", invalid("v1 header has the wrong number of fields")],
    ["PROXY TCP4 2001:db8::1 198.51.100.2 1 25\r\n", invalid("v1 header has an invalid address")],
    ["PROXY TCP6 192.0.2.1 2001:db8::1 1 25\r\n", invalid("v1 header has an invalid address")],
    ["PROXY TCP4 192.0.2.256 198.51.100.2 1 25\r\n", invalid("v1 header has an invalid address")],
    ["PROXY TCP6 fe80::1%eth0 ::1 1 25\r\n", invalid("v1 header has an invalid address")],
    ["PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n", invalid("v1 header has an invalid port")],
    ["PROXY TCP4 192.0.2.1 198.51.100.2 025 25\r\n", invalid("v1 header has an invalid port")],
    ["PROXY TCP4 192.0.2.1 198.51.100.2 -1 25\r\n", invalid("v1 header has an invalid port")],
    ["PROXY TCP4 192.0.2.1 198.51.100.2 1 25\n", invalid("v1 header does not end with CRLF")],
    ["PROXY TCP4 192.0.2.1\r198.51.100.2 1 25\r\n", invalid("v1 header has a control character")],
    ["PROXY TCP4 192.0.2.1\x00", invalid("v1 header has a control character")],
    ["PROXY UNKNOWN \xff\r\n", invalid("v1 header has a control character")],
    [worstV1.replace("PROXY UNKNOWN ", "PROXY UNKNOWN  "), invalid("v1 header longer than 107 bytes")],
    [`PROXY ${"x".repeat(101)}`, invalid("v1 header longer than 107 bytes")]
  ])("refuses %j", (input, expected) => {
    assert.deepStrictEqual(Proxy.parse(bytes(input)), expected)
  })

  it.each(["", "P", "PROXY", "PROXY TCP4 192.0.2.1", "PROXY TCP4 192.0.2.1 198.51.100.2 1 25\r", `PROXY ${"x".repeat(100)}`])(
    "waits for more after %j",
    (input) => {
      assert.deepStrictEqual(Proxy.parse(bytes(input)), needMore)
    }
  )
})

describe("Proxy.parse v2", () => {
  it.each<[string, Uint8Array, Proxy.Result]>([
    [
      "PROXY over TCP/IPv4",
      v2(1, 0x11, inet),
      header(2, 28, { address: "192.0.2.1", port: 56324 }, { address: "198.51.100.2", port: 25 })
    ],
    [
      "PROXY over TCP/IPv6",
      v2(1, 0x21, inet6),
      header(2, 52, { address: "2001:db8::1", port: 40000 }, { address: "2001:db8::2", port: 587 })
    ],
    [
      "PROXY over TCP/IPv6 with IPv4-mapped addresses",
      v2(1, 0x21, mapped6),
      header(2, 52, { address: "203.0.113.7", port: 1 }, { address: "10.0.0.1", port: 25 })
    ],
    [
      "TLVs after the addresses, skipped",
      v2(1, 0x11, [...inet, ...tlv(0x01, [...bytes("smtp")]), ...tlv(0x04, [0, 0, 0]), ...tlv(0x02, [...bytes("mx.test")])]),
      header(2, 28 + 7 + 6 + 10, { address: "192.0.2.1", port: 56324 }, { address: "198.51.100.2", port: 25 })
    ],
    ["an empty TLV", v2(1, 0x11, [...inet, ...tlv(0x05, [])]), header(2, 31, { address: "192.0.2.1", port: 56324 }, {
      address: "198.51.100.2",
      port: 25
    })],
    ["LOCAL (a health check): addresses ignored", v2(0, 0x11, inet), header(2, 28)],
    ["LOCAL with no block", v2(0, 0x00, []), header(2, 16)],
    ["LOCAL with garbage in the block", v2(0, 0x00, [1, 2, 3]), header(2, 19)],
    ["UNSPEC family", v2(1, 0x00, [9, 9, 9, 9]), header(2, 20)],
    ["a UNIX socket", v2(1, 0x31, new Array(216).fill(0x61)), header(2, 232)],
    ["the largest block accepted", v2(1, 0x11, [...inet, ...tlv(0xee, new Array(1024 - 12 - 3).fill(0))]), header(2, 1040, {
      address: "192.0.2.1",
      port: 56324
    }, { address: "198.51.100.2", port: 25 })]
  ])("reads %s", (_, input, expected) => {
    assert.deepStrictEqual(Proxy.parse(input), expected)
  })

  it.each<[string, Uint8Array, Proxy.Result]>([
    ["a signature broken at its 6th byte", new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0a]), invalid("not a PROXY protocol header")],
    ["version 1 in the binary form", (() => {
      const h = v2(1, 0x11, inet)
      h[12] = 0x11
      return h
    })(), invalid("v2 header has an unknown version")],
    ["command 2", v2(2, 0x11, inet), invalid("v2 header has an unknown command")],
    ["family 4", v2(1, 0x41, inet), invalid("v2 header has an unknown address family or transport")],
    ["transport 3", v2(1, 0x13, inet), invalid("v2 header has an unknown address family or transport")],
    ["UDP", v2(1, 0x12, inet), invalid("v2 header is not for a stream connection")],
    ["an IPv4 block one byte short", v2(1, 0x11, inet.slice(0, 11)), invalid("v2 header is too short for its addresses")],
    ["an IPv6 block with IPv4 length", v2(1, 0x21, inet), invalid("v2 header is too short for its addresses")],
    ["a TLV longer than the header", v2(1, 0x11, [...inet, 0x01, 0x00, 0x05, 1, 2]), invalid("v2 header has a malformed TLV")],
    ["a TLV cut in its own header", v2(1, 0x11, [...inet, 0x01, 0x00]), invalid("v2 header has a malformed TLV")],
    // Refused on the length field alone: nothing of the body is waited for.
    ["a declared length past the cap", v2(1, 0x11, [], 1025), invalid("v2 header longer than 1040 bytes")],
    ["the largest declared length", v2(1, 0x11, [], 0xffff), invalid("v2 header longer than 1040 bytes")]
  ])("refuses %s", (_, input, expected) => {
    assert.deepStrictEqual(Proxy.parse(input), expected)
  })

  it.each<[string, Uint8Array]>([
    ["the first signature byte", new Uint8Array([0x0d])],
    ["the signature", new Uint8Array(signature)],
    ["15 of the 16 fixed bytes", v2(1, 0x11, inet).subarray(0, 15)],
    ["the fixed part and half the block", v2(1, 0x11, inet).subarray(0, 22)],
    ["all but the last byte", v2(1, 0x21, inet6).subarray(0, 51)]
  ])("waits for more after %s", (_, input) => {
    assert.deepStrictEqual(Proxy.parse(input), needMore)
  })
})

// Valid headers of every kind, for the properties below.
const validHeaders: ReadonlyArray<Uint8Array> = [
  bytes("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n"),
  bytes("PROXY TCP6 2001:db8::1 2001:db8::2 40000 587\r\n"),
  bytes(worstV1),
  v2(1, 0x11, inet),
  v2(1, 0x21, [...inet6, ...tlv(0x01, [...bytes("smtp")])]),
  v2(0, 0x00, []),
  v2(1, 0x31, new Array(216).fill(0))
]

const concat = (a: Uint8Array, b: Uint8Array) => new Uint8Array([...a, ...b])

describe("Proxy.HeaderReader", () => {
  it("hands back the bytes after the header in the same chunk", () => {
    const reader = new Proxy.HeaderReader()
    assert.deepStrictEqual(reader.push(bytes("PROXY UNKNOWN\r")), needMore)
    assert.deepStrictEqual(reader.push(bytes("\nEHLO x\r\n")), header(1, 15))
    assert.strictEqual(Buffer.from(reader.rest!).toString("latin1"), "EHLO x\r\n")
  })

  it("leaves rest undefined when the header ends its chunk", () => {
    const reader = new Proxy.HeaderReader()
    assert.strictEqual(reader.push(v2(0, 0x00, []))._tag, "Header")
    assert.isUndefined(reader.rest)
  })

  it("gives the same result and rest however the input is split", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...validHeaders),
        fc.uint8Array({ maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (head, tail, cuts) => {
          const input = concat(head, tail)
          const whole = Proxy.parse(input)
          const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b)
          const reader = new Proxy.HeaderReader()
          let result: Proxy.Result = needMore
          let from = 0
          for (const p of [...points, input.length]) {
            if (result._tag !== "NeedMore") break
            result = reader.push(input.subarray(from, p))
            from = p
          }
          assert.deepStrictEqual(result, whole)
          assert.strictEqual(whole._tag, "Header")
          const length = (whole as Extract<Proxy.Result, { _tag: "Header" }>).length
          // Whatever was pushed past the header comes back as rest, byte for byte.
          const expectedRest = input.subarray(length, from)
          assert.deepStrictEqual(reader.rest ?? new Uint8Array(0), expectedRest)
        }
      )
    )
  })

  it("says need more for every proper prefix of a valid header", () => {
    for (const h of validHeaders) {
      for (let n = 0; n < h.length; n++) assert.deepStrictEqual(Proxy.parse(h.subarray(0, n)), needMore, `prefix ${n}`)
    }
  })

  it("never throws on random bytes, and decides within maxHeaderLength", () => {
    const noise = fc.oneof(
      fc.uint8Array({ maxLength: 1200 }),
      // Random tails after a real signature reach the deeper checks.
      fc.uint8Array({ maxLength: 300 }).map((b) => concat(new Uint8Array(signature), b)),
      fc.uint8Array({ maxLength: 300 }).map((b) => concat(bytes("PROXY "), b))
    )
    fc.assert(
      fc.property(noise, (input) => {
        const result = Proxy.parse(input)
        if (result._tag === "NeedMore") assert.isBelow(input.length, Proxy.maxHeaderLength)
        if (result._tag === "Header") assert.isAtMost(result.length, input.length)
      }),
      { numRuns: 2000 }
    )
  })

  it("decides by the 1040th byte fed one at a time: nothing is buffered past the cap", () => {
    const input = v2(1, 0x11, [...inet, ...tlv(0xee, new Array(1024 - 12 - 3).fill(0))])
    const reader = new Proxy.HeaderReader()
    for (let i = 0; i < input.length - 1; i++) assert.deepStrictEqual(reader.push(input.subarray(i, i + 1)), needMore)
    assert.strictEqual(reader.push(input.subarray(input.length - 1))._tag, "Header")
  })

  it("refuses a v1 line that never ends at its 107th byte", () => {
    const reader = new Proxy.HeaderReader()
    const line = bytes(`PROXY ${"x".repeat(200)}`)
    for (let i = 0; i < 106; i++) assert.deepStrictEqual(reader.push(line.subarray(i, i + 1)), needMore)
    assert.deepStrictEqual(reader.push(line.subarray(106, 107)), invalid("v1 header longer than 107 bytes"))
  })
})

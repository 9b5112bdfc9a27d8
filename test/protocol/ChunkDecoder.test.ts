import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Buffer } from "node:buffer"
import { ChunkDecoder } from "../../src/protocol/ChunkDecoder.js"
import type { BareLineEndings } from "../../src/protocol/DataDecoder.js"

const policies: ReadonlyArray<BareLineEndings> = ["reject", "normalize", "pass"]

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"))

interface Decoded {
  readonly body: string
  readonly byteLength: number
  readonly sawBare: boolean
}

// Decodes the pieces as the chunk reader hands them over, then ends the body.
const decodeChunks = (chunks: ReadonlyArray<Uint8Array>, policy: BareLineEndings, binary = false): Decoded => {
  const decoder = new ChunkDecoder(policy, binary)
  const out: Array<Uint8Array> = []
  for (const chunk of chunks) decoder.decode(chunk, out)
  decoder.end(out)
  const body = Buffer.concat(out)
  assert.strictEqual(decoder.byteLength, body.length)
  return { body: body.toString("latin1"), byteLength: decoder.byteLength, sawBare: decoder.sawBareLineEnding }
}

const splitAt = (input: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let from = 0
  for (const p of [...points, input.length]) {
    chunks.push(input.subarray(from, p))
    from = p
  }
  return chunks
}

// The policy written over the whole body at once with lookahead.
const reference = (input: Uint8Array, policy: BareLineEndings, binary: boolean): Decoded => {
  const out: Array<number> = []
  let sawBare = false
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!
    const crlf = (b === 13 && input[i + 1] === 10) || (b === 10 && input[i - 1] === 13)
    if (binary || policy === "pass" || (b !== 13 && b !== 10) || crlf) {
      out.push(b)
      continue
    }
    sawBare = true
    if (policy === "normalize") out.push(13, 10)
    else out.push(b)
  }
  const body = Buffer.from(out).toString("latin1")
  return { body, byteLength: out.length, sawBare }
}

describe("ChunkDecoder", () => {
  it.each([
    // [input, policy, body, sawBare]
    ["plain\r\ntext\r\n", "normalize", "plain\r\ntext\r\n", false],
    [".leading dot\r\n.\r\n", "normalize", ".leading dot\r\n.\r\n", false],
    ["a\nb", "normalize", "a\r\nb", true],
    ["a\rb", "normalize", "a\r\nb", true],
    ["a\r", "normalize", "a\r\n", true],
    ["\n", "normalize", "\r\n", true],
    ["\r\r\n", "normalize", "\r\n\r\n", true],
    ["\n\r", "normalize", "\r\n\r\n", true],
    ["a\nb\rc", "reject", "a\nb\rc", true],
    ["a\r\nb", "reject", "a\r\nb", false],
    ["a\nb\rc", "pass", "a\nb\rc", false],
    ["\x00\r\xff\n", "pass", "\x00\r\xff\n", false]
  ] as const)("decodes %j under %s", (input, policy, body, sawBare) => {
    const decoded = decodeChunks([bytes(input)], policy)
    assert.strictEqual(decoded.body, body)
    assert.strictEqual(decoded.sawBare, sawBare)
  })

  it("keeps a CRLF split between two chunks as one line ending", () => {
    const decoded = decodeChunks([bytes("a\r"), bytes("\nb")], "normalize")
    assert.deepStrictEqual(decoded, { body: "a\r\nb", byteLength: 4, sawBare: false })
  })

  it("passes a BINARYMIME body verbatim under every policy", () => {
    for (const policy of policies) {
      const decoded = decodeChunks([bytes("\x00\r"), bytes("\r\n\n\r")], policy, true)
      assert.deepStrictEqual(decoded, { body: "\x00\r\r\n\n\r", byteLength: 6, sawBare: false })
    }
  })

  it("hands back views of the input, never copies, when nothing is rewritten", () => {
    const input = bytes("line one\r\nline two\r\n")
    const out: Array<Uint8Array> = []
    new ChunkDecoder("normalize").decode(input, out)
    assert.strictEqual(out.length, 1)
    assert.strictEqual(out[0]!.buffer, input.buffer)
  })

  const rich = fc.uint8Array({ maxLength: 80 }).map((u) => u.map((b) => [13, 10, 46, 0, 97, 0xff][b % 6]!))

  it("matches the reference and gives identical results for every split (property)", () => {
    fc.assert(
      fc.property(
        rich,
        fc.array(fc.nat(), { maxLength: 16 }),
        fc.constantFrom(...policies),
        fc.boolean(),
        (input, cuts, policy, binary) => {
          const expected = reference(input, policy, binary)
          const whole = decodeChunks([input], policy, binary)
          const split = decodeChunks(splitAt(input, cuts), policy, binary)
          if (policy !== "reject") assert.deepStrictEqual(whole, expected)
          else assert.strictEqual(whole.sawBare, expected.sawBare)
          assert.deepStrictEqual(split, whole)
        }
      )
    )
  })

  // Long bodies of mostly plain CRLF lines with the odd bare CR or LF: what the 16-byte scan
  // skips over, and where it has to stop (a line-start dot stops it too, and means nothing here).
  const plainLine = fc.stringMatching(/^[a-z .]{0,40}$/).map((line) => `${line}\r\n`)
  const oddity = fc.constantFrom("\r", "\n", ".", "\r\n.", "\r\r\n", "\n.", "x\r\n.\rx")
  const longBody = fc.array(fc.oneof({ arbitrary: plainLine, weight: 12 }, { arbitrary: oddity, weight: 1 }), { maxLength: 120 })
    .map((parts) => bytes(parts.join("")))

  it("matches the reference on long bodies of CRLF lines, whole and split (property)", () => {
    fc.assert(
      fc.property(longBody, fc.array(fc.nat(), { maxLength: 8 }), fc.constantFrom(...policies), (input, cuts, policy) => {
        const expected = reference(input, policy, false)
        const whole = decodeChunks([input], policy)
        if (policy !== "reject") assert.deepStrictEqual(whole, expected)
        else assert.strictEqual(whole.sawBare, expected.sawBare)
        assert.deepStrictEqual(decodeChunks(splitAt(input, cuts), policy), whole)
      }),
      { numRuns: 3_000 }
    )
  })

  it("finds a bare line ending at any offset of a chunk longer than the scan window", () => {
    const clean = "The quick brown fox jumps over the lazy dog; 0123456789 abcdefghijklmnopqrstuv\r\n".repeat(2_000)
    for (const at of [0, 1, 15, 16, 17, 65_517, 65_518, 65_519, 65_520, 65_535, 65_536, 65_537, 131_070]) {
      for (const oddity of ["\r", "\n", "\r\n."]) {
        const input = bytes(clean.slice(0, at) + oddity + clean.slice(at))
        for (const policy of ["normalize", "pass"] as const) {
          assert.deepStrictEqual(decodeChunks([input], policy), reference(input, policy, false), `${JSON.stringify(oddity)} at ${at}`)
        }
        assert.strictEqual(decodeChunks([input], "reject").sawBare, reference(input, "reject", false).sawBare)
      }
    }
  })

  it("gives identical results when fed one byte at a time (property)", () => {
    fc.assert(
      fc.property(rich, fc.constantFrom(...policies), (input, policy) => {
        const bytewise = Array.from(input, (b) => Uint8Array.of(b))
        assert.deepStrictEqual(decodeChunks(bytewise, policy), decodeChunks([input], policy))
      })
    )
  })
})

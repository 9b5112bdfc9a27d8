import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Buffer } from "node:buffer"
import { type BareLineEndings, DataDecoder } from "../../src/protocol/DataDecoder.js"

const policies: ReadonlyArray<BareLineEndings> = ["reject", "normalize", "pass"]

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"))
const text = (u: Uint8Array): string => Buffer.from(u).toString("latin1")

interface Decoded {
  readonly body: string
  // Index just past the end-of-data marker in the whole input, or -1.
  readonly end: number
  readonly done: boolean
  readonly byteLength: number
  readonly sawBare: boolean
}

const decodeChunks = (chunks: ReadonlyArray<Uint8Array>, policy?: BareLineEndings): Decoded => {
  const decoder = policy === undefined ? new DataDecoder() : new DataDecoder(policy)
  const out: Array<Uint8Array> = []
  let offset = 0
  let end = -1
  for (const chunk of chunks) {
    const at = decoder.decode(chunk, 0, out)
    if (at >= 0) {
      end = offset + at
      break
    }
    offset += chunk.length
  }
  const body = Buffer.concat(out)
  assert.strictEqual(decoder.byteLength, body.length)
  return { body: body.toString("latin1"), end, done: decoder.done, byteLength: decoder.byteLength, sawBare: decoder.sawBareLineEnding }
}

const decodeString = (input: string, policy?: BareLineEndings): Decoded => decodeChunks([bytes(input)], policy)

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

// The rules written as a plain loop over the whole input with lookahead. At the end of the
// input it emits what the streaming decoder emits before knowing the next byte: a CR is out,
// its normalising LF is not; a line-start dot and a CR after it are held back.
const reference = (input: Uint8Array, policy: BareLineEndings): Decoded => {
  const out: Array<number> = []
  const n = input.length
  let lineStart = true
  let sawBare = false
  let i = 0
  const result = (end: number, done: boolean): Decoded => ({
    body: Buffer.from(out).toString("latin1"),
    end,
    done,
    byteLength: out.length,
    sawBare
  })
  while (i < n) {
    if (lineStart && input[i] === 46) {
      if (i + 1 < n && input[i + 1] === 13) {
        if (i + 2 === n) return result(-1, false)
        if (input[i + 2] === 10) return result(i + 3, true)
      }
      lineStart = false
      i++
      continue
    }
    lineStart = false
    const b = input[i]!
    if (b === 13) {
      out.push(13)
      if (i + 1 === n) break
      if (input[i + 1] === 10) {
        out.push(10)
        i += 2
        lineStart = true
        continue
      }
      sawBare = true
      if (policy === "normalize") out.push(10)
    } else if (b === 10) {
      sawBare = true
      if (policy === "normalize") out.push(13)
      out.push(10)
    } else {
      out.push(b)
    }
    i++
  }
  return result(-1, false)
}

const dotStuff = (lines: ReadonlyArray<string>): string =>
  lines.map((line) => (line.startsWith(".") ? `.${line}\r\n` : `${line}\r\n`)).join("")

const smuggledTail = "MAIL FROM:<smuggled@x.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\nsmuggled\r\n"

describe("DataDecoder", () => {
  describe("SMTP smuggling vectors never end the data", () => {
    // [vector, body under pass and reject, body under normalize, bare line ending seen]
    const vectors: ReadonlyArray<readonly [string, string, string, boolean]> = [
      ["\n.\n", "x\n.\n", "x\r\n.\r\n", true],
      ["\n.\r\n", "x\n.\r\n", "x\r\n.\r\n", true],
      ["\r.\r", "x\r.\r", "x\r\n.\r\n", true],
      ["\r\n.\n", "x\r\n\n", "x\r\n\r\n", true],
      ["\r\n.\r", "x\r\n\r", "x\r\n\r\n", true],
      ["\r\n\x00.\r\n", "x\r\n\x00.\r\n", "x\r\n\x00.\r\n", false],
      ["\r\n.\r\r\n", "x\r\n\r\r\n", "x\r\n\r\n\r\n", true],
      ["\r\r\n.\r\r\n", "x\r\r\n\r\r\n", "x\r\n\r\n\r\n\r\n", true],
      ["\r.\n", "x\r.\n", "x\r\n.\r\n", true]
    ]
    for (const [vector, verbatim, normalized, sawBare] of vectors) {
      const input = `x${vector}${smuggledTail}.\r\nQUIT\r\n`
      const endOfData = input.length - "QUIT\r\n".length
      for (const policy of policies) {
        it(`${JSON.stringify(vector)} under ${policy}: one message ending at the final CRLF.CRLF`, () => {
          const expected = (policy === "normalize" ? normalized : verbatim) + smuggledTail
          const whole = decodeString(input, policy)
          assert.deepStrictEqual(whole, { body: expected, end: endOfData, done: true, byteLength: expected.length, sawBare })
          // Also with the input cut right after the vector: still not done.
          const head = decodeString(`x${vector}${smuggledTail}`, policy)
          assert.isFalse(head.done)
          assert.strictEqual(head.end, -1)
        })
      }
    }
  })

  it.each([
    ["an empty body", ".\r\n", ""],
    ["one line", "hello\r\n.\r\n", "hello\r\n"],
    ["an empty line in the body", "a\r\n\r\nb\r\n.\r\n", "a\r\n\r\nb\r\n"],
    ["a stuffed dot", "..x\r\n.\r\n", ".x\r\n"],
    ["a stuffed lone dot", "..\r\n.\r\n", ".\r\n"],
    ["two stuffed dots", "...\r\n.\r\n", "..\r\n"],
    ["an unstuffed dot mid-line", "a.b\r\n.x\r\n.\r\n", "a.b\r\nx\r\n"],
    ["a stuffed line after the first", "a\r\n..b\r\n.\r\n", "a\r\n.b\r\n"],
    ["binary bytes", "\x00\x01\xff\xe9\x80\r\n\x00\r\n.\r\n", "\x00\x01\xff\xe9\x80\r\n\x00\r\n"],
    ["a dot line that is not the end", "a\r\n. \r\n.\r\n", "a\r\n \r\n"]
  ])("decodes %s", (_name, input, body) => {
    for (const policy of policies) {
      assert.deepStrictEqual(decodeString(input + "NEXT", policy), {
        body,
        end: input.length,
        done: true,
        byteLength: body.length,
        sawBare: false
      })
    }
  })

  it.each([
    ["a bare LF", "a\nb\r\n.\r\n", "a\nb\r\n", "a\r\nb\r\n"],
    ["a bare CR", "a\rb\r\n.\r\n", "a\rb\r\n", "a\r\nb\r\n"],
    ["a dot after a bare LF is content", "a\n.b\r\n.\r\n", "a\n.b\r\n", "a\r\n.b\r\n"],
    ["a stuffed dot then a bare LF", "..\n\r\n.\r\n", ".\n\r\n", ".\r\n\r\n"],
    ["a dot line ended by a bare LF", "a\r\n.\n\r\n.\r\n", "a\r\n\n\r\n", "a\r\n\r\n\r\n"],
    ["a CR before CRLF", "a\r\r\n.\r\n", "a\r\r\n", "a\r\n\r\n"],
    ["LF CR", "a\n\rb\r\n.\r\n", "a\n\rb\r\n", "a\r\n\r\nb\r\n"],
    ["a bare LF at the very start", "\n.\r\n.\r\n", "\n.\r\n", "\r\n.\r\n"]
  ])("handles %s per policy", (_name, input, verbatim, normalized) => {
    assert.deepStrictEqual(decodeString(input, "pass"), {
      body: verbatim,
      end: input.length,
      done: true,
      byteLength: verbatim.length,
      sawBare: true
    })
    assert.deepStrictEqual(decodeString(input, "reject"), decodeString(input, "pass"))
    assert.deepStrictEqual(decodeString(input), {
      body: normalized,
      end: input.length,
      done: true,
      byteLength: normalized.length,
      sawBare: true
    })
  })

  it("emits subarrays of the input for clean lines", () => {
    const chunk = bytes("line one\r\nline two\r\n.\r\n")
    const out: Array<Uint8Array> = []
    const decoder = new DataDecoder()
    assert.strictEqual(decoder.decode(chunk, 0, out), chunk.length)
    assert.strictEqual(out.length, 1)
    assert.strictEqual(out[0]!.buffer, chunk.buffer)
    assert.strictEqual(text(out[0]!), "line one\r\nline two\r\n")
  })

  it("starts at the given index and returns indexes of the whole chunk", () => {
    const chunk = bytes("DATA\r\nbody\r\n.\r\nQUIT\r\n")
    const out: Array<Uint8Array> = []
    const decoder = new DataDecoder()
    assert.strictEqual(decoder.decode(chunk, 6, out), 15)
    assert.strictEqual(text(Buffer.concat(out)), "body\r\n")
    assert.isTrue(decoder.done)
  })

  it("consumes nothing once done and never throws on odd arguments", () => {
    const decoder = new DataDecoder()
    const out: Array<Uint8Array> = []
    assert.strictEqual(decoder.decode(bytes("x"), 5, out), -1)
    assert.strictEqual(decoder.decode(bytes("\r\n.\r\n"), Number.NaN, out), 5)
    assert.strictEqual(decoder.decode(bytes("more"), 1, out), 1)
    assert.strictEqual(text(Buffer.concat(out)), "\r\n")
    assert.strictEqual(decoder.byteLength, 2)
  })

  it("holds only a pending CR or dot between chunks", () => {
    const decoder = new DataDecoder()
    const out: Array<Uint8Array> = []
    for (const piece of ["a\r", "\n", ".", "\r", "\n"]) decoder.decode(bytes(piece), 0, out)
    assert.isTrue(decoder.done)
    assert.strictEqual(text(Buffer.concat(out)), "a\r\n")
  })

  const rich = fc.uint8Array({ maxLength: 80 }).map((u) => u.map((b) => [13, 10, 46, 0, 97, 0xff][b % 6]!))

  it("matches the reference and gives identical results for every split (property)", () => {
    fc.assert(
      fc.property(rich, fc.array(fc.nat(), { maxLength: 16 }), fc.constantFrom(...policies), (input, cuts, policy) => {
        const whole = decodeChunks([input], policy)
        assert.deepStrictEqual(whole, reference(input, policy))
        assert.deepStrictEqual(decodeChunks(splitAt(input, cuts), policy), whole)
      }),
      { numRuns: 20_000 }
    )
  })

  it("gives identical results when fed one byte at a time (property)", () => {
    fc.assert(
      fc.property(rich, fc.constantFrom(...policies), (input, policy) => {
        const oneByOne = Array.from(input, (_b, i) => input.subarray(i, i + 1))
        assert.deepStrictEqual(decodeChunks(oneByOne, policy), reference(input, policy))
      }),
      { numRuns: 10_000 }
    )
  })

  // Long bodies of mostly plain CRLF lines with the odd bare CR or LF, line-start dot or end
  // marker: what the 16-byte scan skips over, and where it has to stop.
  const plainLine = fc.stringMatching(/^[a-z .]{0,40}$/).map((line) => `${line}\r\n`)
  const oddity = fc.constantFrom("\r", "\n", ".", "..", ".\r", "\r\n.", "\r\n.\r\n", "\r\r\n", "\n.", "x\r\n.\rx")
  const longBody = fc.array(fc.oneof({ arbitrary: plainLine, weight: 12 }, { arbitrary: oddity, weight: 1 }), { maxLength: 120 })
    .map((parts) => bytes(parts.join("")))

  it("matches the reference on long bodies of CRLF lines, whole and split (property)", () => {
    fc.assert(
      fc.property(longBody, fc.array(fc.nat(), { maxLength: 8 }), fc.constantFrom(...policies), (input, cuts, policy) => {
        const whole = decodeChunks([input], policy)
        assert.deepStrictEqual(whole, reference(input, policy))
        assert.deepStrictEqual(decodeChunks(splitAt(input, cuts), policy), whole)
      }),
      { numRuns: 3_000 }
    )
  })

  it("finds an oddity at any offset of a chunk longer than the scan window", () => {
    const line = "The quick brown fox jumps over the lazy dog; 0123456789 abcdefghijklmnopqrstuv\r\n"
    const clean = line.repeat(2_000)
    // Around the 64 KiB window's end and a block's 16 bytes, and at the very end of the chunk.
    const offsets = [0, 1, 15, 16, 17, 65_500, 65_517, 65_518, 65_519, 65_520, 65_534, 65_535, 65_536, 65_537, 131_070]
    for (const at of offsets) {
      for (const oddity of ["\r", "\n", "\r\n.", "\r\n..", "\r\n.\r\n"]) {
        const input = bytes(clean.slice(0, at) + oddity + clean.slice(at) + ".\r\n")
        for (const policy of policies) {
          const expected = reference(input, policy)
          assert.deepStrictEqual(decodeChunks([input], policy), expected, `${JSON.stringify(oddity)} at ${at} under ${policy}`)
        }
      }
    }
  })

  it("round-trips any dot-stuffed body of CRLF lines (property)", () => {
    const lineText = fc.uint8Array({ maxLength: 12 }).map((u) =>
      Buffer.from(u.map((b) => [46, 46, 97, 0, 0xe9, 32][b % 6]!)).toString("latin1")
    )
    fc.assert(
      fc.property(
        fc.array(lineText, { maxLength: 10 }),
        fc.string({ maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.constantFrom(...policies),
        (lines, next, cuts, policy) => {
          const body = lines.map((line) => `${line}\r\n`).join("")
          const wire = dotStuff(lines) + ".\r\n"
          const input = Buffer.from(wire + next, "latin1")
          assert.deepStrictEqual(decodeChunks(splitAt(input, cuts), policy), {
            body,
            end: Buffer.byteLength(wire, "latin1"),
            done: true,
            byteLength: Buffer.byteLength(body, "latin1"),
            sawBare: false
          })
        }
      ),
      { numRuns: 20_000 }
    )
  })
})

import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Buffer } from "node:buffer"
import { LineFramer, NeedMore, TooLong } from "../../src/protocol/LineFramer.js"

type Item = string | typeof TooLong

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"))

// Feeds the chunks in order, draining the framer before each push, and collects every result.
const frame = (framer: LineFramer, chunks: ReadonlyArray<Uint8Array>): Array<Item> => {
  const results: Array<Item> = []
  for (const chunk of chunks) {
    framer.push(chunk)
    for (let r = framer.next(); r !== NeedMore; r = framer.next()) results.push(r)
  }
  return results
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

// The framing rules stated directly on the whole input: split at LF, strip one CR before it,
// too long when the content passes the limit; an unterminated tail counts once it is certain.
const model = (input: Uint8Array, max: number): Array<Item> => {
  const results: Array<Item> = []
  let from = 0
  for (let lf = input.indexOf(10); lf >= 0; lf = input.indexOf(10, from)) {
    const end = lf > from && input[lf - 1] === 13 ? lf - 1 : lf
    results.push(end - from > max ? TooLong : Buffer.from(input.subarray(from, end)).toString("utf8"))
    from = lf + 1
  }
  const tail = input.length - from - (input.length > from && input[input.length - 1] === 13 ? 1 : 0)
  if (tail > max) results.push(TooLong)
  return results
}

describe("LineFramer", () => {
  it.each([
    ["CRLF", ["EHLO a.test\r\nMAIL FROM:<a@b.test>\r\n"], ["EHLO a.test", "MAIL FROM:<a@b.test>"]],
    ["bare LF", ["NOOP\nQUIT\n"], ["NOOP", "QUIT"]],
    ["a CR split from its LF", ["NOOP\r", "\nQUIT\r", "\n"], ["NOOP", "QUIT"]],
    ["an empty line", ["\r\n\n"], ["", ""]],
    ["a CR inside the line is kept", ["NO\rOP\r\r\n"], ["NO\rOP\r"]],
    ["a line split in many chunks", ["MA", "IL ", "FROM:<a", "@b.test>", "\r\n"], ["MAIL FROM:<a@b.test>"]],
    ["UTF-8 split inside a character", [Buffer.from("RCPT TO:<Pelé@").subarray(0, 12), Buffer.from("RCPT TO:<Pelé@x.test>\r\n").subarray(12)], ["RCPT TO:<Pelé@x.test>"]]
  ])("frames %s", (_name, chunks, expected) => {
    const framer = new LineFramer()
    assert.deepStrictEqual(frame(framer, chunks.map((c) => typeof c === "string" ? bytes(c) : c)), expected)
    assert.isFalse(framer.hasInput)
  })

  it("returns NeedMore until a line is complete", () => {
    const framer = new LineFramer()
    assert.strictEqual(framer.next(), NeedMore)
    framer.push(bytes("NO"))
    assert.strictEqual(framer.next(), NeedMore)
    assert.isTrue(framer.hasInput)
    framer.push(bytes("OP\r\nQU"))
    assert.strictEqual(framer.next(), "NOOP")
    assert.isTrue(framer.hasInput)
    assert.strictEqual(framer.next(), NeedMore)
    assert.isTrue(framer.hasInput)
    assert.strictEqual(framer.bufferedBytes, 2)
  })

  it("accepts a line of exactly maxLength bytes and refuses one byte more", () => {
    const framer = new LineFramer(8)
    assert.deepStrictEqual(frame(framer, [bytes("12345678\r\n123456789\r\nNOOP\r\n")]), ["12345678", TooLong, "NOOP"])
    assert.deepStrictEqual(frame(framer, [bytes("12345678\r"), bytes("\n")]), ["12345678"])
    assert.deepStrictEqual(frame(framer, [bytes("12345678\r"), bytes("x\r\n")]), [TooLong])
  })

  it("answers TooLong as soon as the limit is crossed, then skips to the end of that line", () => {
    const framer = new LineFramer(4)
    framer.push(bytes("abcde"))
    assert.strictEqual(framer.next(), TooLong)
    assert.strictEqual(framer.next(), NeedMore)
    assert.strictEqual(framer.bufferedBytes, 0)
    assert.deepStrictEqual(frame(framer, [bytes("fgh"), bytes("ij\r\nQUIT\r\n")]), ["QUIT"])
  })

  it("uses a 2048-byte limit by default", () => {
    const framer = new LineFramer()
    assert.deepStrictEqual(frame(framer, [bytes(`${"a".repeat(2048)}\r\n${"a".repeat(2049)}\r\n`)]), ["a".repeat(2048), TooLong])
  })

  it("takeRemaining hands over the rest of the chunk without copying", () => {
    const framer = new LineFramer()
    const chunk = bytes("DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n")
    framer.push(chunk)
    assert.strictEqual(framer.next(), "DATA")
    const rest = framer.takeRemaining()
    assert.strictEqual(Buffer.from(rest!).toString("latin1"), "Subject: x\r\n\r\nbody\r\n.\r\n")
    assert.strictEqual(rest!.buffer, chunk.buffer)
    assert.isFalse(framer.hasInput)
    assert.strictEqual(framer.takeRemaining(), undefined)
    assert.strictEqual(framer.next(), NeedMore)
  })

  it("takeRemaining returns undefined when the line ended the chunk", () => {
    const framer = new LineFramer()
    framer.push(bytes("DATA\r\n"))
    assert.strictEqual(framer.next(), "DATA")
    assert.strictEqual(framer.takeRemaining(), undefined)
  })

  it("takeRemaining puts a buffered partial line (and its split CR) first", () => {
    const framer = new LineFramer()
    framer.push(bytes("BDAT 3\r"))
    assert.strictEqual(framer.next(), NeedMore)
    framer.push(bytes("xyz"))
    assert.strictEqual(Buffer.from(framer.takeRemaining()!).toString("latin1"), "BDAT 3\rxyz")
    assert.isFalse(framer.hasInput)
    assert.strictEqual(framer.bufferedBytes, 0)
  })

  it("clear drops pipelined lines and the partial line (RFC 3207 §4)", () => {
    const framer = new LineFramer()
    framer.push(bytes("STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT"))
    assert.strictEqual(framer.next(), "STARTTLS")
    framer.clear()
    assert.isFalse(framer.hasInput)
    assert.strictEqual(framer.next(), NeedMore)
    assert.deepStrictEqual(frame(framer, [bytes("EHLO a.test\r\n")]), ["EHLO a.test"])
  })

  it("keeps both chunks when push is called before the framer was drained", () => {
    const framer = new LineFramer()
    framer.push(bytes("NOOP\r\nQU"))
    framer.push(bytes("IT\r\n"))
    assert.strictEqual(framer.next(), "NOOP")
    assert.strictEqual(framer.next(), "QUIT")
    assert.strictEqual(framer.next(), NeedMore)
  })

  it("never throws on a nonsensical limit", () => {
    assert.strictEqual(new LineFramer(Number.NaN).maxLength, 2048)
    assert.strictEqual(new LineFramer(-1).maxLength, 2048)
    assert.deepStrictEqual(frame(new LineFramer(0), [bytes("\r\na\r\n")]), ["", TooLong])
  })

  it("keeps at most maxLength bytes and answers TooLong once for 100 MB without LF", () => {
    const max = 2048
    const framer = new LineFramer(max)
    const chunk = new Uint8Array(64 * 1024)
    for (let i = 0; i < chunk.length; i++) chunk[i] = i % 7 === 0 ? 13 : 33 + (i % 90)
    chunk[chunk.length - 1] = 13
    let tooLong = 0
    let lines = 0
    for (let sent = 0; sent < 100 * 1024 * 1024; sent += chunk.length) {
      framer.push(chunk)
      for (let r = framer.next(); r !== NeedMore; r = framer.next()) {
        if (r === TooLong) tooLong++
        else lines++
      }
      assert.isAtMost(framer.bufferedBytes, max)
    }
    assert.strictEqual(tooLong, 1)
    assert.strictEqual(lines, 0)
    assert.deepStrictEqual(frame(framer, [bytes("tail\r\nNOOP\r\n")]), ["NOOP"])
  })

  it("gives the same results for every split of the input (property)", () => {
    const max = 12
    const line = fc.record({
      content: fc.uint8Array({ minLength: 0, maxLength: max + 4 }).map((u) => u.map((b) => (b === 10 ? 13 : b))),
      crlf: fc.boolean()
    })
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 12 }),
        fc.uint8Array({ maxLength: max + 4 }).map((u) => u.map((b) => (b === 10 ? 32 : b))),
        fc.array(fc.nat(), { maxLength: 20 }),
        (lines, tail, cuts) => {
          const input = Buffer.concat([
            ...lines.map(({ content, crlf }) => Buffer.concat([content, Buffer.from(crlf ? "\r\n" : "\n")])),
            tail
          ])
          const whole = frame(new LineFramer(max), [input])
          assert.deepStrictEqual(whole, model(input, max))
          const framer = new LineFramer(max)
          assert.deepStrictEqual(frame(framer, splitAt(input, cuts)), whole)
          assert.isAtMost(framer.bufferedBytes, max)
        }
      ),
      { numRuns: 5000 }
    )
  })

  it("gives the same results when fed one byte at a time (property)", () => {
    const max = 6
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }).map((u) => u.map((b) => [10, 13, 97, 0xc3, 0xa9][b % 5]!)), (input) => {
        const oneByOne = Array.from(input, (_b, i) => input.subarray(i, i + 1))
        assert.deepStrictEqual(frame(new LineFramer(max), oneByOne), model(input, max))
      }),
      { numRuns: 5000 }
    )
  })
})

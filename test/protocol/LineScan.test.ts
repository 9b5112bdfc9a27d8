import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as LineScan from "../../src/protocol/LineScan.js"

// Where the decoders need a look at index k: a CR not followed by LF, an LF (at k + 1) not
// preceded by CR, or a dot after an LF (at k + 2).
const interesting = (b: Uint8Array, k: number): boolean =>
  (b[k] === 13) !== (b[k + 1] === 10) || (b[k + 1] === 10 && b[k + 2] === 46)

describe("LineScan", () => {
  const scanner = LineScan.make()

  it("is available on this runtime (WebAssembly SIMD)", () => {
    assert.isDefined(scanner)
  })

  // Plain CRLF lines with a rare CR, LF or dot anywhere; sometimes past the 64 KiB window.
  const input = fc.tuple(
    fc.integer({ min: 0, max: 400 }),
    fc.integer({ min: 1, max: 90 }),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom(13, 10, 46)), { maxLength: 3 }),
    fc.boolean()
  ).map(([lines, lineLength, oddities, big]) => {
    const line = Buffer.from(`${"x".repeat(lineLength - 1)}\r\n`.slice(-Math.max(lineLength, 2)))
    const bytes = Buffer.alloc((big ? lines * 4 : lines) * line.length)
    for (let at = 0; at + line.length <= bytes.length; at += line.length) line.copy(bytes, at)
    for (const [at, byte] of oddities) if (bytes.length > 0) bytes[at % bytes.length] = byte
    return bytes
  })

  it("stops at or before the first place that needs a look, and within 16 bytes of it (property)", () => {
    fc.assert(
      fc.property(input, fc.nat(), (bytes, from) => {
        const start = bytes.length === 0 ? 0 : from % bytes.length
        scanner!.begin(bytes)
        const stop = scanner!.skip(start)
        let first = -1
        for (let k = start; k + 2 < bytes.length; k++) {
          if (interesting(bytes, k)) {
            first = k
            break
          }
        }
        assert.isAtLeast(stop, start)
        assert.isAtMost(stop, bytes.length)
        if (first >= 0) assert.isAtMost(stop, first)
        // It gives up only near the end of the input, or in the block holding the place.
        if (first >= 0) assert.isTrue(first - stop < 16 || stop + 18 > bytes.length)
        else assert.isTrue(stop + 18 > bytes.length)
      }),
      { numRuns: 2_000 }
    )
  })
})

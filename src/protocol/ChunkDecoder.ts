/**
 * The BDAT body decoder (RFC 3030 §2): chunk content is octets counted by the BDAT command,
 * with no dot-stuffing and no end marker. What remains is the bare-line-ending policy of DATA,
 * applied across chunk boundaries, unless the body is BINARYMIME, where every octet is content.
 */
import { Buffer } from "node:buffer"
import type { BareLineEndings } from "./DataDecoder.js"
import * as LineScan from "./LineScan.js"

const CR = 13
const LF = 10

// Shared read-only pieces for bytes that were not in the chunk being decoded.
const crlfBytes = Uint8Array.of(CR, LF)
const lfBytes = Uint8Array.of(LF)

// As in the DATA decoder: plain CRLF lines are passed over 16 bytes at a time, and after a scan
// that stopped soon the indexOf search takes over for a while.
const scanner = LineScan.make()
const shortScan = 256
const rescanAfter = 1024

/** Decodes the content of the BDAT chunks of one message, keeping O(1) state; output pieces are views of the input where possible. */
export class ChunkDecoder {
  /** The policy for bare CR and bare LF; ignored for a binary body. */
  readonly bareLineEndings: BareLineEndings
  /** True for BODY=BINARYMIME (RFC 3030 §3): content passes verbatim whatever the policy. */
  readonly binary: boolean
  private length = 0
  private sawBare = false
  // The last octet decoded was a CR (already emitted): CRLF or bare depends on the next octet.
  private afterCR = false

  constructor(bareLineEndings: BareLineEndings = "normalize", binary = false) {
    this.bareLineEndings = bareLineEndings
    this.binary = binary
  }

  /** Body bytes emitted so far (after normalising). */
  get byteLength(): number {
    return this.length
  }

  /** True once a bare CR or bare LF was seen; tracked only under the "reject" and "normalize" policies of a non-binary body. */
  get sawBareLineEnding(): boolean {
    return this.sawBare
  }

  /** Decodes all of `bytes` (the next octets of chunk content), appending body pieces (read-only; subarrays where possible) to `out`. */
  decode(bytes: Uint8Array, out: Array<Uint8Array>): void {
    const len = bytes.length
    if (len === 0) return
    if (this.binary || this.bareLineEndings === "pass") {
      // Binary-safe fast path: nothing to look at, nothing copied.
      out.push(bytes)
      this.length += len
      return
    }
    const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    // RFC 5321 §2.3.8: a bare CR or LF becomes CRLF ("normalize") or refuses the message
    // ("reject", the caller's decision); "reject" needs detection only, never rewriting.
    const normalize = this.bareLineEndings === "normalize"
    let emitted = this.length
    let run = 0
    let i = 0
    if (this.afterCR) {
      this.afterCR = false
      if (buffer[0] === LF) {
        i = 1
      } else {
        this.sawBare = true
        if (normalize) {
          out.push(lfBytes)
          emitted += 1
        }
      }
    }
    let nextCR = -1
    let nextLF = -1
    let scanFrom = scanner === undefined ? len : i
    scanner?.begin(buffer)
    while (i < len) {
      // An LF here would be bare, which the scanner does not look for at its start.
      if (i >= scanFrom && buffer[i] !== LF) {
        const j = scanner!.skip(i)
        if (j - i < shortScan) scanFrom = j + rescanAfter
        // Bytes [i, j) hold only CRLF pairs; an LF at j ends the CRLF before it. (A line-start
        // dot, which means nothing in BDAT, merely stops the scan.)
        if (j > i) i = buffer[j] === LF ? j + 1 : j
        if (i >= len) break
      }
      if (nextCR < i) {
        nextCR = buffer.indexOf(CR, i)
        if (nextCR < 0) nextCR = len
      }
      if (nextLF < i) {
        nextLF = buffer.indexOf(LF, i)
        if (nextLF < 0) nextLF = len
      }
      if (nextLF < nextCR) {
        // An LF with no CR right before it (that CR would have been found first).
        this.sawBare = true
        if (normalize) {
          if (nextLF > run) out.push(buffer.subarray(run, nextLF))
          out.push(crlfBytes)
          emitted += nextLF - run + 2
          run = nextLF + 1
        }
        i = nextLF + 1
      } else if (nextCR < len) {
        i = nextCR + 1
        if (i === len) {
          this.afterCR = true
        } else if (buffer[i] === LF) {
          i++
        } else {
          this.sawBare = true
          if (normalize) {
            out.push(buffer.subarray(run, i))
            out.push(lfBytes)
            emitted += i - run + 1
            run = i
          }
        }
      } else {
        i = len
      }
      if (this.sawBare && !normalize) break
    }
    if (len > run) out.push(run === 0 ? bytes : buffer.subarray(run, len))
    this.length = emitted + (len - run)
  }

  /** Ends the body: a CR that was the very last octet is bare. Appends what that adds to `out`. */
  end(out: Array<Uint8Array>): void {
    if (!this.afterCR) return
    this.afterCR = false
    this.sawBare = true
    if (this.bareLineEndings === "normalize") {
      out.push(lfBytes)
      this.length += 1
    }
  }
}

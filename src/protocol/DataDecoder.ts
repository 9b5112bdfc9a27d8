/**
 * The DATA body decoder: end-of-data detection and dot-unstuffing (RFC 5321 §4.1.1.4, §4.5.2)
 * over socket chunks, with the SMTP smuggling defence (only CRLF.CRLF ends a message).
 */
import { Buffer } from "node:buffer"
import * as LineScan from "./LineScan.js"

/** What to do with a CR or LF that is not part of a CRLF pair inside DATA (SMTP smuggling defence). */
export type BareLineEndings = "reject" | "normalize" | "pass"

const CR = 13
const LF = 10
const DOT = 46

// Between chunks the decoder remembers only where it is in the line grammar.
const enum State {
  // Just after CRLF (or at the start of the body): a dot here is special.
  LineStart,
  InLine,
  // A CR was the last byte of the previous chunk (already emitted); is it CRLF or bare?
  AfterCR,
  // A line-start dot, dropped: either stuffing or the start of the end-of-data marker.
  AfterDot,
  // Line-start dot then CR (withheld): one LF more is the end of data.
  AfterDotCR,
  Done
}

// Shared read-only pieces for bytes that were not in the chunk being decoded.
const crlfBytes = Uint8Array.of(CR, LF)
const crBytes = Uint8Array.of(CR)
const lfBytes = Uint8Array.of(LF)

// Shared by every decoder: decoding is synchronous, and each call starts the scanner on its chunk.
const scanner = LineScan.make()
// After a scan that found something within this many bytes, the indexOf search takes over for a
// while (`rescanAfter` bytes), so a body dense with bare line endings or dots costs no more.
const shortScan = 256
const rescanAfter = 1024

/** Decodes a DATA body chunk by chunk, keeping O(1) state; output pieces are views of the input where possible. */
export class DataDecoder {
  /** The policy for bare CR and bare LF. */
  readonly bareLineEndings: BareLineEndings
  private state: State = State.LineStart
  private length = 0
  private sawBare = false

  constructor(bareLineEndings: BareLineEndings = "normalize") {
    this.bareLineEndings = bareLineEndings
  }

  /** True once the end-of-data marker `CRLF.CRLF` was consumed. */
  get done(): boolean {
    return this.state === State.Done
  }

  /** Body bytes emitted so far (after unstuffing/normalising). */
  get byteLength(): number {
    return this.length
  }

  /** True once any bare CR or bare LF was seen (whatever the policy). */
  get sawBareLineEnding(): boolean {
    return this.sawBare
  }

  /**
   * Decodes `chunk` from `start`, appending body pieces (read-only; subarrays of `chunk` where
   * possible) to `out`. Returns the index just past the end-of-data marker's LF when found (the
   * rest of the chunk is the next command), or -1 when the whole chunk was consumed. Once done
   * it consumes nothing and returns `start`.
   */
  decode(chunk: Uint8Array, start: number, out: Array<Uint8Array>): number {
    let state = this.state
    if (state === State.Done) return start
    const len = chunk.length
    let i = start > 0 ? Math.floor(start) : 0
    if (!(i < len)) return -1
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    // RFC 5321 §2.3.8 / Postfix 3.9 smtpd_forbid_bare_newline=normalize: a bare CR or LF
    // becomes CRLF in what is delivered, but never counts as a line end for the grammar.
    const normalize = this.bareLineEndings === "normalize"
    let emitted = this.length
    // Bytes [run, i) are body bytes not yet appended to `out`.
    let run = i
    // Next CR / LF at or after i, or len when none; recomputed only once passed.
    let nextCR = -1
    let nextLF = -1
    // The scanner passes over plain CRLF lines; it is next asked at this index.
    let scanFrom = scanner === undefined ? len : i
    scanner?.begin(chunk)
    while (i < len) {
      if (state === State.InLine) {
        // An LF here would be bare, which the scanner does not look for at its start.
        if (i >= scanFrom && bytes[i] !== LF) {
          const j = scanner!.skip(i)
          if (j - i < shortScan) scanFrom = j + rescanAfter
          if (j > i) {
            // Bytes [i, j) hold only CRLF pairs and no line starting with a dot: nothing to do. An
            // LF at j ends the CRLF before it.
            if (bytes[j] === LF) {
              i = j + 1
              state = State.LineStart
              continue
            }
            i = j
          }
        }
        if (nextCR < i) {
          nextCR = bytes.indexOf(CR, i)
          if (nextCR < 0) nextCR = len
        }
        if (nextLF < i) {
          nextLF = bytes.indexOf(LF, i)
          if (nextLF < 0) nextLF = len
        }
        if (nextCR < nextLF) {
          i = nextCR + 1
          if (i === len) {
            state = State.AfterCR
          } else if (bytes[i] === LF) {
            i++
            state = State.LineStart
          } else {
            this.sawBare = true
            if (normalize) {
              if (i > run) out.push(chunk.subarray(run, i))
              out.push(lfBytes)
              emitted += i - run + 1
              run = i
            }
          }
        } else if (nextLF < len) {
          // An LF not preceded by CR (a preceding CR would have been found first).
          this.sawBare = true
          if (normalize) {
            if (nextLF > run) out.push(chunk.subarray(run, nextLF))
            out.push(crlfBytes)
            emitted += nextLF - run + 2
            run = nextLF + 1
          }
          i = nextLF + 1
        } else {
          i = len
        }
        continue
      }
      const b = bytes[i]
      switch (state) {
        case State.LineStart: {
          if (b === DOT) {
            // RFC 5321 §4.5.2: the first dot of a line is always removed; it is either
            // transparency stuffing or the start of the end-of-data marker.
            if (i > run) out.push(chunk.subarray(run, i))
            emitted += i - run
            run = ++i
            state = State.AfterDot
          } else {
            state = State.InLine
          }
          break
        }
        case State.AfterCR: {
          if (b === LF) {
            i++
            state = State.LineStart
          } else {
            this.sawBare = true
            if (normalize) {
              out.push(lfBytes)
              emitted += 1
            }
            state = State.InLine
          }
          break
        }
        case State.AfterDot: {
          if (b === CR) {
            run = ++i
            state = State.AfterDotCR
          } else {
            // A bare LF after the dot is handled as bare in InLine; anything else is content.
            state = State.InLine
          }
          break
        }
        case State.AfterDotCR: {
          if (b === LF) {
            // RFC 5321 §4.1.1.4: CRLF.CRLF is the only end of data. The first CRLF was
            // emitted as the body's last line ending; the rest belongs to the next command.
            this.state = State.Done
            this.length = emitted
            return i + 1
          }
          // SMTP smuggling (CVE-2023-51764): ".\r" then anything but LF is not an end; the
          // dot was stuffing and the CR is bare, and no new line starts after it.
          this.sawBare = true
          out.push(normalize ? crlfBytes : crBytes)
          emitted += normalize ? 2 : 1
          state = State.InLine
          break
        }
      }
    }
    if (len > run) out.push(chunk.subarray(run, len))
    this.length = emitted + (len - run)
    this.state = state
    return -1
  }
}

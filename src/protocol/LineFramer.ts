/**
 * Command-mode framing: turns socket chunks into command lines with a hard length limit.
 * The connection owns one framer; it is the only place command-mode input bytes are kept.
 */
import { Buffer } from "node:buffer"

/** `next()` needs another chunk before it can say more; a symbol so it can never equal a line. */
export const NeedMore: unique symbol = Symbol.for("effect-smtp/LineFramer/NeedMore")

/** `next()` found a line longer than the limit (reply 500 5.5.2); the rest of that line is skipped. */
export const TooLong: unique symbol = Symbol.for("effect-smtp/LineFramer/TooLong")

/** What `next()` returns: a line (terminator stripped), `TooLong` or `NeedMore`. */
export type Result = string | typeof TooLong | typeof NeedMore

const CR = 13
const LF = 10

// RFC 5321 §4.5.3.1.4 allows 512 octets per command line; 2048 leaves room for ESMTP
// parameters (SMTPUTF8 addresses, long AUTH lines) as smtp-server and Postfix do.
const defaultMaxLength = 2048

const asBuffer = (u8: Uint8Array): Buffer =>
  Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)

/** Splits socket input into command lines of at most `maxLength` content bytes, with bounded memory. */
export class LineFramer {
  /** Maximum bytes of a line's content, terminator excluded. */
  readonly maxLength: number
  // The chunk being framed (a view of the caller's bytes, never copied) and the read position.
  private chunk: Buffer | undefined = undefined
  private pos = 0
  // A line split across chunks: its first `partialLength` bytes, copied into a buffer of
  // exactly `maxLength` bytes allocated once. A CR ending a chunk is held as a flag rather
  // than a byte, so a line of exactly `maxLength` bytes plus a split CRLF still fits.
  private partial: Buffer | undefined = undefined
  private partialLength = 0
  private partialCR = false
  // After TooLong: the rest of the over-long line is skipped up to its LF, never buffered.
  private discarding = false

  constructor(maxLength: number = defaultMaxLength) {
    this.maxLength = Number.isFinite(maxLength) && maxLength >= 0 ? Math.floor(maxLength) : defaultMaxLength
  }

  /** Hands the framer the next chunk read from the socket; call it when `next()` returned `NeedMore`. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    const held = this.chunk
    if (held !== undefined && this.pos < held.length) {
      // Called before the previous chunk was drained: keep both rather than lose input.
      this.chunk = Buffer.concat([held.subarray(this.pos), chunk])
    } else {
      this.chunk = asBuffer(chunk)
    }
    this.pos = 0
  }

  /** The next complete line as a string (UTF-8 decoded, CRLF or bare LF stripped), `TooLong`, or `NeedMore`. */
  next(): Result {
    const chunk = this.chunk
    if (chunk === undefined) return NeedMore
    const len = chunk.length
    let pos = this.pos
    if (this.discarding) {
      const lf = chunk.indexOf(LF, pos)
      if (lf < 0) {
        this.chunk = undefined
        return NeedMore
      }
      this.discarding = false
      pos = lf + 1
    }
    if (pos >= len) {
      this.chunk = undefined
      return NeedMore
    }
    const max = this.maxLength
    const lf = chunk.indexOf(LF, pos)
    if (lf >= 0) {
      this.pos = lf + 1
      if (lf + 1 >= len) this.chunk = undefined
      // Lenient as smtp-server and Postfix are for commands: a bare LF ends the line too, and
      // only a CR right before the LF is part of the terminator.
      if (this.partialLength === 0 && !this.partialCR) {
        const end = lf > pos && chunk[lf - 1] === CR ? lf - 1 : lf
        return end - pos > max ? TooLong : chunk.toString("utf8", pos, end)
      }
      return this.joinLine(chunk, pos, lf)
    }
    // No LF in the rest of this chunk: the line continues in a later one.
    this.chunk = undefined
    const trailingCR = chunk[len - 1] === CR
    const held = this.partialLength + (this.partialCR ? 1 : 0) + (len - pos) - (trailingCR ? 1 : 0)
    if (held > max) {
      // The bytes already seen exceed the limit whatever follows: answer now (RFC 5321
      // §4.5.3.1.4 limit, §4.2.2 "500 line too long") and skip the rest without keeping it.
      this.resetPartial()
      this.discarding = true
      return TooLong
    }
    const buffer = this.partialBuffer()
    if (this.partialCR) buffer[this.partialLength++] = CR
    this.partialLength += chunk.copy(buffer, this.partialLength, pos, trailingCR ? len - 1 : len)
    this.partialCR = trailingCR
    return NeedMore
  }

  /** Takes the unconsumed input (to switch to DATA/BDAT body mode mid-chunk) and empties the framer; undefined when none. */
  takeRemaining(): Uint8Array | undefined {
    const chunk = this.chunk
    let rest: Uint8Array | undefined = undefined
    if (chunk !== undefined) {
      let pos = this.pos
      if (this.discarding) {
        // The tail of a line already refused as too long is neither a command nor body.
        const lf = chunk.indexOf(LF, pos)
        pos = lf < 0 ? chunk.length : lf + 1
      }
      if (pos < chunk.length) rest = chunk.subarray(pos)
    }
    if (this.partialLength > 0 || this.partialCR) {
      // Fails safe when a partial line is buffered: its bytes go first (bounded by maxLength).
      const head = this.partialBuffer().subarray(0, this.partialLength)
      const pieces: Array<Uint8Array> = this.partialCR ? [head, crByte] : [head]
      if (rest !== undefined) pieces.push(rest)
      rest = Buffer.concat(pieces)
    }
    this.clear()
    return rest
  }

  /** Drops everything buffered, partial line included (RFC 3207 §4: nothing pipelined before STARTTLS may run after it). */
  clear(): void {
    this.chunk = undefined
    this.pos = 0
    this.resetPartial()
    this.discarding = false
  }

  /** True while unconsumed bytes are held (a complete line may still be waiting). */
  get hasInput(): boolean {
    return (this.chunk !== undefined && this.pos < this.chunk.length) || this.partialLength > 0 || this.partialCR
  }

  /** Bytes of a partial line copied into the framer's own buffer; never more than `maxLength`. */
  get bufferedBytes(): number {
    return this.partialLength
  }

  // Completes a line whose start is buffered: copies the tail into the partial buffer (it
  // fits, or the line is too long and nothing is copied) and decodes once.
  private joinLine(chunk: Buffer, pos: number, lf: number): Result {
    let end = lf
    let crBefore = this.partialCR
    if (lf > pos) {
      if (chunk[lf - 1] === CR) end = lf - 1
    } else if (crBefore) {
      // The CR ending the previous chunk and this LF form the CRLF terminator.
      crBefore = false
    }
    const length = this.partialLength + (crBefore ? 1 : 0) + (end - pos)
    if (length > this.maxLength) {
      this.resetPartial()
      return TooLong
    }
    const buffer = this.partialBuffer()
    let at = this.partialLength
    if (crBefore) buffer[at++] = CR
    chunk.copy(buffer, at, pos, end)
    this.resetPartial()
    return buffer.toString("utf8", 0, length)
  }

  private partialBuffer(): Buffer {
    return (this.partial ??= Buffer.allocUnsafe(this.maxLength))
  }

  private resetPartial(): void {
    this.partialLength = 0
    this.partialCR = false
  }
}

const crByte = Uint8Array.of(CR)

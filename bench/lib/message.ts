/**
 * Message bodies of an exact size for the load generator: a few header lines, then 80-byte text
 * lines (no line starts with a dot, so the size on the wire is the size of the message), then
 * the end-of-data marker. Large bodies are a repeated block, never one huge buffer.
 */

const header = "From: <sender@example.test>\r\nTo: <rcpt@example.test>\r\nSubject: effect-smtp benchmark\r\n" +
  "Message-ID: <bench@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
const line = "The quick brown fox jumps over the lazy dog; 0123456789 abcdefghijklmnopqrstuv\r\n"
const lineLength = line.length // 80
const blockLines = 13_107 // 1,048,560 bytes: just under 1 MiB
const endOfData = Buffer.from(".\r\n")

/** The body of one message as the chunks to write (end-of-data marker included). */
export interface Body {
  /** Message bytes, without the end-of-data marker. */
  readonly bytes: number
  readonly chunks: ReadonlyArray<Buffer>
}

// Filler text of `n` bytes ending in CRLF (n >= 2): whole lines, then one shorter line.
const filler = (n: number): string => {
  const whole = Math.floor(n / lineLength)
  const rest = n - whole * lineLength
  if (rest === 0) return line.repeat(whole)
  if (rest === 1) return line.repeat(whole - 1) + "x".repeat(lineLength - 1) + "\r\n"
  return line.repeat(whole) + "x".repeat(rest - 2) + "\r\n"
}

/** Builds a message of exactly `size` bytes (at least the header's size). */
export const make = (size: number): Body => {
  const rest = size - header.length
  if (rest < 2) throw new RangeError(`message size ${size} is smaller than its header`)
  const blockBytes = blockLines * lineLength
  if (rest <= 4 * blockBytes) {
    return { bytes: size, chunks: [Buffer.concat([Buffer.from(header + filler(rest)), endOfData])] }
  }
  const block = Buffer.from(line.repeat(blockLines))
  const blocks = Math.floor(rest / blockBytes) - 1
  const tail = rest - blocks * blockBytes
  const chunks: Array<Buffer> = [Buffer.from(header)]
  for (let i = 0; i < blocks; i++) chunks.push(block)
  chunks.push(Buffer.concat([Buffer.from(filler(tail)), endOfData]))
  return { bytes: size, chunks }
}

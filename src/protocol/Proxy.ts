/**
 * The HAProxy PROXY protocol header (versions 1 and 2) that a trusted proxy sends before any
 * SMTP byte, naming the client it accepted. Parsing looks at a prefix of the input and says
 * "need more", "a header of N bytes" or "invalid"; it never needs more than `maxHeaderLength`
 * bytes to decide, so a reader never buffers more than that plus one chunk.
 */
import * as Ip from "./Ip.js"

/** One end of the proxied connection. */
export interface Endpoint {
  readonly address: string
  readonly port: number
}

/** What a prefix of the input holds. */
export type Result =
  | { readonly _tag: "NeedMore" }
  | {
    readonly _tag: "Header"
    readonly version: 1 | 2
    /** Bytes the header takes; what follows is the SMTP stream. */
    readonly length: number
    /**
     * The client and the address it connected to; undefined when the header carries none
     * (v1 UNKNOWN, v2 LOCAL, UNSPEC or UNIX): the connection's own addresses then stand.
     */
    readonly source: Endpoint | undefined
    readonly destination: Endpoint | undefined
  }
  | { readonly _tag: "Invalid"; readonly reason: string }

/** The v1 line is at most 107 bytes, CRLF included (the specification's §2.1 worst case). */
export const maxV1Length = 107

/**
 * The largest v2 address-and-TLV block accepted. The specification fixes no limit (the length
 * field allows 65535); this leaves room for a UNIX address block (216 bytes) or an IPv6 one with
 * the TLVs HAProxy sends (ALPN, authority, unique id, SSL details), and refuses anything larger.
 */
export const maxV2Body = 1024

/** The most bytes `parse` needs before it decides. */
export const maxHeaderLength = 16 + maxV2Body

const needMore: Result = { _tag: "NeedMore" }
const invalid = (reason: string): Result => ({ _tag: "Invalid", reason })

const v1Prefix = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20] // "PROXY "
const v2Signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]
const CR = 0x0d
const LF = 0x0a
const port = /^(?:0|[1-9]\d{0,4})$/

/** Parses the header at the start of `input`; never throws, whatever the bytes. */
export const parse = (input: Uint8Array): Result => {
  if (input.length === 0) return needMore
  if (input[0] === v2Signature[0]) return parseV2(input)
  if (input[0] === v1Prefix[0]) return parseV1(input)
  return invalid("not a PROXY protocol header")
}

// Compares what has arrived of a fixed prefix; "need more" while it could still match.
const matchesPrefix = (input: Uint8Array, prefix: ReadonlyArray<number>): boolean => {
  const n = Math.min(input.length, prefix.length)
  for (let i = 0; i < n; i++) if (input[i] !== prefix[i]) return false
  return true
}

// "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF, or "PROXY UNKNOWN" ... CRLF.
const parseV1 = (input: Uint8Array): Result => {
  if (!matchesPrefix(input, v1Prefix)) return invalid("not a PROXY protocol header")
  const limit = Math.min(input.length, maxV1Length)
  let lf = -1
  for (let i = 0; i < limit; i++) {
    const c = input[i]!
    if (c === LF) {
      lf = i
      break
    }
    // Printable ASCII only, CR only right before LF: garbage is refused at once, not after 107 bytes.
    if ((c < 0x20 || c > 0x7e) && !(c === CR && (i + 1 >= input.length || input[i + 1] === LF))) {
      return invalid("v1 header has a control character")
    }
  }
  if (lf < 0) return input.length >= maxV1Length ? invalid("v1 header longer than 107 bytes") : needMore
  if (lf === 0 || input[lf - 1] !== CR) return invalid("v1 header does not end with CRLF")
  let line = ""
  for (let i = 0; i < lf - 1; i++) line += String.fromCharCode(input[i]!)
  const parts = line.split(" ")
  const length = lf + 1
  // §2.1: with UNKNOWN the rest of the line is ignored and the connection's addresses stand.
  if (parts[1] === "UNKNOWN") return { _tag: "Header", version: 1, length, source: undefined, destination: undefined }
  if (parts[1] !== "TCP4" && parts[1] !== "TCP6") return invalid("v1 header names no known protocol")
  if (parts.length !== 6) return invalid("v1 header has the wrong number of fields")
  const isFamily = parts[1] === "TCP4" ? Ip.isIPv4 : Ip.isIPv6
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string]
  if (!isFamily(src) || !isFamily(dst)) return invalid("v1 header has an invalid address")
  if (!validPort(sport) || !validPort(dport)) return invalid("v1 header has an invalid port")
  return {
    _tag: "Header",
    version: 1,
    length,
    source: { address: Ip.normalize(src), port: Number(sport) },
    destination: { address: Ip.normalize(dst), port: Number(dport) }
  }
}

const validPort = (text: string): boolean => port.test(text) && Number(text) <= 65535

// 12-byte signature, version/command, family/transport, 16-bit length, then addresses and TLVs.
const parseV2 = (input: Uint8Array): Result => {
  if (!matchesPrefix(input, v2Signature)) return invalid("not a PROXY protocol header")
  if (input.length < 16) return needMore
  const versionCommand = input[12]!
  if (versionCommand >> 4 !== 2) return invalid("v2 header has an unknown version")
  const command = versionCommand & 0x0f
  if (command > 1) return invalid("v2 header has an unknown command")
  const family = input[13]! >> 4
  const transport = input[13]! & 0x0f
  if (family > 3 || transport > 2) return invalid("v2 header has an unknown address family or transport")
  const bodyLength = (input[14]! << 8) | input[15]!
  if (bodyLength > maxV2Body) return invalid(`v2 header longer than ${16 + maxV2Body} bytes`)
  const length = 16 + bodyLength
  if (input.length < length) return needMore
  const none: Result = { _tag: "Header", version: 2, length, source: undefined, destination: undefined }
  // LOCAL: the proxy's own connection (a health check); UNSPEC: the proxy does not know. Either
  // way the block is skipped unread and the connection's addresses stand.
  if (command === 0 || family === 0) return none
  if (transport !== 1) return invalid("v2 header is not for a stream connection")
  const addressLength = family === 1 ? 12 : family === 2 ? 36 : 216
  if (bodyLength < addressLength) return invalid("v2 header is too short for its addresses")
  if (!validTlvs(input, 16 + addressLength, length)) return invalid("v2 header has a malformed TLV")
  // A UNIX socket has no address a session could show.
  if (family === 3) return none
  const size = family === 1 ? 4 : 16
  const ports = 16 + 2 * size
  return {
    _tag: "Header",
    version: 2,
    length,
    source: { address: Ip.fromBytes(input, 16, size), port: (input[ports]! << 8) | input[ports + 1]! },
    destination: { address: Ip.fromBytes(input, 16 + size, size), port: (input[ports + 2]! << 8) | input[ports + 3]! }
  }
}

// TLVs (type, 16-bit length, value) are skipped, but each must fit inside the header.
const validTlvs = (input: Uint8Array, start: number, end: number): boolean => {
  let pos = start
  while (pos < end) {
    if (pos + 3 > end) return false
    pos += 3 + ((input[pos + 1]! << 8) | input[pos + 2]!)
  }
  return pos === end
}

/**
 * Reads a header from successive chunks, holding at most `maxHeaderLength` bytes between them.
 * After a `Header` result, `rest` holds the bytes that followed it in the same chunk.
 */
export class HeaderReader {
  private held: Uint8Array | undefined
  /** Input after the header, for the SMTP framer; undefined when the header ended its chunk. */
  rest: Uint8Array | undefined

  /** Adds the next chunk and says what the input holds now. */
  push(chunk: Uint8Array): Result {
    const input = this.held === undefined ? chunk : concat(this.held, chunk)
    const result = parse(input)
    // "Need more" is only said below maxHeaderLength bytes, so what is held stays bounded.
    this.held = result._tag === "NeedMore" ? input : undefined
    if (result._tag === "Header" && result.length < input.length) this.rest = input.subarray(result.length)
    return result
  }
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

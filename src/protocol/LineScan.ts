/**
 * A 16-bytes-at-a-time scan for the few places in a text body where the line grammar needs a
 * closer look: a CR not followed by LF, an LF not preceded by CR, or a dot that starts a line
 * (RFC 5321 §4.5.2). Everything before such a place is plain CRLF-terminated text that the DATA
 * and BDAT decoders pass on untouched. `Buffer.indexOf` costs a native call per CR and per LF,
 * two per line; this costs one copy and one WebAssembly SIMD loop per socket chunk. Where
 * WebAssembly SIMD is unavailable, `make` returns undefined and the decoders search as before.
 */

// The module, written out instruction by instruction (WebAssembly core spec §5, SIMD §5.4.8):
//
//   (import "m" "m" (memory 1))
//   (func (export "s") (param $p i32) (param $end i32) (result i32) (local $cr v128) (local $lf v128)
//     (loop $next
//       ;; the block [p, p+16) must fit before end (end leaves two bytes of look-ahead)
//       (if (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)) (then (return (local.get $p))))
//       (local.set $cr (i8x16.eq (v128.load offset=0 (local.get $p)) (v128.const i8x16 13 ...)))
//       (local.set $lf (i8x16.eq (v128.load offset=1 (local.get $p)) (v128.const i8x16 10 ...)))
//       ;; CR at k without LF at k+1, or LF at k+1 without CR at k; or LF at k+1 then "." at k+2
//       (if (v128.any_true (v128.or (v128.xor (local.get $cr) (local.get $lf))
//             (v128.and (local.get $lf) (i8x16.eq (v128.load offset=2 (local.get $p)) (v128.const i8x16 46 ...)))))
//         (then (return (local.get $p))))
//       (local.set $p (i32.add (local.get $p) (i32.const 16)))
//       (br $next))
//     (local.get $p))
const localGet = (index: number) => [0x20, index]
const localSet = (index: number) => [0x21, index]
const i32Const16 = [0x41, 16]
const i32Add = [0x6a]
const i32GtU = [0x4b]
const ifVoid = [0x04, 0x40]
const loopVoid = [0x03, 0x40]
const end = [0x0b]
const ret = [0x0f]
const br = (depth: number) => [0x0c, depth]
const v128Load = (offset: number) => [0xfd, 0x00, 0x00, offset] // memarg: alignment 1 byte, offset
const v128Splat = (byte: number) => [0xfd, 0x0c, ...new Array<number>(16).fill(byte)]
const i8x16Eq = [0xfd, 0x23]
const v128And = [0xfd, 0x4e]
const v128Or = [0xfd, 0x50]
const v128Xor = [0xfd, 0x51]
const v128AnyTrue = [0xfd, 0x53]
const P = 0
const END = 1
const CR_MASK = 2
const LF_MASK = 3

const body = [
  0x01, 0x02, 0x7b, // two v128 locals
  ...loopVoid,
  ...localGet(P), ...i32Const16, ...i32Add, ...localGet(END), ...i32GtU, ...ifVoid, ...localGet(P), ...ret, ...end,
  ...localGet(P), ...v128Load(0), ...v128Splat(13), ...i8x16Eq, ...localSet(CR_MASK),
  ...localGet(P), ...v128Load(1), ...v128Splat(10), ...i8x16Eq, ...localSet(LF_MASK),
  ...localGet(CR_MASK), ...localGet(LF_MASK), ...v128Xor,
  ...localGet(LF_MASK), ...localGet(P), ...v128Load(2), ...v128Splat(46), ...i8x16Eq, ...v128And,
  ...v128Or, ...v128AnyTrue, ...ifVoid, ...localGet(P), ...ret, ...end,
  ...localGet(P), ...i32Const16, ...i32Add, ...localSet(P),
  ...br(0),
  ...end,
  ...localGet(P),
  ...end
]

const section = (id: number, content: Array<number>) => [id, ...leb(content.length), ...content]
const leb = (n: number): Array<number> => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...leb(n >>> 7)])

const moduleBytes = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]), // type (i32, i32) -> i32
  ...section(2, [0x01, 0x01, 0x6d, 0x01, 0x6d, 0x02, 0x00, 0x01]), // import memory "m" "m", 1 page
  ...section(3, [0x01, 0x00]), // one function of type 0
  ...section(7, [0x01, 0x01, 0x73, 0x00, 0x00]), // export it as "s"
  ...section(10, [0x01, ...leb(body.length), ...body])
])

// One page: a socket chunk (at most 64 KiB from Node) is copied whole; a longer input in windows.
const windowBytes = 65536

/** Finds where a text chunk stops being plain CRLF lines; one per process (decoding is synchronous). */
export class Scanner {
  private readonly memory: Uint8Array
  private readonly scan: (p: number, end: number) => number
  private chunk: Uint8Array | undefined = undefined
  // The window: chunk[base, base + size) is in memory.
  private base = 0
  private size = 0

  constructor(memory: WebAssembly.Memory, scan: (p: number, end: number) => number) {
    this.memory = new Uint8Array(memory.buffer)
    this.scan = scan
  }

  /** Starts on a new chunk (its bytes are copied lazily, at the first `skip`). */
  begin(chunk: Uint8Array): void {
    this.chunk = chunk
    this.size = 0
  }

  /**
   * The first index at or after `i` in the current chunk where a CR is not followed by LF, an LF
   * is not preceded by CR (the byte at `i - 1` is not looked at), or a dot follows an LF; or,
   * near the end of the chunk, an index from which the caller must look itself. Every CR in
   * [i, result) is followed by an LF at or before the result, and no line starts in that range
   * with a dot.
   */
  skip(i: number): number {
    const chunk = this.chunk
    if (chunk === undefined) return i
    const len = chunk.length
    for (;;) {
      if (i < this.base || i + 18 > this.base + this.size) {
        // The two bytes of look-ahead past a block need the window to reach further.
        if (len - i < 18) return i
        const size = Math.min(windowBytes, len - i)
        this.memory.set(size === len - i && i === 0 ? chunk : chunk.subarray(i, i + size), 0)
        this.base = i
        this.size = size
      }
      const found = this.base + this.scan(i - this.base, this.size - 2)
      // A block that could not be checked at the window's end: slide the window on.
      if (found + 18 > this.base + this.size && this.base + this.size < len) {
        i = found
        this.size = 0
        continue
      }
      return found
    }
  }
}

/** A scanner, or undefined where this runtime has no WebAssembly SIMD. */
export const make = (): Scanner | undefined => {
  try {
    if (typeof WebAssembly !== "object" || !WebAssembly.validate(moduleBytes)) return undefined
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 })
    const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes), { m: { m: memory } })
    return new Scanner(memory, instance.exports.s as (p: number, end: number) => number)
  } catch {
    return undefined
  }
}

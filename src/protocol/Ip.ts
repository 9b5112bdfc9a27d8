/**
 * IP address text: validation, the canonical form (RFC 5952) sessions show and trust lists
 * compare, and the trust check of `useProxy`, `useXClient` and `useXForward`.
 */

const ipv4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const hexGroup = /^[0-9a-f]{1,4}$/i

/** True for a dotted-quad IPv4 address without leading zeros. */
export const isIPv4 = (text: string): boolean => ipv4.test(text)

/** True for an IPv6 address in any RFC 4291 §2.2 text form, without a zone. */
export const isIPv6 = (text: string): boolean => ipv6Groups(text) !== undefined

/** True for an IPv4 or IPv6 address. */
export const isIP = (text: string): boolean => isIPv4(text) || isIPv6(text)

// The eight 16-bit groups of an IPv6 address, or undefined when `text` is not one.
const ipv6Groups = (text: string): Array<number> | undefined => {
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  const head = halves[0] === "" ? [] : halves[0]!.split(":")
  const tail = halves.length === 2 && halves[1] !== "" ? halves[1]!.split(":") : []
  const written = [...head, ...tail]
  const groups: Array<number> = []
  for (let i = 0; i < written.length; i++) {
    const group = written[i]!
    if (hexGroup.test(group)) {
      groups.push(parseInt(group, 16))
    } else if (i === written.length - 1 && (halves.length === 1 || tail.length > 0) && ipv4.test(group)) {
      // An embedded IPv4 address can only be the last group written (RFC 4291 §2.2 form 3).
      const [a, b, c, d] = group.split(".").map(Number) as [number, number, number, number]
      groups.push((a << 8) | b, (c << 8) | d)
    } else {
      return undefined
    }
  }
  if (halves.length === 1) return groups.length === 8 ? groups : undefined
  if (groups.length > 7) return undefined
  const zeros = new Array<number>(8 - groups.length).fill(0)
  const headCount = groups.length - countGroups(tail)
  return [...groups.slice(0, headCount), ...zeros, ...groups.slice(headCount)]
}

const countGroups = (written: ReadonlyArray<string>): number =>
  written.reduce((n, group) => n + (group.includes(".") ? 2 : 1), 0)

// RFC 5952 §4: lower-case hex without leading zeros, the longest run (the first on a tie) of
// two or more zero groups written as "::".
const formatIPv6 = (groups: ReadonlyArray<number>): string => {
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let end = i
    while (end < 8 && groups[end] === 0) end++
    if (end - i > bestLength) {
      bestStart = i
      bestLength = end - i
    }
    i = end
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(":")
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`
}

// ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) is an IPv4 peer of a dual-stack socket: it is shown as IPv4.
const mappedIPv4 = (groups: ReadonlyArray<number>): string | undefined =>
  groups[5] === 0xffff && groups.slice(0, 5).every((g) => g === 0)
    ? `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`
    : undefined

/**
 * The canonical text of an address, for display and comparison: IPv4-mapped IPv6 as IPv4,
 * IPv6 per RFC 5952, a zone index kept. Text that is no address comes back trimmed and lower-cased.
 */
export const normalize = (address: string): string => {
  const text = address.trim().toLowerCase()
  if (ipv4.test(text)) return text
  const percent = text.indexOf("%")
  const groups = ipv6Groups(percent < 0 ? text : text.slice(0, percent))
  if (groups === undefined) return text
  return mappedIPv4(groups) ?? formatIPv6(groups) + (percent < 0 ? "" : text.slice(percent))
}

/** The text of a 4- or 16-byte address in network order, as `normalize` shows it. */
export const fromBytes = (bytes: Uint8Array, offset: number, length: 4 | 16): string => {
  if (length === 4) return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`
  const groups: Array<number> = []
  for (let i = 0; i < 16; i += 2) groups.push((bytes[offset + i]! << 8) | bytes[offset + i + 1]!)
  return mappedIPv4(groups) ?? formatIPv6(groups)
}

/** Who a trust option admits: `true` every peer, a list the addresses in it (`"*"` every peer). */
export type Trust = boolean | ReadonlyArray<string>

/** True when `address` is trusted by `option`; both sides are normalized, so `::ffff:10.0.0.1` matches `10.0.0.1`. */
export const isAllowed = (option: Trust, address: string): boolean => {
  if (option === true) return true
  if (option === false) return false
  if (option.includes("*")) return true
  const peer = normalize(address)
  return option.some((entry) => normalize(entry) === peer)
}

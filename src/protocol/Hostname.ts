/**
 * Host names that come from untrusted sources: a PTR record (its owner publishes any bytes it
 * likes, CR LF included) or a proxy's XCLIENT/XFORWARD NAME. Only names that look like DNS
 * names are kept; they end up in replies, logs and Received headers.
 */

// RFC 1035 §2.3.4: 255 octets on the wire is 253 characters of text; labels are 63 at most.
const maxLength = 253
const maxLabel = 63
// Letters, digits and inner hyphens, plus the underscore some ISPs publish in PTR records.
const label = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/i

/** True when `name` is a plausible host name (a root dot at the end allowed). */
export const isValid = (name: string): boolean => {
  // The length is checked before the root dot is dropped: the limit applies to what was received.
  if (name === "" || name.length > maxLength) return false
  const labels = (name.endsWith(".") ? name.slice(0, -1) : name).split(".")
  return labels.every((l) => l.length > 0 && l.length <= maxLabel && label.test(l))
}

/** The form sessions keep: lower case, without the root dot. */
export const normalize = (name: string): string => {
  const lower = name.toLowerCase()
  return lower.endsWith(".") ? lower.slice(0, -1) : lower
}

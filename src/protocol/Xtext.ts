/**
 * xtext (RFC 3461 §4): the encoding of DSN parameters (ENVID, ORCPT) and of Postfix's
 * XCLIENT/XFORWARD attribute values, where "+" and two upper-case hex digits stand for one octet.
 */

const escape = /\+([0-9A-F]{2})/g

/** Decodes `+XX` escapes; anything else, a malformed escape included, is kept as written. */
export const decode = (value: string): string =>
  value.includes("+") ? value.replace(escape, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : value

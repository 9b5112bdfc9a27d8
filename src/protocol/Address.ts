/**
 * MAIL FROM / RCPT TO paths and their ESMTP parameters (RFC 5321 §4.1.2, RFC 6531).
 * Syntax only: whether a parameter is advertised or allowed in this session is the core's call.
 */
import * as Reply from "./Reply.js"
import * as Xtext from "./Xtext.js"

/** A MAIL FROM / RCPT TO path with its ESMTP parameters; `address` is "" for the null sender <>. */
export interface Address {
  readonly address: string
  /** Upper-cased keys; a parameter without a value (or with an empty one) is `true`; `{}` when none. */
  readonly args: Readonly<Record<string, string | true>>
  /** RCPT TO only: the recipient's DSN request, present when it carried NOTIFY or ORCPT. */
  readonly dsn?: RecipientDsn | undefined
}

/** A NOTIFY value (RFC 3461 §4.1). */
export type Notify = "NEVER" | "SUCCESS" | "FAILURE" | "DELAY"

/** The DSN parameters of one RCPT TO (RFC 3461 §4.1, §4.2), decoded. */
export interface RecipientDsn {
  /** NOTIFY, upper-cased; empty when the client left it to the server. */
  readonly notify: ReadonlyArray<Notify>
  /** ORCPT as `addr-type;address` with its xtext decoded, when given. */
  readonly orcpt?: string | undefined
}

/** The outcome of parsing a path: the address, or the reply that refuses it. */
export type Parsed =
  | { readonly _tag: "Ok"; readonly address: Address }
  | { readonly _tag: "Error"; readonly reply: Reply.Reply }

/** Parses what follows `MAIL FROM:`; `<>` is the null sender. */
export const parseMailFrom = (arg: string): Parsed => parse(arg, mail, false)

/** Parses what follows `RCPT TO:`; `smtputf8` says whether the transaction's MAIL carried SMTPUTF8. */
export const parseRcptTo = (arg: string, smtputf8 = false): Parsed => parse(arg, rcpt, smtputf8)

interface Kind {
  readonly rcpt: boolean
  readonly badSyntax: Reply.Reply
  // Parameters that make no sense without a value, in the order smtp-server checks them.
  readonly valueParams: ReadonlyArray<string>
}

const mail: Kind = { rcpt: false, badSyntax: Reply.table.badSenderSyntax, valueParams: ["BODY", "SIZE", "RET", "ENVID"] }
const rcpt: Kind = { rcpt: true, badSyntax: Reply.table.badRecipientSyntax, valueParams: ["NOTIFY", "ORCPT"] }

// RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets. The 64-octet
// local-part limit is not enforced, as in smtp-server: forwarding services send longer ones.
const maxMailboxOctets = 256 - 2

// Control characters (C0, DEL, C1) and the invisible formatters smtp-server refuses: they allow
// log/header injection and visually spoofed addresses. ZWJ/ZWNJ stay, IDNs of some scripts use them.
const unsafeChars = /[\x00-\x1f\x7f-\x9f\u200b\u2060\ufeff]/
const controlChars = /[\x00-\x1f\x7f-\x9f]/
// xtext (RFC 3461 §4) can smuggle CR LF into a value as +0D+0A; smtp-server decodes with this pattern.
const xtextEscape = /\+([0-9A-F]{2})/g
// RFC 5321 §4.1.2 and appendix C: a source route must be accepted and is ignored.
const sourceRoute = /^@[^\s,:@]+(?:,@[^\s,:@]+)*:/
const whitespace = /\s/
const nonAscii = /[^\x00-\x7f]/
const domainChars = /^[a-zA-Z0-9\u0080-\uffff.-]+$/
const ipv4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const hexGroup = /^[0-9a-fA-F]{1,4}$/
const digits = /^\d{1,20}$/
// RFC 3461 §4.2: ORCPT=addr-type ";" xtext, addr-type an atom.
const orcpt = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+;./i
const bodyTypes = new Set(["7BIT", "8BITMIME", "BINARYMIME"])
const notifyValues = new Set(["NEVER", "SUCCESS", "FAILURE", "DELAY"])

const noTokens: ReadonlyArray<string> = []

const error = (reply: Reply.Reply): Parsed => ({ _tag: "Error", reply })

const parse = (arg: string, kind: Kind, smtputf8: boolean): Parsed => {
  let start = 0
  while (arg.charCodeAt(start) === 32) start++
  const end = pathEnd(arg, start)
  if (end < 0) return error(kind.badSyntax)

  const path = arg.slice(start + 1, end)
  const mailbox = path.charCodeAt(0) === 64 /* @ */ ? path.replace(sourceRoute, "") : path
  if (!validMailbox(mailbox, kind.rcpt)) return error(kind.badSyntax)

  const args: Record<string, string | true> = {}
  let duplicate: string | undefined
  // Most paths come without parameters: nothing to split then.
  for (const token of end + 1 < arg.length ? arg.slice(end + 1).split(" ") : noTokens) {
    if (token === "") continue
    const eq = token.indexOf("=")
    const key = (eq < 0 ? token : token.slice(0, eq)).toUpperCase()
    const value = eq < 0 || eq === token.length - 1 ? true : token.slice(eq + 1)
    if (controlChars.test(token) || (value !== true && hasEncodedControl(value))) return error(kind.badSyntax)
    // As in smtp-server, "=x" has no key and is skipped rather than refused.
    if (key === "") continue
    // RFC 3461 §4: a parameter may be given only once.
    if (Object.hasOwn(args, key)) duplicate = key
    args[key] = value
  }
  if (duplicate !== undefined) return error(Reply.table.duplicateParameter(duplicate))
  for (const key of kind.valueParams) {
    if (args[key] === true) return error(Reply.table.parameterNeedsValue(key))
  }

  const refused = kind.rcpt ? checkRcptParams(args) : checkMailParams(args)
  if (refused !== undefined) return error(refused)

  // RFC 6531 §3.4: a non-ASCII address is only allowed in a transaction that declared SMTPUTF8.
  if (nonAscii.test(mailbox) && !(kind.rcpt ? smtputf8 : args["SMTPUTF8"] === true)) {
    return error(Reply.table.utf8NeedsSmtputf8)
  }
  const dsn = kind.rcpt ? recipientDsn(args) : undefined
  return { _tag: "Ok", address: dsn === undefined ? { address: mailbox, args } : { address: mailbox, args, dsn } }
}

// Called once NOTIFY and ORCPT passed checkRcptParams; args keep the raw values.
const recipientDsn = (args: Record<string, string | true>): RecipientDsn | undefined => {
  const { NOTIFY, ORCPT } = args
  if (typeof NOTIFY !== "string" && typeof ORCPT !== "string") return undefined
  const notify = typeof NOTIFY === "string" ? (NOTIFY.toUpperCase().split(",") as Array<Notify>) : []
  return typeof ORCPT === "string" ? { notify, orcpt: Xtext.decode(ORCPT) } : { notify }
}

// Index of the ">" closing a path that opens at `start`, or -1. Inside a quoted local part
// spaces, "<" and ">" are text; outside, they end or break the path. The path must be
// followed by the end of the argument or a space. A quote opens a quoted local part only at
// its start (after "<" or a source route); elsewhere it is an ordinary character, as
// smtp-server takes it, and so is a quote that is never closed.
const pathEnd = (arg: string, start: number, quotes = true): number => {
  if (arg.charCodeAt(start) !== 60 /* < */) return -1
  let quoted = false
  for (let i = start + 1; i < arg.length; i++) {
    const c = arg.charCodeAt(i)
    if (quoted) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) quoted = false
    } else if (quotes && c === 34 && (i === start + 1 || arg.charCodeAt(i - 1) === 58 /* : */)) {
      quoted = true
    } else if (c === 62 /* > */) {
      return i + 1 === arg.length || arg.charCodeAt(i + 1) === 32 ? i : -1
    } else if (c === 60 || c === 32) {
      return -1
    }
  }
  return quoted ? pathEnd(arg, start, false) : -1
}

const validMailbox = (mailbox: string, isRcpt: boolean): boolean => {
  if (mailbox === "") return !isRcpt
  if (unsafeChars.test(mailbox)) return false
  // RFC 5321 §4.1.1.3: the domainless postmaster recipient must be accepted.
  if (isRcpt && mailbox.toLowerCase() === "postmaster") return true
  if (utf8Length(mailbox) > maxMailboxOctets) return false

  const quotedEnd = mailbox.charCodeAt(0) === 34 ? quotedLocalEnd(mailbox) : -1
  let local: string
  let domain: string
  if (quotedEnd > 0 && mailbox.charCodeAt(quotedEnd) === 64 /* @ */) {
    local = mailbox.slice(0, quotedEnd)
    domain = mailbox.slice(quotedEnd + 1)
    if (!validQuotedLocal(local)) return false
  } else {
    // Unquoted, the local part is as permissive as smtp-server's: anything but "@", spaces
    // and brackets, with no dot at either end and no empty dot-separated atom.
    const parts = mailbox.split("@")
    if (parts.length !== 2) return false
    local = parts[0]!
    domain = parts[1]!
    if (local === "" || whitespace.test(local)) return false
    if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) return false
  }
  return validDomain(domain)
}

// Index just past the closing quote of a quoted local part, or -1.
const quotedLocalEnd = (mailbox: string): number => {
  for (let i = 1; i < mailbox.length; i++) {
    const c = mailbox.charCodeAt(i)
    if (c === 92) i++
    else if (c === 34) return i + 1
  }
  return -1
}

// RFC 5321 §4.1.2: qtextSMTP is printable ASCII but `"` and `\`, quoted-pairSMTP is `\` and a
// printable ASCII character; RFC 6531 adds non-ASCII text. `""` is allowed, as the grammar and
// smtp-server allow it. Unicode spaces are refused as spoofing.
const validQuotedLocal = (local: string): boolean => {
  for (let i = 1; i < local.length - 1; i++) {
    const c = local.charCodeAt(i)
    if (c === 92) {
      const next = local.charCodeAt(++i)
      if (i >= local.length - 1 || next < 32 || next > 126) return false
    } else if (c !== 32 && whitespace.test(local[i]!)) {
      return false
    }
  }
  return true
}

// Kept as written: neither lowercased nor converted from punycode, so the caller sees what the
// client sent. Address literals are IPv4 or `IPv6:` (RFC 5321 §4.1.3); general literals are refused.
const validDomain = (domain: string): boolean => {
  if (domain.startsWith("[") && domain.endsWith("]")) {
    const literal = domain.slice(1, -1)
    return /^ipv6:/i.test(literal) ? isIPv6(literal.slice(5)) : ipv4.test(literal)
  }
  return domain !== "" &&
    !domain.startsWith(".") &&
    !domain.endsWith(".") &&
    !domain.includes("..") &&
    !domain.includes(".-") &&
    !domain.includes("-.") &&
    domainChars.test(domain) &&
    !whitespace.test(domain)
}

// RFC 4291 §2.2 text forms, without zone identifiers (meaningless in an address literal).
const isIPv6 = (text: string): boolean => {
  const halves = text.split("::")
  if (halves.length > 2) return false
  const head = halves[0] === "" ? [] : halves[0]!.split(":")
  const tail = halves.length === 2 && halves[1] !== "" ? halves[1]!.split(":") : []
  const groups = [...head, ...tail]
  // An embedded IPv4 address can only be the last group written.
  const ipv4Allowed = halves.length === 1 || tail.length > 0
  let count = 0
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]!
    if (hexGroup.test(group)) count++
    else if (ipv4Allowed && i === groups.length - 1 && ipv4.test(group)) count += 2
    else return false
  }
  return halves.length === 2 ? count <= 7 : count === 8
}

const hasEncodedControl = (value: string): boolean => {
  for (const match of value.matchAll(xtextEscape)) {
    const code = parseInt(match[1]!, 16)
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true
  }
  return false
}

const utf8Length = (text: string): number => {
  let octets = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) octets += 1
    else if (c < 0x800) octets += 2
    // A surrogate pair is one 4-octet character, counted 2 per half.
    else if (c >= 0xd800 && c <= 0xdfff) octets += 2
    else octets += 3
  }
  return octets
}

// MAIL parameters: RFC 1870 SIZE, RFC 6152/3030 BODY, RFC 6531 SMTPUTF8, RFC 8689 REQUIRETLS,
// RFC 3461 RET. Values are checked here and left as given, except BODY which is upper-cased.
const checkMailParams = (args: Record<string, string | true>): Reply.Reply | undefined => {
  const { BODY, REQUIRETLS, RET, SIZE, SMTPUTF8 } = args
  if (typeof SIZE === "string" && !digits.test(SIZE)) return Reply.table.badSizeSyntax
  if (typeof BODY === "string") {
    const body = BODY.toUpperCase()
    if (!bodyTypes.has(body)) return Reply.table.badBodyValue
    args["BODY"] = body
  }
  if (typeof SMTPUTF8 === "string") return Reply.table.flagWithValue("SMTPUTF8")
  if (typeof REQUIRETLS === "string") return Reply.table.flagWithValue("REQUIRETLS")
  if (typeof RET === "string" && !["FULL", "HDRS"].includes(RET.toUpperCase())) return Reply.table.badRetValue
  return undefined
}

// RCPT parameters: RFC 3461 NOTIFY and ORCPT.
const checkRcptParams = (args: Record<string, string | true>): Reply.Reply | undefined => {
  const { NOTIFY, ORCPT } = args
  if (typeof NOTIFY === "string") {
    const values = NOTIFY.toUpperCase().split(",")
    if (!values.every((value) => notifyValues.has(value))) return Reply.table.badNotifyValue
    // RFC 3461 §4.1: NEVER stands alone.
    if (values.length > 1 && values.includes("NEVER")) return Reply.table.notifyNeverCombined
  }
  if (typeof ORCPT === "string" && !orcpt.test(ORCPT)) return Reply.table.badOrcptSyntax
  return undefined
}

/**
 * The attribute lists of Postfix's XCLIENT and XFORWARD commands (XCLIENT_README,
 * XFORWARD_README): `NAME=value` pairs with xtext values, where `[UNAVAILABLE]` (and for
 * XCLIENT `[TEMPUNAVAIL]`) says the proxy does not know. The whole list is checked before
 * any of it is applied, so a bad attribute leaves the session as it was.
 */
import * as Hostname from "./Hostname.js"
import * as Ip from "./Ip.js"
import * as Reply from "./Reply.js"
import * as Xtext from "./Xtext.js"

/** One of the two commands, with the attributes it takes and its "not known" values. */
export interface Kind {
  readonly verb: "XCLIENT" | "XFORWARD"
  readonly attributes: ReadonlyArray<string>
  readonly unavailable: ReadonlyArray<string>
}

/** XCLIENT: the proxy hands over the client's identity; the session starts over. */
export const xclient: Kind = {
  verb: "XCLIENT",
  attributes: ["NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT"],
  unavailable: ["[UNAVAILABLE]", "[TEMPUNAVAIL]"]
}

/** XFORWARD: the proxy reports the original client for logging; the session goes on. */
export const xforward: Kind = {
  verb: "XFORWARD",
  attributes: ["NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"],
  unavailable: ["[UNAVAILABLE]"]
}

/** Attribute values by upper-cased name, in the order given; `false` where the proxy sent "not known". */
export type Attributes = ReadonlyMap<string, string | false>

/** The outcome of parsing an attribute list. */
export type Parsed =
  | { readonly _tag: "Ok"; readonly attributes: Attributes }
  | { readonly _tag: "Error"; readonly reply: Reply.Reply }

/** The EHLO keyword line that advertises `kind` with every attribute it takes. */
export const capability = (kind: Kind): string => `${kind.verb} ${kind.attributes.join(" ")}`

const controlChars = /[\x00-\x1f\x7f]/
const ipv6Tag = /^ipv6:/i
const port = /^\d{1,5}$/

/** Parses the parameters of XCLIENT or XFORWARD (what follows the verb). */
export const parse = (parameters: string, kind: Kind): Parsed => {
  const tokens = parameters.split(/\s+/).filter((token) => token !== "")
  if (tokens.length === 0) return error(Reply.table.badProxyParameters)
  const attributes = new Map<string, string | false>()
  for (const token of tokens) {
    const eq = token.indexOf("=")
    const name = token.slice(0, eq).toUpperCase()
    // xtext encodes "=" as +3D: a second raw "=" is malformed.
    if (eq < 0 || token.indexOf("=", eq + 1) >= 0 || !kind.attributes.includes(name)) {
      return error(Reply.table.badProxyParameters)
    }
    const decoded = Xtext.decode(token.slice(eq + 1))
    // CR LF smuggled in as +0D+0A would split replies and forge log lines and Received headers.
    if (controlChars.test(decoded)) return error(Reply.table.badProxyParameters)
    const value = checkValue(name, decoded, kind)
    if (typeof value === "object") return error(value)
    // As in smtp-server, a repeated attribute is ignored.
    if (!attributes.has(name)) attributes.set(name, value)
  }
  return { _tag: "Ok", attributes }
}

const error = (reply: Reply.Reply): Parsed => ({ _tag: "Error", reply })

const checkValue = (name: string, value: string, kind: Kind): string | false | Reply.Reply => {
  if (kind.unavailable.includes(value.toUpperCase())) return false
  switch (name) {
    case "ADDR":
    case "DESTADDR": {
      // Postfix writes IPv6 addresses with the "IPv6:" tag of RFC 5321 address literals.
      const address = value.replace(ipv6Tag, "")
      return Ip.isIP(address) ? Ip.normalize(address) : Reply.table.badProxyAddress
    }
    case "PORT":
    case "DESTPORT":
      return port.test(value) && Number(value) <= 65535 ? String(Number(value)) : Reply.table.badProxyPort
    case "NAME":
      // The name becomes the client's host name, shown in replies and Received headers.
      return value === "" || Hostname.isValid(value) ? value : Reply.table.badProxyHostname
    default:
      return value
  }
}

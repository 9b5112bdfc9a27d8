/**
 * The command-line parser: one line (CRLF stripped) in, one `Command` out. Syntax only; whether
 * a command is allowed now (state, LMTP, disabled commands) is the connection's decision.
 */
import * as Address from "./Address.js"
import * as Reply from "./Reply.js"

/** One command line, parsed. Bad input is a value, never an exception. */
export type Command =
  | { readonly _tag: "Hello"; readonly verb: "HELO" | "EHLO" | "LHLO"; readonly domain: string }
  | { readonly _tag: "Mail"; readonly address: Address.Address }
  | { readonly _tag: "Rcpt"; readonly address: Address.Address }
  | { readonly _tag: "Data" }
  | { readonly _tag: "Bdat"; readonly size: number; readonly last: boolean }
  | { readonly _tag: "Rset" }
  | { readonly _tag: "Noop" }
  | { readonly _tag: "Quit" }
  | { readonly _tag: "Vrfy"; readonly argument: string }
  | { readonly _tag: "Help"; readonly argument: string }
  | { readonly _tag: "StartTls" }
  | { readonly _tag: "Auth"; readonly mechanism: string; readonly initialResponse: string | undefined }
  | { readonly _tag: "XClient"; readonly parameters: string }
  | { readonly _tag: "XForward"; readonly parameters: string }
  | { readonly _tag: "Http" }
  | { readonly _tag: "Unknown"; readonly verb: string }
  | { readonly _tag: "Invalid"; readonly verb: string; readonly reply: Reply.Reply }

/** Options that change how a line parses: `smtputf8` is whether the open transaction declared SMTPUTF8. */
export interface Options {
  readonly smtputf8?: boolean
}

// Checked before anything else: a NUL or CR/LF fragment in a command is never legitimate and
// would otherwise reach logs and hooks.
const controlChars = /[\x00-\x1f\x7f]/
// smtp-server's guard against browsers made to talk to the SMTP port (cross-protocol requests).
const httpRequest = /^(OPTIONS|GET|HEAD|POST|PUT|DELETE|TRACE|CONNECT) \/.* HTTP\/\d\.\d$/i
// The HELO/EHLO argument is not echoed, but applications put it in Received headers and logs.
const maxHeloLength = 300
const heloControlChars = /[\x00-\x1f\x7f-\x9f]/
const decimal = /^\d+$/

// smtp-server's usage texts when AUTH carries more than one argument.
const authUsage: Record<string, string> = {
  PLAIN: "AUTH PLAIN token",
  LOGIN: "AUTH LOGIN",
  XOAUTH2: "AUTH XOAUTH2 token",
  "CRAM-MD5": "AUTH CRAM-MD5"
}

/** The upper-cased verb of a line, for logs/spans/disabledCommands checks without a full parse. */
export const verbOf = (line: string): string => {
  const space = line.indexOf(" ")
  return (space < 0 ? line : line.slice(0, space)).toUpperCase()
}

/** Parses one command line, CRLF already stripped. */
export const parse = (line: string, options?: Options): Command => {
  const verb = verbOf(line)
  if (controlChars.test(line)) return invalid(verb, Reply.table.badCharacters)
  if (httpRequest.test(line)) return { _tag: "Http" }

  const space = line.indexOf(" ")
  const rest = space < 0 ? "" : trimSpaces(line.slice(space))

  switch (verb) {
    case "HELO":
    case "EHLO":
    case "LHLO":
      return hello(verb, rest)
    case "MAIL":
      return path(verb, rest, "FROM", Reply.table.badSenderSyntax, (arg) => Address.parseMailFrom(arg))
    case "RCPT":
      return path(verb, rest, "TO", Reply.table.badRecipientSyntax, (arg) =>
        Address.parseRcptTo(arg, options?.smtputf8 ?? false))
    // RFC 5321 §4.1.1.4, §4.1.1.5, §4.1.1.10 and RFC 3207 §4 give DATA, RSET, QUIT and STARTTLS
    // no parameters. smtp-server ignores arguments to the first three; we follow the RFC.
    case "DATA":
      return rest === "" ? { _tag: "Data" } : invalid(verb, Reply.table.syntax("DATA"))
    case "RSET":
      return rest === "" ? { _tag: "Rset" } : invalid(verb, Reply.table.syntax("RSET"))
    case "QUIT":
      return rest === "" ? { _tag: "Quit" } : invalid(verb, Reply.table.syntax("QUIT"))
    case "STARTTLS":
      return rest === "" ? { _tag: "StartTls" } : invalid(verb, Reply.table.syntax("STARTTLS"))
    // RFC 5321 §4.1.1.9: NOOP may carry a string, which is ignored.
    case "NOOP":
      return { _tag: "Noop" }
    case "HELP":
      return { _tag: "Help", argument: rest }
    case "VRFY":
      return rest === "" ? invalid(verb, Reply.table.vrfySyntax) : { _tag: "Vrfy", argument: rest }
    case "BDAT":
      return bdat(rest)
    case "AUTH":
      return auth(rest)
    case "XCLIENT":
      return { _tag: "XClient", parameters: rest }
    case "XFORWARD":
      return { _tag: "XForward", parameters: rest }
    default:
      return { _tag: "Unknown", verb }
  }
}

const invalid = (verb: string, reply: Reply.Reply): Command => ({ _tag: "Invalid", verb, reply })

const trimSpaces = (text: string): string => {
  let start = 0
  let end = text.length
  while (start < end && text.charCodeAt(start) === 32) start++
  while (end > start && text.charCodeAt(end - 1) === 32) end--
  return text.slice(start, end)
}

const tokens = (text: string): Array<string> => (text === "" ? [] : text.split(/ +/))

// RFC 5321 §4.1.1.1: exactly one argument, a domain or address literal. Its syntax stays as
// permissive as smtp-server's: real clients send bare IPs and Windows machine names.
const hello = (verb: "HELO" | "EHLO" | "LHLO", rest: string): Command => {
  const args = tokens(rest)
  if (args.length !== 1) return invalid(verb, verb === "HELO" ? Reply.table.heloSyntax : Reply.table.syntax(`${verb} hostname`))
  const domain = args[0]!
  if (domain.length > maxHeloLength || heloControlChars.test(domain)) return invalid(verb, Reply.table.badHeloHostname)
  return { _tag: "Hello", verb, domain }
}

// "MAIL FROM:" / "RCPT TO:": as in smtp-server, spaces around the keyword and before the colon
// are tolerated, and a missing keyword gets the address syntax reply.
const path = (
  verb: "MAIL" | "RCPT",
  rest: string,
  keyword: string,
  badSyntax: Reply.Reply,
  parseArg: (arg: string) => Address.Parsed
): Command => {
  const colon = rest.indexOf(":")
  if (colon < 0 || trimSpaces(rest.slice(0, colon)).toUpperCase() !== keyword) return invalid(verb, badSyntax)
  const parsed = parseArg(rest.slice(colon + 1))
  if (parsed._tag === "Error") return invalid(verb, parsed.reply)
  return verb === "MAIL" ? { _tag: "Mail", address: parsed.address } : { _tag: "Rcpt", address: parsed.address }
}

// RFC 3030 §2: "BDAT" SP chunk-size [SP end-marker], chunk-size 1*DIGIT.
const bdat = (rest: string): Command => {
  const args = tokens(rest)
  const size = args[0] !== undefined && decimal.test(args[0]) ? Number(args[0]) : Number.NaN
  const last = args[1]?.toUpperCase() === "LAST"
  if (!(size <= Number.MAX_SAFE_INTEGER) || args.length > 2 || (args.length === 2 && !last)) {
    return invalid("BDAT", Reply.table.syntax("BDAT chunk-size [LAST]"))
  }
  return { _tag: "Bdat", size, last }
}

// RFC 4954 §4: "AUTH" SP sasl-mech [SP initial-response]. Whether the mechanism exists is the
// connection's 504; "=" as the initial response (empty response) is left for the mechanism.
const auth = (rest: string): Command => {
  const args = tokens(rest)
  if (args.length === 0) return invalid("AUTH", Reply.table.syntax("AUTH mechanism"))
  const mechanism = args[0]!.toUpperCase()
  if (args.length > 2) {
    return invalid("AUTH", Reply.table.syntax(authUsage[mechanism] ?? "AUTH mechanism [initial-response]"))
  }
  return { _tag: "Auth", mechanism, initialResponse: args[1] }
}

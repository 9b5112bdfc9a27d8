/**
 * Server configuration: one table gives every option's default and what a valid value is, so
 * a bad value fails before the server listens, with a message naming the field.
 *
 * Checked by hand rather than with Effect Schema: the options are flat, and loading Schema
 * cost every user, the facade's included, about 4 MB of heap and 0.2 s of start-up
 * (measured in the closing note of issue 10), for 45 fields.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Ip from "../protocol/Ip.js"

/** SASL mechanisms the server implements. */
export type AuthMethod = "PLAIN" | "LOGIN" | "CRAM-MD5" | "XOAUTH2"

/** A trust option: true trusts every peer; a list names the trusted peer addresses ("*": every peer). */
export type Trust = boolean | ReadonlyArray<string>

/** Options with every default filled in. */
export interface Config {
  /** Host name in the greeting and the EHLO reply. */
  readonly name: string
  /** Text appended to the 220 greeting. */
  readonly banner?: string | undefined
  /** Speak LMTP (RFC 2033) instead of SMTP. */
  readonly lmtp: boolean
  /** First line of the HELO/EHLO reply: `%s` is the server name, then the client's name. */
  readonly heloResponse: string
  /** Largest message in bytes (advertised as SIZE); 0 for no limit. */
  readonly size: number
  /** Refuse a message past `size` with 552 whatever the data hook decides (the facade lets onData decide). */
  readonly rejectOversized: boolean
  /** Most connections at once; 0 for no limit. */
  readonly maxClients: number
  /** Most recipients in one transaction (RFC 5321 §4.5.3.1.8 asks for at least 100). */
  readonly maxRecipients: number
  /** Most MAIL commands on one connection, refused or not (RFC 9422 MAILMAX); 0 for no limit. */
  readonly maxMessages: number
  /** Longest command line in bytes, CRLF excluded. */
  readonly maxLineLength: number
  /** Unrecognized commands tolerated before the connection is closed with 421. */
  readonly maxUnrecognizedCommands: number
  /** Idle time in ms before a connection is closed with 421; 0 disables. */
  readonly socketTimeout: number
  /** Time in ms open sessions get to finish when the server shuts down; 0 disables. */
  readonly closeTimeout: number
  /** Delay in ms before the greeting; a client that talks earlier is refused (421). 0 disables the check. */
  readonly greetingDelay: number
  /**
   * Longest a hook may run, in ms, before it is interrupted and the command answered 451 4.3.0;
   * 0 for no limit (the default: see README, "Guarantees under hostile input"). For the data
   * hook the time includes receiving the body.
   */
  readonly hookTimeout: number
  /** Stray CR or LF inside DATA: turn into CRLF, refuse the message with 550 5.6.0, or keep verbatim. */
  readonly bareLineEndings: "normalize" | "reject" | "pass"
  /** Commands refused as if unknown, e.g. `["AUTH", "STARTTLS"]`; any case in, upper case here. */
  readonly disabledCommands: ReadonlyArray<string>
  /** SASL mechanisms offered with AUTH (RFC 4954), any case in, upper case here; an empty list turns AUTH off. */
  readonly authMethods: ReadonlyArray<AuthMethod>
  /**
   * Take mail without AUTH. The Effect API defaults to true: a server built without an auth
   * hook is a receiving MX, not a submission server, and must not demand a login nobody can
   * pass. Set it false to refuse MAIL/RCPT/DATA with 530 until AUTH (the facade's default).
   */
  readonly authOptional: boolean
  /** Offer and accept AUTH on a connection without TLS; otherwise it is hidden and refused with 538. */
  readonly allowInsecureAuth: boolean
  /** Text of the 530 reply to MAIL/RCPT/DATA before AUTH when AUTH is required. */
  readonly authRequiredMessage?: string | undefined
  /**
   * When AUTH is required: commands other than AUTH tolerated before it, counting the one that
   * is refused with 421 (as smtp-server counts); `false` for no limit.
   */
  readonly maxAllowedUnauthenticatedCommands: false | number
  /** Leave PIPELINING out of EHLO. */
  readonly hidePIPELINING: boolean
  /** Leave 8BITMIME out of EHLO. */
  readonly hide8BITMIME: boolean
  /** Leave SMTPUTF8 out of EHLO. */
  readonly hideSMTPUTF8: boolean
  /** The Effect API shows enhanced status codes by default; the facade hides them as smtp-server does. */
  readonly hideENHANCEDSTATUSCODES: boolean
  /** Leave DSN out of EHLO. */
  readonly hideDSN: boolean
  /** Advertise `SIZE` without the number (the limit is still enforced). */
  readonly hideSize: boolean
  /** Leave CHUNKING and BINARYMIME out of EHLO (RFC 3030); BDAT is still accepted. */
  readonly hideCHUNKING: boolean
  /** Leave BINARYMIME out of EHLO; BODY=BINARYMIME is still accepted. */
  readonly hideBINARYMIME: boolean
  /** Leave LIMITS (RFC 9422: RCPTMAX from maxRecipients, MAILMAX from maxMessages) out of EHLO; the limits still apply. */
  readonly hideLIMITS: boolean
  /** Leave REQUIRETLS (RFC 8689) out of EHLO; it is only ever offered on a secure connection, and still accepted there. */
  readonly hideREQUIRETLS: boolean
  /** Peers that must send a HAProxy PROXY header (v1 or v2) before the greeting; others are served directly. */
  readonly useProxy: Trust
  /** Peers (the client a PROXY header named, if any) allowed to use Postfix XCLIENT. */
  readonly useXClient: Trust
  /** Peers (the client a PROXY header named, if any) allowed to use Postfix XFORWARD. */
  readonly useXForward: Trust
  /**
   * Skip the reverse DNS lookup of the client. The Effect API skips it unless asked: a lookup
   * is network traffic and up to `reverseLookupTimeout` of delay per connection.
   */
  readonly disableReverseLookup: boolean
  /** Longest wait in ms for the reverse lookup; past it the client is known as `[address]`. */
  readonly reverseLookupTimeout: number
  /** Implicit TLS (port 465 style): the connection starts TLS before anything else, greeting included. */
  readonly secure: boolean
  /** Refuse MAIL and AUTH with 530 5.7.0 until the client has done STARTTLS (RFC 3207 §4). */
  readonly needsUpgrade: boolean
  /** Leave STARTTLS out of the EHLO reply; the command is still accepted. */
  readonly hideSTARTTLS: boolean
}

/** Options as a user writes them: every field optional (undefined is the default); mechanism and command names in any case. */
export type Input = {
  readonly [K in keyof Config]?: (K extends "authMethods" ? ReadonlyArray<string> : Config[K]) | undefined
}

// Why a value is not valid: what was expected, at which entry of a list, and what was given.
class Invalid {
  constructor(readonly expected: string, readonly value: unknown, readonly at = "") {}
}

// One option: its default, and how a given value is read.
interface Field<A> {
  readonly fallback: A
  readonly read: (value: unknown) => A | Invalid
}

const isInt = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value)

const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): Field<number> => {
  const expected = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`
  return { fallback, read: (value) => (isInt(value) && value >= min && value <= max ? value : new Invalid(expected, value)) }
}

const flag = (fallback: boolean): Field<boolean> => ({
  fallback,
  read: (value) => (typeof value === "boolean" ? value : new Invalid("true or false", value))
})

const text = <A extends string | undefined>(fallback: A): Field<string | A> => ({
  fallback,
  read: (value) => (typeof value === "string" ? value : new Invalid("a string", value))
})

const oneOf = <const A extends string>(fallback: A, choices: ReadonlyArray<A>): Field<A> => ({
  fallback,
  read: (value) =>
    choices.includes(value as A) ? value as A : new Invalid(choices.map((c) => JSON.stringify(c)).join(" or "), value)
})

// A list of strings, each read by `item`; the first entry that is not valid is named.
const list = <A>(fallback: ReadonlyArray<A>, item: (value: string) => A | Invalid): Field<ReadonlyArray<A>> => ({
  fallback,
  read: (value) => {
    if (!Array.isArray(value)) return new Invalid("a list", value)
    const out: Array<A> = []
    for (let i = 0; i < value.length; i++) {
      const entry: unknown = value[i]
      const read = typeof entry === "string" ? item(entry) : new Invalid("a string", entry)
      if (read instanceof Invalid) return new Invalid(read.expected, read.value, `[${i}]`)
      out.push(read)
    }
    return out
  }
})

const authMethods: ReadonlyArray<AuthMethod> = ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]

// Entries must be IP addresses: a typo would otherwise trust nobody without a word.
const trustedPeers = list<string>(
  [],
  (entry) => (entry === "*" || Ip.isIP(Ip.normalize(entry)) ? entry : new Invalid("an IP address or \"*\"", entry))
)
const trust: Field<Trust> = {
  fallback: false,
  read: (value) =>
    typeof value === "boolean"
      ? value
      : Array.isArray(value)
      ? trustedPeers.read(value)
      : new Invalid("true, false or a list of IP addresses", value)
}

const fields: { readonly [K in keyof Config]-?: Field<Config[K]> } = {
  name: {
    fallback: "localhost",
    read: (value) =>
      typeof value === "string" && value !== "" && value.trim() === value
        ? value
        : new Invalid("a non-empty string without surrounding spaces", value)
  },
  banner: text(undefined),
  lmtp: flag(false),
  heloResponse: text("%s Nice to meet you, %s"),
  size: int(0),
  rejectOversized: flag(true),
  maxClients: int(0),
  maxRecipients: int(1000, 1),
  maxMessages: int(0),
  maxLineLength: int(2048, 512, 1_048_576),
  maxUnrecognizedCommands: int(10, 1),
  socketTimeout: int(60_000),
  closeTimeout: int(30_000),
  greetingDelay: int(0),
  hookTimeout: int(0),
  bareLineEndings: oneOf("normalize", ["normalize", "reject", "pass"]),
  disabledCommands: list([], (entry) => entry.toUpperCase()),
  authMethods: list(["PLAIN", "LOGIN"], (entry) => {
    const method = entry.toUpperCase() as AuthMethod
    return authMethods.includes(method) ? method : new Invalid(`one of ${authMethods.join(", ")}`, entry)
  }),
  authOptional: flag(true),
  allowInsecureAuth: flag(false),
  authRequiredMessage: text(undefined),
  maxAllowedUnauthenticatedCommands: {
    fallback: 10,
    read: (value) => (value === false || (isInt(value) && value >= 1) ? value : new Invalid("false or an integer ≥ 1", value))
  },
  hidePIPELINING: flag(false),
  hide8BITMIME: flag(false),
  hideSMTPUTF8: flag(false),
  hideENHANCEDSTATUSCODES: flag(false),
  hideDSN: flag(false),
  hideSize: flag(false),
  hideCHUNKING: flag(false),
  hideBINARYMIME: flag(false),
  hideLIMITS: flag(false),
  hideREQUIRETLS: flag(false),
  useProxy: trust,
  useXClient: trust,
  useXForward: trust,
  disableReverseLookup: flag(true),
  reverseLookupTimeout: int(1500, 1),
  secure: flag(false),
  needsUpgrade: flag(false),
  hideSTARTTLS: flag(false)
}

/** Why options were refused; the message names the field. */
export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly message: string }> {}

// A value as the error message shows it: short, and never the whole of a long string.
const show = (value: unknown): string => {
  const shown = typeof value === "string" ? JSON.stringify(value) : Array.isArray(value) ? "a list" : String(value)
  return shown.length > 60 ? `${shown.slice(0, 57)}...` : shown
}

/** Reads options, filling in defaults; the error names the first field that is not valid. */
export const read = (input: Input): Either.Either<Config, ConfigError> => {
  if (typeof input !== "object" || input === null) return Either.left(new ConfigError({ message: "options: expected an object" }))
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(fields, key)) return Either.left(new ConfigError({ message: `${key}: is not an option` }))
  }
  const config: Record<string, unknown> = {}
  const given = input as Record<string, unknown>
  for (const [key, field] of Object.entries(fields) as Array<[string, Field<unknown>]>) {
    const value = given[key]
    if (value === undefined) {
      config[key] = field.fallback
      continue
    }
    const read = field.read(value)
    if (read instanceof Invalid) {
      return Either.left(new ConfigError({ message: `${key}${read.at}: expected ${read.expected}, got ${show(read.value)}` }))
    }
    config[key] = read
  }
  return Either.right(config as unknown as Config)
}

/** Decodes options, naming the offending field on failure. */
export const decode = (input: Input): Effect.Effect<Config, ConfigError> => Effect.suspend(() => read(input))

/** Decodes options synchronously; throws ConfigError. For the facade and tests. */
export const decodeSync = (input: Input): Config => {
  const result = read(input)
  if (Either.isLeft(result)) throw result.left
  return result.right
}

/** The configuration of the running server. */
export class ServerConfig extends Context.Tag("effect-smtp/ServerConfig")<ServerConfig, Config>() {
  /** Provides decoded options; fails the layer when a value is invalid. */
  static readonly layer = (input: Input = {}): Layer.Layer<ServerConfig, ConfigError> =>
    Layer.effect(ServerConfig, decode(input))

  /** The defaults, for tests and examples. */
  static readonly Default: Layer.Layer<ServerConfig> = Layer.succeed(ServerConfig, decodeSync({}))
}

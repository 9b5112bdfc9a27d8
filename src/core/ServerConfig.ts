/**
 * Server configuration as an Effect Schema: one place for every option's type, default and
 * bounds, so a bad value fails before the server listens, with a message naming the field.
 */
import { Context, Effect, Either, Layer, ParseResult, Schema } from "effect"
import * as Ip from "../protocol/Ip.js"

const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())
const Millis = NonNegativeInt.annotations({ description: "milliseconds; 0 disables" })

// A trust option: true trusts every peer; a list names the trusted peer addresses ("*": every peer).
// Entries must be IP addresses: a typo would otherwise trust nobody without a word.
const trust = Schema.optionalWith(
  Schema.Union(
    Schema.Boolean,
    Schema.Array(Schema.String.pipe(Schema.filter((s) => s === "*" || Ip.isIP(Ip.normalize(s)), {
      message: () => "expected an IP address or \"*\""
    })))
  ),
  { default: () => false }
)

const flag = (defaultValue: boolean) => Schema.optionalWith(Schema.Boolean, { default: () => defaultValue })
const int = (defaultValue: number) => Schema.optionalWith(NonNegativeInt, { default: () => defaultValue })

/** The schema of the server's options; decode an `Input` with it to get a `Config`. */
export const schema = Schema.Struct({
  /** Host name in the greeting and the EHLO reply. */
  name: Schema.optionalWith(Schema.NonEmptyTrimmedString, { default: () => "localhost" }),
  /** Text appended to the 220 greeting. */
  banner: Schema.optional(Schema.String),
  /** Speak LMTP (RFC 2033) instead of SMTP. */
  lmtp: flag(false),
  /** First line of the HELO/EHLO reply: `%s` is the server name, then the client's name. */
  heloResponse: Schema.optionalWith(Schema.String, { default: () => "%s Nice to meet you, %s" }),
  /** Largest message in bytes (advertised as SIZE); 0 for no limit. */
  size: int(0),
  /** Refuse a message past `size` with 552 whatever the data hook decides (the facade lets onData decide). */
  rejectOversized: flag(true),
  /** Most connections at once; 0 for no limit. */
  maxClients: int(0),
  /** Most recipients in one transaction (RFC 5321 §4.5.3.1.8 asks for at least 100). */
  maxRecipients: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 1000 }),
  /** Most MAIL commands on one connection, refused or not (RFC 9422 MAILMAX); 0 for no limit. */
  maxMessages: int(0),
  /** Longest command line in bytes, CRLF excluded. */
  maxLineLength: Schema.optionalWith(Schema.Int.pipe(Schema.between(512, 1_048_576)), { default: () => 2048 }),
  /** Unrecognized commands tolerated before the connection is closed with 421. */
  maxUnrecognizedCommands: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 10 }),
  /** Idle time in ms before a connection is closed with 421. */
  socketTimeout: Schema.optionalWith(Millis, { default: () => 60_000 }),
  /** Time in ms open sessions get to finish when the server shuts down. */
  closeTimeout: Schema.optionalWith(Millis, { default: () => 30_000 }),
  /** Delay in ms before the greeting; a client that talks earlier is refused (421). 0 disables the check. */
  greetingDelay: Schema.optionalWith(Millis, { default: () => 0 }),
  /**
   * Longest a hook may run, in ms, before it is interrupted and the command answered 451 4.3.0;
   * 0 for no limit (the default: see README, "Guarantees under hostile input"). For the data
   * hook the time includes receiving the body.
   */
  hookTimeout: Schema.optionalWith(Millis, { default: () => 0 }),
  /** Stray CR or LF inside DATA: turn into CRLF, refuse the message with 550 5.6.0, or keep verbatim. */
  bareLineEndings: Schema.optionalWith(Schema.Literal("normalize", "reject", "pass"), { default: () => "normalize" }),
  /** Commands refused as if unknown, e.g. `["AUTH", "STARTTLS"]`. */
  disabledCommands: Schema.optionalWith(Schema.Array(Schema.String.pipe(Schema.transform(Schema.String, {
    decode: (s) => s.toUpperCase(),
    encode: (s) => s
  }))), { default: () => [] }),
  /** SASL mechanisms offered with AUTH (RFC 4954), any case; an empty list turns AUTH off. */
  authMethods: Schema.optionalWith(
    Schema.Array(Schema.transform(Schema.String, Schema.Literal("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"), {
      strict: false,
      decode: (s) => s.toUpperCase(),
      encode: (s) => s
    })),
    { default: () => ["PLAIN", "LOGIN"] }
  ),
  /**
   * Take mail without AUTH. The Effect API defaults to true: a server built without an auth
   * hook is a receiving MX, not a submission server, and must not demand a login nobody can
   * pass. Set it false to refuse MAIL/RCPT/DATA with 530 until AUTH (the facade's default).
   */
  authOptional: flag(true),
  /** Offer and accept AUTH on a connection without TLS; otherwise it is hidden and refused with 538. */
  allowInsecureAuth: flag(false),
  /** Text of the 530 reply to MAIL/RCPT/DATA before AUTH when AUTH is required. */
  authRequiredMessage: Schema.optional(Schema.String),
  /**
   * When AUTH is required: commands other than AUTH tolerated before it, counting the one that
   * is refused with 421 (as smtp-server counts); `false` for no limit.
   */
  maxAllowedUnauthenticatedCommands: Schema.optionalWith(
    Schema.Union(Schema.Literal(false), Schema.Int.pipe(Schema.positive())),
    { default: () => 10 as const }
  ),
  hidePIPELINING: flag(false),
  hide8BITMIME: flag(false),
  hideSMTPUTF8: flag(false),
  /** The Effect API shows enhanced status codes by default; the facade hides them as smtp-server does. */
  hideENHANCEDSTATUSCODES: flag(false),
  hideDSN: flag(false),
  /** Advertise `SIZE` without the number (the limit is still enforced). */
  hideSize: flag(false),
  /** Leave CHUNKING and BINARYMIME out of EHLO (RFC 3030); BDAT is still accepted. */
  hideCHUNKING: flag(false),
  /** Leave BINARYMIME out of EHLO; BODY=BINARYMIME is still accepted. */
  hideBINARYMIME: flag(false),
  /** Leave LIMITS (RFC 9422: RCPTMAX from maxRecipients, MAILMAX from maxMessages) out of EHLO; the limits still apply. */
  hideLIMITS: flag(false),
  /** Leave REQUIRETLS (RFC 8689) out of EHLO; it is only ever offered on a secure connection, and still accepted there. */
  hideREQUIRETLS: flag(false),
  /** Peers that must send a HAProxy PROXY header (v1 or v2) before the greeting; others are served directly. */
  useProxy: trust,
  /** Peers (the client a PROXY header named, if any) allowed to use Postfix XCLIENT. */
  useXClient: trust,
  /** Peers (the client a PROXY header named, if any) allowed to use Postfix XFORWARD. */
  useXForward: trust,
  /**
   * Skip the reverse DNS lookup of the client. The Effect API skips it unless asked: a lookup
   * is network traffic and up to `reverseLookupTimeout` of delay per connection.
   */
  disableReverseLookup: flag(true),
  /** Longest wait in ms for the reverse lookup; past it the client is known as `[address]`. */
  reverseLookupTimeout: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 1500 }),
  /** Implicit TLS (port 465 style): the connection starts TLS before anything else, greeting included. */
  secure: flag(false),
  /** Refuse MAIL and AUTH with 530 5.7.0 until the client has done STARTTLS (RFC 3207 §4). */
  needsUpgrade: flag(false),
  /** Leave STARTTLS out of the EHLO reply; the command is still accepted. */
  hideSTARTTLS: flag(false)
})

/** Options as a user writes them: every field optional. */
export type Input = Schema.Schema.Encoded<typeof schema>

/** Options with every default filled in. */
export type Config = Schema.Schema.Type<typeof schema>

/** Why options were refused; the message names the field. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  message: Schema.String
}) {}

/** Decodes options, naming the offending field on failure. */
export const decode = (input: Input): Effect.Effect<Config, ConfigError> =>
  Schema.decodeUnknown(schema, { onExcessProperty: "error" })(input).pipe(
    Effect.mapError((error) => new ConfigError({ message: ParseResult.TreeFormatter.formatErrorSync(error) }))
  )

/** Decodes options synchronously; throws ConfigError. For the facade and tests. */
export const decodeSync = (input: Input): Config => {
  const result = Effect.runSync(Effect.either(decode(input)))
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

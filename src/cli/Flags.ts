/**
 * The flags of `effect-smtp serve`. Each comes from the command line, else from its
 * environment variable (`EFFECT_SMTP_<FLAG>`, read through Effect Config), else from its
 * default; `settings` then checks them together, so a bad value stops the server with a
 * one-line message before it listens.
 */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as os from "node:os"
import { describePlatformError, StartupError } from "./StartupError.js"
import * as Users from "./Users.js"

/** The environment variable that stands in for a flag: `--max-clients` is `EFFECT_SMTP_MAX_CLIENTS`. */
export const envName = (flag: string): string => `EFFECT_SMTP_${flag.toUpperCase().replaceAll("-", "_")}`

const describe = (flag: string, text: string, defaultText?: string) =>
  `${text}${defaultText === undefined ? "" : ` Default: ${defaultText}.`} Env: ${envName(flag)}.`

const integer = (flag: string, defaultValue: number, text: string) =>
  Options.integer(flag).pipe(
    Options.withDescription(describe(flag, text, String(defaultValue))),
    Options.withFallbackConfig(Config.integer(envName(flag))),
    Options.withDefault(defaultValue)
  )

const optionalInteger = (flag: string, text: string) =>
  Options.integer(flag).pipe(
    Options.withDescription(describe(flag, text)),
    Options.optional,
    Options.withFallbackConfig(Config.map(Config.integer(envName(flag)), Option.some))
  )

const text = (flag: string, defaultValue: string, description: string) =>
  Options.text(flag).pipe(
    Options.withDescription(describe(flag, description, defaultValue)),
    Options.withFallbackConfig(Config.string(envName(flag))),
    Options.withDefault(defaultValue)
  )

const optionalText = (flag: string, description: string, defaultText?: string) =>
  Options.text(flag).pipe(
    Options.withDescription(describe(flag, description, defaultText)),
    Options.optional,
    Options.withFallbackConfig(Config.map(Config.string(envName(flag)), Option.some))
  )

const boolean = (flag: string, description: string) =>
  Options.boolean(flag).pipe(
    Options.withDescription(describe(flag, description, "off")),
    Options.withFallbackConfig(Config.boolean(envName(flag)))
  )

// A repeated flag never reports itself missing, so the environment is consulted by hand:
// EFFECT_SMTP_USER holds a comma-separated list.
const users = Options.text("user").pipe(
  Options.withDescription(
    "A login, as name:password; repeat for more. Given any, AUTH (PLAIN, LOGIN, CRAM-MD5) is required " +
      `to send mail, after STARTTLS. Env: ${envName("user")} (comma-separated).`
  ),
  Options.repeated,
  Options.mapEffect((given) =>
    given.length > 0
      ? Effect.succeed(given)
      : Config.array(Config.string(), envName("user")).pipe(
        Config.withDefault([] as Array<string>),
        Effect.mapError((error) => ValidationError.invalidValue(HelpDoc.p(String(error))))
      )
  )
)

/** The log formats: one human-readable line per event, or one JSON object per line. */
export const logFormats = ["pretty", "json"] as const

/** Every flag of `serve`, parsed but not yet checked. */
export const options = {
  port: integer("port", 2525, "TCP port to listen on; 0 picks a free one."),
  host: text("host", "127.0.0.1", "Interface to listen on; 0.0.0.0 for all."),
  maildir: text("maildir", "./mail", "Maildir that every accepted message is written to; created when missing."),
  name: optionalText("name", "Server name in the greeting and the Received header.", "this host's name"),
  size: integer("size", 26_214_400, "Largest message in bytes, advertised with SIZE; 0 for no limit."),
  maxClients: integer("max-clients", 100, "Most connections at once; 0 for no limit."),
  closeTimeout: integer("close-timeout", 30_000, "Milliseconds sessions get to finish on shutdown."),
  tlsKey: optionalText("tls-key", "PEM private key file for TLS; with --tls-cert. Without both, a built-in development certificate is used."),
  tlsCert: optionalText("tls-cert", "PEM certificate chain file for TLS; with --tls-key."),
  secure: boolean("secure", "Implicit TLS (port 465 style) instead of STARTTLS."),
  users,
  lmtp: boolean("lmtp", "Speak LMTP (RFC 2033) instead of SMTP."),
  proxy: boolean("proxy", "Expect a HAProxy PROXY header (v1 or v2) before each connection."),
  logFormat: Options.choice("log-format", logFormats).pipe(
    Options.withDescription(describe("log-format", "pretty: one line per event; json: one JSON object per line.", "pretty")),
    Options.withFallbackConfig(Config.literal(...logFormats)(envName("log-format"))),
    Options.withDefault("pretty" as const)
  ),
  metricsPort: optionalInteger("metrics-port", "Serve Prometheus metrics over HTTP at /metrics on this port; 0 picks a free one. Off unless given."),
  metricsHost: text("metrics-host", "127.0.0.1", "Interface for the metrics endpoint.")
}

/** The flags as parsed. */
export type Parsed = {
  readonly [K in keyof typeof options]: (typeof options)[K] extends Options.Options<infer A> ? A : never
}

/** What the server runs with: every flag checked, files read. */
export interface Settings {
  readonly port: number
  readonly host: string
  readonly maildir: string
  readonly name: string
  readonly size: number
  readonly maxClients: number
  readonly closeTimeout: number
  /** PEM key and certificate, and their files, when both were given; otherwise the development certificate applies. */
  readonly tls: {
    readonly key: string
    readonly cert: string
    readonly keyFile: string
    readonly certFile: string
  } | undefined
  readonly secure: boolean
  readonly users: ReadonlyArray<Users.User>
  readonly lmtp: boolean
  readonly proxy: boolean
  readonly logFormat: (typeof logFormats)[number]
  readonly metrics: { readonly port: number; readonly host: string } | undefined
}

// How a flag is named in messages: both ways it can be given.
const named = (flag: string) => `--${flag} (${envName(flag)})`

const check = (ok: boolean, message: () => string): Effect.Effect<void, StartupError> =>
  ok ? Effect.void : Effect.fail(StartupError.badValue(message()))

const inRange = (flag: string, value: number, min: number, max: number) =>
  check(value >= min && value <= max, () => `${named(flag)} must be between ${min} and ${max}, got ${value}`)

const readPem = (fs: FileSystem.FileSystem, flag: string, path: string) =>
  fs.readFileString(path).pipe(
    Effect.mapError((error) =>
      StartupError.badValue(`${named(flag)}: cannot read ${path}: ${describePlatformError(error)}`, error)
    ),
    // TLS takes an empty key as none given and would quietly use the development certificate.
    Effect.filterOrFail((pem) => pem.trim() !== "", () => StartupError.badValue(`${named(flag)}: ${path} is empty`))
  )

/** Checks the parsed flags and reads the TLS files; fails with the first bad value. */
export const settings = (parsed: Parsed): Effect.Effect<Settings, StartupError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    yield* inRange("port", parsed.port, 0, 65_535)
    yield* check(parsed.host.trim() !== "", () => `${named("host")} must not be empty`)
    yield* check(parsed.maildir.trim() !== "", () => `${named("maildir")} must not be empty`)
    yield* inRange("size", parsed.size, 0, Number.MAX_SAFE_INTEGER)
    yield* inRange("max-clients", parsed.maxClients, 0, Number.MAX_SAFE_INTEGER)
    yield* inRange("close-timeout", parsed.closeTimeout, 0, 2_147_483_647)
    if (Option.isSome(parsed.metricsPort)) yield* inRange("metrics-port", parsed.metricsPort.value, 0, 65_535)
    const name = Option.getOrElse(parsed.name, () => os.hostname()).trim()
    yield* check(name !== "" && !/\s/.test(name), () => `${named("name")} must be one word, got "${name}"`)

    yield* check(
      Option.isSome(parsed.tlsKey) === Option.isSome(parsed.tlsCert),
      () => `${named("tls-key")} and ${named("tls-cert")} go together: give both or neither`
    )
    const fs = yield* FileSystem.FileSystem
    const tls = Option.isSome(parsed.tlsKey) && Option.isSome(parsed.tlsCert)
      ? {
        key: yield* readPem(fs, "tls-key", parsed.tlsKey.value),
        cert: yield* readPem(fs, "tls-cert", parsed.tlsCert.value),
        keyFile: parsed.tlsKey.value,
        certFile: parsed.tlsCert.value
      }
      : undefined

    const users: Array<Users.User> = []
    for (const spec of parsed.users) {
      const user = Users.parse(spec)
      if (user === undefined) {
        return yield* StartupError.badValue(`${named("user")} takes name:password with both non-empty, got "${spec.split(":")[0]}:…"`)
      }
      yield* check(users.every((u) => u.name !== user.name), () => `${named("user")}: "${user.name}" is given twice`)
      users.push(user)
    }

    return {
      port: parsed.port,
      host: parsed.host.trim(),
      maildir: parsed.maildir,
      name,
      size: parsed.size,
      maxClients: parsed.maxClients,
      closeTimeout: parsed.closeTimeout,
      tls,
      secure: parsed.secure,
      users,
      lmtp: parsed.lmtp,
      proxy: parsed.proxy,
      logFormat: parsed.logFormat,
      metrics: Option.isSome(parsed.metricsPort)
        ? { port: parsed.metricsPort.value, host: parsed.metricsHost.trim() }
        : undefined
    }
  })

// The names `--log-level` takes (the flag itself is built into @effect/cli), for its variable.
const logLevels: ReadonlyArray<LogLevel.LogLevel> = LogLevel.allLevels

/**
 * The minimum log level from `EFFECT_SMTP_LOG_LEVEL`, with the names `--log-level` takes
 * (all, trace, debug, info, warning, error, fatal, none); info when unset. `--log-level` is
 * @effect/cli's built-in flag and wins over the variable.
 */
export const logLevelFromEnv: Effect.Effect<LogLevel.LogLevel, StartupError> = Config.string(envName("log-level")).pipe(
  Config.option,
  Effect.mapError((error) => StartupError.badValue(String(error))),
  Effect.flatMap(Option.match({
    onNone: () => Effect.succeed(LogLevel.Info),
    onSome: (value) => {
      const level = logLevels.find((l) => l._tag.toLowerCase() === value.trim().toLowerCase())
      return level !== undefined
        ? Effect.succeed(level)
        : Effect.fail(StartupError.badValue(
          `${envName("log-level")} must be one of ${logLevels.map((l) => l._tag.toLowerCase()).join(", ")}, got "${value}"`
        ))
    }
  }))
)

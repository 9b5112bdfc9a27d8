/**
 * `effect-smtp serve`: the development mail server, composed from the library's layers the way
 * an application would compose its own. The hooks are layers (the Maildir for the data hook,
 * `--user` logins for the auth hook, the defaults for the rest); `NodeSmtpServer.layer` serves
 * them; the metrics endpoint is another layer. Interruption (Ctrl-C, SIGTERM) closes the
 * layers in reverse: the server stops accepting and lets sessions finish within
 * `--close-timeout`, then the summary line is printed.
 */
import { Command } from "@effect/cli"
import type { FileSystem, Path } from "@effect/platform"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as os from "node:os"
import * as Hooks from "../core/Hooks.js"
import { SmtpError } from "../core/SmtpError.js"
import type * as Transport from "../core/Transport.js"
import * as NodeSmtpServer from "../node/NodeSmtpServer.js"
import * as Flags from "./Flags.js"
import * as Log from "./Log.js"
import * as Maildir from "./Maildir.js"
import * as MetricsServer from "./MetricsServer.js"
import { StartupError } from "./StartupError.js"
import * as Summary from "./Summary.js"
import * as Users from "./Users.js"

/** The data hook: each message into the Maildir, then one log line and a count; a failed write is 451 4.3.0. */
export const storeInMaildir: Layer.Layer<Hooks.OnData, never, Maildir.Maildir | Summary.Summary> = Layer.effect(
  Hooks.OnData,
  Effect.gen(function*() {
    const maildir = yield* Maildir.Maildir
    const summary = yield* Summary.Summary
    return (message, session) =>
      maildir.deliver(message, session).pipe(
        Effect.tap((delivered) => Effect.zipRight(summary.stored(delivered.size), Log.delivered(message.envelope, delivered))),
        Effect.catchTag("MaildirError", (error) =>
          Effect.zipRight(Effect.logError(error.message), Effect.fail(SmtpError.temporary("Error: cannot store the message now")))),
        Effect.asVoid
      )
  })
)

/** Every hook `serve` runs with: storage, logins when users are given, the defaults for the rest. */
export const hooks = (settings: Flags.Settings): Layer.Layer<Hooks.Hooks, never, Maildir.Maildir | Summary.Summary> =>
  Layer.mergeAll(
    storeInMaildir,
    settings.users.length > 0 ? Users.layer(settings.users) : Hooks.OnAuth.Default,
    Hooks.OnConnect.Default,
    Hooks.OnSecure.Default,
    Hooks.OnMailFrom.Default,
    Hooks.OnRcptTo.Default,
    Hooks.OnClose.Default
  )

/** The server's options from the settings. */
export const serverOptions = (settings: Flags.Settings): NodeSmtpServer.Options => ({
  port: settings.port,
  host: settings.host,
  name: settings.name,
  size: settings.size,
  maxClients: settings.maxClients,
  closeTimeout: settings.closeTimeout,
  lmtp: settings.lmtp,
  secure: settings.secure,
  useProxy: settings.proxy,
  // Without key and cert the built-in development certificate serves STARTTLS.
  ...(settings.tls === undefined ? {} : { key: settings.tls.key, cert: settings.tls.cert }),
  // With users, mail needs a login; the login needs TLS first (allowInsecureAuth stays off),
  // so passwords never cross in plaintext. Without users there is nothing to log in to.
  ...(settings.users.length > 0
    ? { authMethods: Users.mechanisms, authOptional: false, allowInsecureAuth: false }
    : { authMethods: [] })
})

/** The SMTP server with its hooks and Maildir; fails before listening on an unusable Maildir or TLS file. */
export const server = (
  settings: Flags.Settings
): Layer.Layer<NodeSmtpServer.SmtpServer, StartupError, Summary.Summary | FileSystem.FileSystem | Path.Path> =>
  NodeSmtpServer.layer(serverOptions(settings)).pipe(
    Layer.provide(hooks(settings)),
    Layer.provide(Maildir.layer(settings.maildir, { serverName: settings.name, lmtp: settings.lmtp, hostname: os.hostname() })),
    Layer.catchAll((error) => Layer.fail(startupError(error)))
  )

const startupError = (
  error: NodeSmtpServer.ListenError | Maildir.MaildirError | { readonly _tag: string; readonly message: string }
): StartupError => {
  switch (error._tag) {
    case "ListenError":
      return StartupError.listen(`cannot listen: ${error.message}`, error)
    case "MaildirError":
      return StartupError.badValue(`--maildir (${Flags.envName("maildir")}): ${error.message}`, error)
    case "SecureContextError":
      return StartupError.badValue(`--tls-key/--tls-cert: ${error.message}`, error)
    default:
      return StartupError.badValue(error.message, error)
  }
}

/** `host:port`, with brackets around an IPv6 address. */
export const formatAddress = (address: Transport.ListenAddress): string =>
  `${address.address.includes(":") ? `[${address.address}]` : address.address}:${address.port}`

/** What the server is set up to do, for the lines after the first. */
export const describe = (settings: Flags.Settings): ReadonlyArray<string> => {
  const lines = [`storing every message in the Maildir ${settings.maildir} (new/)`]
  const certificate = settings.tls === undefined
    ? "the built-in development certificate (clients must not verify it)"
    : `the certificate in ${settings.tls.certFile}`
  lines.push(settings.secure ? `implicit TLS with ${certificate}` : `STARTTLS with ${certificate}`)
  lines.push(
    settings.users.length > 0
      ? `AUTH required for mail: ${settings.users.length} user(s), ${Users.mechanisms.join(" ")}${
        settings.secure ? "" : ", after STARTTLS"
      }`
      : "no AUTH: mail from anyone is accepted"
  )
  if (settings.lmtp) lines.push("speaking LMTP (RFC 2033)")
  if (settings.proxy) lines.push("every connection must start with a PROXY header")
  return lines
}

/**
 * Runs the server until interrupted. The first line is `effect-smtp listening on host:port`
 * (the bound port, when 0 was asked for); on interruption, sessions finish, then the summary.
 */
export const run = (settings: Flags.Settings): Effect.Effect<void, StartupError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const summary = yield* Summary.Summary
    const listening = Effect.gen(function*() {
      const { address } = yield* NodeSmtpServer.SmtpServer
      yield* Effect.log(`effect-smtp listening on ${formatAddress(address)}`)
      for (const line of describe(settings)) yield* Effect.log(line)
      return yield* settings.metrics === undefined ? Effect.never : Layer.launch(MetricsServer.layer(settings.metrics))
    }).pipe(
      Effect.onInterrupt(() =>
        Effect.flatMap(NodeSmtpServer.SmtpServer, ({ stats }) =>
          Effect.log(
            `effect-smtp shutting down: ${stats.active} open session(s) get up to ${settings.closeTimeout} ms to finish`
          ))
      ),
      Effect.provide(server(settings))
    )
    yield* listening.pipe(
      Effect.onExit((exit) =>
        Exit.isInterrupted(exit) ? Effect.flatMap(summary.counts, (counts) => Effect.log(Summary.format(counts))) : Effect.void
      )
    )
  }).pipe(
    Effect.provide(Summary.Summary.Default),
    Effect.provide(Log.layer(settings.logFormat))
  )

/** The `serve` command: checks its flags, then runs. */
export const command = Command.make(
  "serve",
  Flags.options,
  (parsed) => Effect.flatMap(Flags.settings(parsed), run)
).pipe(
  Command.withDescription(
    "Run a development mail server that accepts every message and keeps it in a Maildir. " +
      "Every flag can also be set from its environment variable (EFFECT_SMTP_<FLAG>); the flag wins."
  )
)

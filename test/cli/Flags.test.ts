import { CliConfig, Options } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Flags from "../../src/cli/Flags.js"
import { StartupError } from "../../src/cli/StartupError.js"

// Parses `args` as `serve` would, with `env` as the whole environment.
const parse = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Options.processCommandLine(Options.all(Flags.options), args, CliConfig.defaultConfig).pipe(
    Effect.map(([, , parsed]) => parsed),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
    Effect.provide(NodeContext.layer)
  )

const settings = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.flatMap(parse(args, env), Flags.settings).pipe(Effect.provide(NodeContext.layer))

const failure = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.map(Effect.flip(settings(args, env)), (error) => {
    assert.instanceOf(error, StartupError)
    return { message: error.message, exitCode: error.exitCode }
  })

describe("Flags", () => {
  it.effect("defaults: 127.0.0.1:2525, ./mail, this host's name, 25 MiB, 100 clients, no TLS files, no users", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* settings([]), {
        port: 2525,
        host: "127.0.0.1",
        maildir: "./mail",
        name: os.hostname(),
        size: 26_214_400,
        maxClients: 100,
        closeTimeout: 30_000,
        tls: undefined,
        secure: false,
        users: [],
        lmtp: false,
        proxy: false,
        logFormat: "pretty",
        metrics: undefined
      })
    }))

  it.effect("takes each flag from the environment when not on the command line, and the flag wins", () =>
    Effect.gen(function*() {
      const env = {
        EFFECT_SMTP_PORT: "2600",
        EFFECT_SMTP_HOST: "0.0.0.0",
        EFFECT_SMTP_MAILDIR: "/var/mail/dev",
        EFFECT_SMTP_NAME: "mx.test",
        EFFECT_SMTP_SIZE: "1000",
        EFFECT_SMTP_MAX_CLIENTS: "5",
        EFFECT_SMTP_CLOSE_TIMEOUT: "0",
        EFFECT_SMTP_SECURE: "true",
        EFFECT_SMTP_USER: "alice:pw,bob:pw2",
        EFFECT_SMTP_LMTP: "true",
        EFFECT_SMTP_PROXY: "true",
        EFFECT_SMTP_LOG_FORMAT: "json",
        EFFECT_SMTP_METRICS_PORT: "9464",
        EFFECT_SMTP_METRICS_HOST: "::1"
      }
      const fromEnv = yield* settings([], env)
      assert.deepStrictEqual({ ...fromEnv, users: fromEnv.users.map((u) => u.name) }, {
        port: 2600,
        host: "0.0.0.0",
        maildir: "/var/mail/dev",
        name: "mx.test",
        size: 1000,
        maxClients: 5,
        closeTimeout: 0,
        tls: undefined,
        secure: true,
        users: ["alice", "bob"],
        lmtp: true,
        proxy: true,
        logFormat: "json",
        metrics: { port: 9464, host: "::1" }
      })
      const flagged = yield* settings(["--port", "2700", "--user", "carol:pw", "--log-format", "pretty", "--metrics-port", "0"], env)
      assert.deepStrictEqual([flagged.port, flagged.users.map((u) => u.name), flagged.logFormat, flagged.metrics], [
        2700,
        ["carol"],
        "pretty",
        { port: 0, host: "::1" }
      ])
    }))

  it.effect("reads the TLS key and certificate files", () =>
    Effect.gen(function*() {
      const key = new URL("../fixtures/test-only-mx-a.key", import.meta.url).pathname
      const cert = new URL("../fixtures/test-only-mx-a.crt", import.meta.url).pathname
      const { tls } = yield* settings(["--tls-key", key, "--tls-cert", cert])
      assert.isTrue(tls!.key.startsWith("-----BEGIN"))
      assert.isTrue(tls!.cert.startsWith("-----BEGIN CERTIFICATE-----"))
      assert.deepStrictEqual([tls!.keyFile, tls!.certFile], [key, cert])
    }))

  it.effect.each([
    [["--port", "65536"], {}, "--port (EFFECT_SMTP_PORT) must be between 0 and 65535, got 65536"],
    [[], { EFFECT_SMTP_PORT: "-1" }, "--port (EFFECT_SMTP_PORT) must be between 0 and 65535, got -1"],
    [["--size", "-5"], {}, "--size (EFFECT_SMTP_SIZE) must be between 0 and 9007199254740991, got -5"],
    [["--metrics-port", "70000"], {}, "--metrics-port (EFFECT_SMTP_METRICS_PORT) must be between 0 and 65535, got 70000"],
    [["--host", " "], {}, "--host (EFFECT_SMTP_HOST) must not be empty"],
    [["--name", "two words"], {}, "--name (EFFECT_SMTP_NAME) must be one word, got \"two words\""],
    [["--tls-key", "k.pem"], {}, "--tls-key (EFFECT_SMTP_TLS_KEY) and --tls-cert (EFFECT_SMTP_TLS_CERT) go together: give both or neither"],
    [["--user", "alice"], {}, "--user (EFFECT_SMTP_USER) takes name:password with both non-empty, got \"alice:…\""],
    [["--user", "alice:a", "--user", "alice:b"], {}, "--user (EFFECT_SMTP_USER): \"alice\" is given twice"]
  ] as const)("refuses %j %j with exit code 2", ([args, env, message]) =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* failure(args, env), { message, exitCode: 2 })
    }))

  it.effect("names the file it cannot read", () =>
    Effect.gen(function*() {
      const { exitCode, message } = yield* failure(["--tls-key", "/nonexistent/k.pem", "--tls-cert", "/nonexistent/c.pem"])
      assert.strictEqual(exitCode, 2)
      assert.strictEqual(
        message,
        "--tls-key (EFFECT_SMTP_TLS_KEY): cannot read /nonexistent/k.pem: ENOENT: no such file or directory, open '/nonexistent/k.pem'"
      )
    }))

  it.effect("refuses an empty key file, which TLS would take as no key at all", () =>
    Effect.gen(function*() {
      const empty = path.join(os.tmpdir(), `effect-smtp-empty-${process.pid}.pem`)
      fs.writeFileSync(empty, "")
      const result = yield* Effect.ensuring(failure(["--tls-key", empty, "--tls-cert", empty]), Effect.sync(() => fs.rmSync(empty)))
      assert.deepStrictEqual(result, { message: `--tls-key (EFFECT_SMTP_TLS_KEY): ${empty} is empty`, exitCode: 2 })
    }))

  it.effect("fails to parse a value of the wrong type, from a flag or the environment", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* Effect.flip(parse(["--port", "abc"])))._tag, "InvalidValue")
      assert.strictEqual((yield* Effect.flip(parse([], { EFFECT_SMTP_LMTP: "maybe" })))._tag, "InvalidValue")
    }))

  it.effect("reads the log level from EFFECT_SMTP_LOG_LEVEL with the names --log-level takes", () =>
    Effect.gen(function*() {
      const withEnv = (env: Record<string, string>) =>
        Flags.logLevelFromEnv.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
      assert.strictEqual(yield* withEnv({}), LogLevel.Info)
      assert.strictEqual(yield* withEnv({ EFFECT_SMTP_LOG_LEVEL: "warning" }), LogLevel.Warning)
      assert.strictEqual(yield* withEnv({ EFFECT_SMTP_LOG_LEVEL: "NONE" }), LogLevel.None)
      const error = yield* Effect.flip(withEnv({ EFFECT_SMTP_LOG_LEVEL: "loud" }))
      assert.strictEqual(
        error.message,
        "EFFECT_SMTP_LOG_LEVEL must be one of all, trace, debug, info, warning, error, fatal, none, got \"loud\""
      )
    }))
})

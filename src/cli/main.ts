/**
 * The `effect-smtp` command (`npm start` runs `effect-smtp serve`). Exit codes: 0 after a
 * normal run or a graceful shutdown, 2 for a bad flag or environment value, 1 when a port
 * cannot be bound or anything unexpected fails. Failures are one line on standard error.
 */
import { Command, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as Flags from "./Flags.js"
import * as Log from "./Log.js"
import * as Serve from "./Serve.js"
import { StartupError } from "./StartupError.js"

/** The root command; `serve` is its only subcommand. */
export const command = Command.make("effect-smtp").pipe(
  Command.withDescription("A declarative SMTP/LMTP server built on Effect."),
  Command.withSubcommands([Serve.command])
)

// src/cli/main.ts and dist/cli/main.js are both two levels below package.json.
const version = (JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string })
  .version

// @effect/cli prints what is wrong with a flag as a paragraph (and a blank line) on stderr:
// made one line like every other failure.
const oneLineErrors = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.console, (console) =>
    Effect.withConsole(effect, {
      ...console,
      error: (...args: ReadonlyArray<unknown>) =>
        console.error(`effect-smtp: ${args.map(String).join(" ").replace(/\x1b\[[0-9;]*m/g, "").replace(/\s+/g, " ").trim()}`)
    }))

/** Runs the command line `argv` (as `process.argv`: runtime, script, then arguments). */
export const cli = (argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    // The variable sets the default level; @effect/cli's own --log-level flag, applied inside, wins.
    const level = yield* Flags.logLevelFromEnv
    yield* Command.run(command, { name: "effect-smtp", version })(argv).pipe(
      Logger.withMinimumLogLevel(level),
      oneLineErrors
    )
  })

// @effect/cli has already printed what was wrong with a flag; a StartupError is printed here.
const report = (error: unknown) =>
  error instanceof StartupError ? Console.error(`effect-smtp: ${error.message}`) : Effect.void

const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return 0
  const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
  if (failure instanceof StartupError) return failure.exitCode
  if (ValidationError.isValidationError(failure)) return 2
  return 1
}

// runMain stops the server gracefully on the first SIGINT/SIGTERM, then leaves the signals to
// Node's default, which kills the process at once. Under `npm start` one Ctrl-C reaches the
// server several times (the terminal signals the whole process group, and npm and tsx relay it),
// which would cut the graceful shutdown short. Repeats within a second are that one request and
// are ignored; a signal after that is someone asking again, and stops the process now.
const repeatWindowMillis = 1_000
let firstSignal: number | undefined
const onSignal = (signal: NodeJS.Signals) => {
  const now = Date.now()
  if (firstSignal === undefined) firstSignal = now
  else if (now - firstSignal > repeatWindowMillis) {
    process.stderr.write(`effect-smtp: ${signal} again, stopping without waiting for sessions\n`)
    process.exit(130)
  }
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)

cli(process.argv).pipe(
  Effect.tapError(report),
  Effect.tapDefect((defect) => Console.error(`effect-smtp: unexpected failure: ${Cause.pretty(Cause.die(defect))}`)),
  Effect.provide(NodeContext.layer),
  // Until a command chooses its format, logs are plain lines.
  Effect.provide(Log.layer("pretty")),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) => onExit(exitCode(exit))
  })
)

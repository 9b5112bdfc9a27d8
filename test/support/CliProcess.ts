/**
 * The CLI as a child process, for end-to-end tests: spawned in a scope (killed with it if
 * still running), its output collected, lines awaited by pattern within a time limit.
 *
 * `npmStart` runs exactly what the README says, `npm start -- <args>`; npm and tsx each put a
 * process between the test and the server, so it runs in a process group of its own and
 * signals go to the group (the server tolerates the repeats, as it does for a terminal's
 * Ctrl-C). `node` runs the same entry in one process (`node --import tsx src/cli/main.ts`),
 * for tests that signal the server alone and read its exit code.
 */
import { Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** The repository root: where `npm start` runs. */
export const root = path.resolve(import.meta.dirname, "../..")

/** How a process ended. */
export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** One running CLI. */
export interface CliProcess {
  readonly child: ChildProcess
  /** Standard output so far, as lines (ANSI colours removed). */
  readonly stdout: () => ReadonlyArray<string>
  /** Standard error so far. */
  readonly stderr: () => string
  /** The first stdout line matching `pattern` (waiting for it), or a failure when the process ends first or time runs out. */
  readonly line: (pattern: RegExp) => Effect.Effect<RegExpMatchArray, Error>
  /** Sends a signal to the server: the process group for `npmStart`, the process for `node`. */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Resolves once the process ended and its output is closed; fails when time runs out. */
  readonly exit: Effect.Effect<Exit, Error>
}

// Runs every test within this; a CLI that hangs fails its test instead of the suite.
const limit = "25 seconds"

// Variables that would change the defaults under test are not passed on.
const environment = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" }
  for (const name of Object.keys(env)) if (name.startsWith("EFFECT_SMTP_")) delete env[name]
  return env
}

const stripAnsi = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "")

const start = (
  command: string,
  args: ReadonlyArray<string>,
  group: boolean,
  env: Record<string, string>
): Effect.Effect<CliProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(command, args, {
        cwd: root,
        env: { ...environment(), ...env },
        detached: group,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      let err = ""
      let ended: Exit | undefined
      const listeners = new Set<() => void>()
      const notify = () => {
        for (const listener of [...listeners]) listener()
      }
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8")
        notify()
      })
      child.stderr!.on("data", (chunk: Buffer) => {
        err += chunk.toString("utf8")
      })
      child.on("close", (code, signal) => {
        ended = { code, signal }
        notify()
      })
      const lines = () => stripAnsi(out).split("\n").filter((l) => l !== "")
      const when = <A>(ready: () => A | undefined, what: string): Effect.Effect<A, Error> =>
        Effect.async<A, Error>((resume) => {
          const check = () => {
            const value = ready()
            if (value !== undefined) {
              listeners.delete(check)
              resume(Effect.succeed(value))
            } else if (ended !== undefined) {
              listeners.delete(check)
              resume(Effect.fail(new Error(`process ended (${JSON.stringify(ended)}) before ${what}:\n${out}\n${err}`)))
            }
          }
          listeners.add(check)
          check()
          return Effect.sync(() => listeners.delete(check))
        }).pipe(Effect.timeoutFail({ duration: limit, onTimeout: () => new Error(`timed out waiting for ${what}:\n${out}\n${err}`) }))
      const process_: CliProcess = {
        child,
        stdout: lines,
        stderr: () => err,
        line: (pattern) =>
          when(() => {
            for (const line of lines()) {
              const match = line.match(pattern)
              if (match) return match
            }
            return undefined
          }, `a line matching ${pattern}`),
        signal: (signal) =>
          Effect.sync(() => {
            if (ended === undefined && child.pid !== undefined) process.kill(group ? -child.pid : child.pid, signal)
          }),
        exit: Effect.async<Exit, Error>((resume) => {
          const check = () => {
            if (ended !== undefined) {
              listeners.delete(check)
              resume(Effect.succeed(ended))
            }
          }
          listeners.add(check)
          check()
          return Effect.sync(() => listeners.delete(check))
        }).pipe(Effect.timeoutFail({ duration: limit, onTimeout: () => new Error(`timed out waiting for the exit:\n${out}\n${err}`) }))
      }
      return { process: process_, isRunning: () => ended === undefined }
    }),
    ({ isRunning, process: cli }) =>
      Effect.sync(() => {
        // Only the process this test started (and, for npm, its own group) is ever killed.
        if (isRunning() && cli.child.pid !== undefined) process.kill(group ? -cli.child.pid : cli.child.pid, "SIGKILL")
      })
  ).pipe(Effect.map(({ process }) => process))

/** `npm start -- <args>`, as the README says. */
export const npmStart = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  start("npm", ["start", "--", ...args], true, env)

/** `node --import tsx src/cli/main.ts <args>`: the same entry as one process. */
export const node = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  start(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], false, env)

/** A temporary directory removed with the scope. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-smtp-cli-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

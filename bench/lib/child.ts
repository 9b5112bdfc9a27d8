/**
 * Child processes of the runner (servers, the load generator, the BDAT benchmark): started as
 * `node --import tsx` (or plain node for compiled code) through bash so the descriptor limit can be raised first, talked to by
 * JSON lines on stdout and plain lines on stdin, and stopped by their own pid.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"

// `--import tsx` resolves from the working directory: the package root, where node_modules is.
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/** The soft descriptor limit children get: 20,000, or the hard limit when that is lower. */
export const fdLimit: number = (() => {
  const wanted = 20_000
  try {
    const hard = execFileSync("bash", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim()
    return hard === "unlimited" ? wanted : Math.min(wanted, Number(hard))
  } catch {
    return 1024
  }
})()

/** A running child that prints JSON lines. */
export class Child {
  readonly process: ChildProcess
  readonly pid: number
  private readonly events: Array<unknown> = []
  private waiter: ((event: unknown) => void) | undefined
  private stderr = ""
  private exitCode: number | null | undefined = undefined
  private readonly exit: Promise<void>

  constructor(
    script: string,
    args: ReadonlyArray<string>,
    env: Record<string, string>,
    options: {
      readonly inheritStdout?: boolean
      readonly nodeArgs?: ReadonlyArray<string>
      /** False for compiled JavaScript: no TypeScript loader in the process. */
      readonly tsx?: boolean
    } = {}
  ) {
    const inheritStdout = options.inheritStdout ?? false
    const loader = options.tsx === false ? [] : ["--import", "tsx"]
    const node = [process.execPath, ...(options.nodeArgs ?? []), ...loader, script, ...args]
    this.process = spawn(
      "bash",
      ["-c", `ulimit -n ${fdLimit} 2>/dev/null; exec "$@"`, "bash", ...node],
      { cwd: packageRoot, env: { ...process.env, ...env }, stdio: ["pipe", inheritStdout ? "inherit" : "pipe", "pipe"] }
    )
    if (this.process.pid === undefined) throw new Error(`could not start ${script}`)
    this.pid = this.process.pid
    if (!inheritStdout) {
      readline.createInterface({ input: this.process.stdout! }).on("line", (line) => {
        if (!line.startsWith("{")) return
        let event: unknown
        try {
          event = JSON.parse(line)
        } catch {
          return
        }
        const waiter = this.waiter
        if (waiter === undefined) this.events.push(event)
        else {
          this.waiter = undefined
          waiter(event)
        }
      })
    }
    this.process.stderr!.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000)
    })
    this.exit = new Promise((resolve) => {
      this.process.once("exit", (code) => {
        this.exitCode = code
        const waiter = this.waiter
        this.waiter = undefined
        waiter?.(undefined)
        resolve()
      })
    })
  }

  /** The last few KB the child wrote on stderr. */
  get errorOutput(): string {
    return this.stderr
  }

  /** The next JSON line; fails after `timeoutMs` or when the child exits first. */
  next<A>(timeoutMs: number, what: string): Promise<A> {
    const queued = this.events.shift()
    if (queued !== undefined) return Promise.resolve(queued as A)
    if (this.exitCode !== undefined) return Promise.reject(this.failure(what, "exited"))
    return new Promise<A>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined
        reject(this.failure(what, `timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiter = (event) => {
        clearTimeout(timer)
        if (event === undefined) reject(this.failure(what, "exited"))
        else resolve(event as A)
      }
    })
  }

  /** Writes one line to the child's stdin. */
  send(line: string): void {
    this.process.stdin!.write(line + "\n")
  }

  /** Resolves when the child exits, with its exit code (null when killed by a signal). */
  async exited(): Promise<number | null> {
    await this.exit
    return this.exitCode ?? null
  }

  /** Ends the child: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.exitCode !== undefined) return
    this.process.kill("SIGTERM")
    const timer = setTimeout(() => this.process.kill("SIGKILL"), graceMs)
    await this.exit
    clearTimeout(timer)
  }

  private failure(what: string, how: string): Error {
    return new Error(`${what} (pid ${this.pid}) ${how} (exit ${this.exitCode}); stderr:\n${this.stderr}`)
  }
}

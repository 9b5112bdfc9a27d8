/**
 * What the runner tells a benchmark server (environment variables), and the line a server
 * prints once it listens. Every file in bench/servers/ reads the former and prints the latter.
 */

/** The configuration a server process is started with. */
export interface ServerEnv {
  /** Port on 127.0.0.1, chosen free by the runner. */
  readonly port: number
  /** Greeting delay in ms the runner asks for (a face that cannot honour it says so in its announcement). */
  readonly greetingDelay: number
  /** When set, the data hook reads the body at this many bytes per second instead of draining it. */
  readonly throttleBytesPerSecond: number | undefined
}

/** Reads `BENCH_PORT`, `BENCH_GREETING_DELAY` and `BENCH_THROTTLE_MIBPS`. */
export const read = (env: NodeJS.ProcessEnv = process.env): ServerEnv => {
  const port = Number(env.BENCH_PORT)
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new TypeError(`BENCH_PORT is not a port: ${env.BENCH_PORT}`)
  const greetingDelay = Number(env.BENCH_GREETING_DELAY ?? "100")
  const throttle = env.BENCH_THROTTLE_MIBPS === undefined ? undefined : Number(env.BENCH_THROTTLE_MIBPS) * 1024 * 1024
  return { port, greetingDelay, throttleBytesPerSecond: throttle }
}

/** The line a server prints on stdout when it accepts connections. */
export interface Listening {
  readonly event: "listening"
  /** Display name in the tables, e.g. "effect-smtp (Effect API)". */
  readonly name: string
  readonly port: number
  /** The greeting delay actually in force, in ms. */
  readonly greetingDelay: number
}

/** Prints the listening line the runner waits for. */
export const announce = (listening: Omit<Listening, "event">): void => {
  process.stdout.write(JSON.stringify({ event: "listening", ...listening }) + "\n")
}

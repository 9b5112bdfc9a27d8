/**
 * The contract between the runner and the load generator: the runner passes a `Spec` as JSON in
 * argv; the generator prints JSON lines on stdout — `ready` when it reaches the point where
 * measuring starts (then it waits for a line on stdin), and `result` at the end.
 */

/** Messages over long-lived connections, pipelined as clients do. */
export interface MessagesSpec {
  readonly kind: "messages"
  readonly port: number
  readonly connections: number
  readonly messageBytes: number
  /** Messages per connection before it QUITs and a new one opens (nodemailer's pool default is 100). */
  readonly perConnection: number
  /** Messages sent before `ready`, not measured (JIT warm-up, connections opened), within `warmupCapMs`. */
  readonly warmup: number
  readonly warmupCapMs: number
  /** Measured messages: the run stops at this count or `timeCapMs`, whichever comes first. */
  readonly count: number
  readonly timeCapMs: number
}

/** A new connection per message: connect, EHLO, one message, QUIT. */
export interface SessionsSpec {
  readonly kind: "sessions"
  readonly port: number
  /** Sessions running at once. */
  readonly concurrency: number
  readonly messageBytes: number
  /** Sessions before `ready`, not measured, within `warmupCapMs`. */
  readonly warmup: number
  readonly warmupCapMs: number
  readonly count: number
  readonly timeCapMs: number
}

/** Many connections that say EHLO and then wait. */
export interface IdleSpec {
  readonly kind: "idle"
  readonly port: number
  readonly connections: number
  /** Connections being opened at once (stays under the listen backlog). */
  readonly parallel: number
  readonly timeCapMs: number
}

/** What the generator is asked to do. */
export type Spec = MessagesSpec | SessionsSpec | IdleSpec

/** Printed when measuring can start; the generator then waits for a line on stdin. */
export interface Ready {
  readonly event: "ready"
  /** Idle: connections open and greeted. */
  readonly open?: number
}

/** Printed at the end. */
export interface Result {
  readonly event: "result"
  /** Messages accepted (250 after the body) while measuring. */
  readonly messages: number
  /** Message bytes accepted while measuring. */
  readonly bytes: number
  /** Seconds from `go` to the last reply. */
  readonly seconds: number
  /** Sessions: connect→221 latencies in ms, sorted. */
  readonly latenciesMs?: ReadonlyArray<number>
  /** Idle: connections that were open and greeted. */
  readonly open?: number
  /** Unexpected replies or dropped connections, counted; the first few described. */
  readonly errors: number
  readonly errorSamples: ReadonlyArray<string>
  /** True when the time cap stopped the run before the count was reached. */
  readonly capped: boolean
}

/** Anything the generator prints. */
export type Event = Ready | Result

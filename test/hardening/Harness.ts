/**
 * What the hardening suite shares: servers with recording hooks over the in-memory transport
 * (core, TestClock) and over real sockets on 127.0.0.1, and a journal of what the hooks saw.
 */
import { Context, Effect, Layer, Stream } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import { type Input, ServerConfig } from "../../src/core/ServerConfig.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as TestClient from "../../src/testing/TestClient.js"

/** What one data hook call saw: the envelope, every body byte, and how its stream ended. */
export interface Delivery {
  readonly from: string
  readonly to: ReadonlyArray<string>
  readonly body: Buffer
  /** undefined when the stream ended at the end of data; else the MessageError reason. */
  readonly error: string | undefined
}

/** An append-only record of hook events, in the order they happened. */
export interface Journal {
  readonly events: Array<string>
  readonly deliveries: Array<Delivery>
  /** Resolves once `event` has been recorded (at once if it already was). */
  readonly when: (event: string) => Effect.Effect<void>
  readonly add: (event: string) => Effect.Effect<void>
  /** How many times `event` was recorded. */
  readonly count: (event: string) => number
}

/** A new journal. */
export const journal = (): Journal => {
  const events: Array<string> = []
  const deliveries: Array<Delivery> = []
  const waiting = new Set<() => void>()
  const add = (event: string) =>
    Effect.sync(() => {
      events.push(event)
      for (const wake of [...waiting]) wake()
    })
  return {
    events,
    deliveries,
    add,
    count: (event) => events.filter((e) => e === event).length,
    when: (event) =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (!events.includes(event)) return
          waiting.delete(check)
          resume(Effect.void)
        }
        waiting.add(check)
        check()
        return Effect.sync(() => waiting.delete(check))
      })
  }
}

/** Reads a whole body, recording it (and how it ended) as a delivery; fails as the stream did. */
export const record = (log: Journal, message: Hooks.Message) =>
  Effect.gen(function*() {
    const pieces: Array<Uint8Array> = []
    const exit = yield* Effect.exit(Stream.runForEach(message.body, (piece) => Effect.sync(() => pieces.push(piece))))
    const error = exit._tag === "Failure" ? (exit.cause._tag === "Fail" ? exit.cause.error.reason : "other") : undefined
    log.deliveries.push({
      from: message.envelope.mailFrom?.address ?? "",
      to: message.envelope.rcptTo.map((r) => r.address),
      body: Buffer.concat(pieces),
      error
    })
    yield* log.add(error === undefined ? "data:complete" : `data:${error}`)
    return yield* exit
  })

/** The default recording hooks: every body is recorded, every close counted. */
export const recordingHooks = (log: Journal, hooks: Hooks.Implementations = {}): Hooks.Implementations => ({
  onData: (message) => record(log, message),
  onClose: () => log.add("close"),
  ...hooks
})

/** An in-memory server in the test's scope (closeTimeout 0, so the scope closes at once under TestClock). */
export const memoryServer = (config: Input = {}, hooks: Hooks.Implementations = {}) =>
  TestClient.server.pipe(
    Effect.provide(Layer.merge(ServerConfig.layer({ name: "mx.test", closeTimeout: 0, ...config }), Hooks.layer(hooks)))
  )

/** A Node server on 127.0.0.1 and a free port, in the test's scope. */
export const nodeServer = (options: Partial<NodeSmtpServer.Options> = {}, hooks: Hooks.Implementations = {}) =>
  Layer.build(
    NodeSmtpServer.layer({ port: 0, host: "127.0.0.1", name: "mx.test", closeTimeout: 0, ...options }).pipe(
      Layer.provide(Hooks.layer(hooks))
    )
  ).pipe(Effect.map(Context.get(NodeSmtpServer.SmtpServer)))

/** Live memory after full collections (vitest runs with --expose-gc). */
export const liveBytes = (): number => {
  const gc = (globalThis as { gc?: () => void }).gc
  // Twice: V8 frees the backing stores of dead ArrayBuffers concurrently after a collection,
  // and the next collection waits for that, so arrayBuffers then counts only live ones.
  gc?.()
  gc?.()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

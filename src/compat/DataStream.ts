/**
 * The message body `onData` reads: a Web `ReadableStream` (or, with `streamType: "node"`, a
 * Node `Readable`) built directly on the core's pull, never by converting another stream
 * (DESIGN: Web streams cost in Node). Each read runs the core's pull once and hands on one
 * chunk: the socket is read only as fast as the application reads.
 */
import { Cause, Effect, Exit, type Fiber, Runtime } from "effect"
import { Readable } from "node:stream"
import type * as Hooks from "../core/Hooks.js"
import type { MessageError } from "../core/SmtpError.js"

/** One message body being pulled for a stream: at most one pull at a time. */
export class BodySource {
  private fiber: Fiber.RuntimeFiber<ReadonlyArray<Uint8Array> | undefined, MessageError> | undefined
  private waiters: Array<() => void> = []
  private finished = false
  private readonly run: (
    effect: Effect.Effect<ReadonlyArray<Uint8Array> | undefined, MessageError>
  ) => Fiber.RuntimeFiber<ReadonlyArray<Uint8Array> | undefined, MessageError>
  /** Told when the connection broke or timed out under a read: the data hook ends without waiting for the callback. */
  onBroken: ((error: MessageError) => void) | undefined = undefined

  constructor(private readonly message: Hooks.Message, runtime: Runtime.Runtime<never>) {
    this.run = Runtime.runFork(runtime)
  }

  /** Body bytes received so far. */
  get byteLength(): number {
    return this.message.byteLength
  }

  /** True once the body passed the size limit. */
  get sizeExceeded(): boolean {
    return this.message.sizeExceeded
  }

  /** Reads the next chunk and calls back with it, with `undefined` at the end, or with the error that broke the stream. */
  pull(onResult: (chunk: Uint8Array | undefined, error?: Error) => void): void {
    if (this.finished) return onResult(undefined)
    const fiber = this.run(this.message.pull)
    this.fiber = fiber
    fiber.addObserver((exit) => {
      this.fiber = undefined
      if (Exit.isSuccess(exit)) {
        const pieces = exit.value
        if (pieces === undefined) {
          this.finished = true
          onResult(undefined)
        } else {
          // Few and large chunks: the pieces of one socket read become one.
          onResult(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces as Array<Uint8Array>))
        }
      } else {
        this.finished = true
        const failure = Cause.failureOption(exit.cause)
        const reason = failure._tag === "Some" ? failure.value.reason : "Disconnected"
        // Past the size limit (with rejectOversized) or a refused line ending, the core answers: the stream just ends.
        if (reason === "SizeExceeded" || reason === "BareLineEnding") {
          onResult(undefined)
        } else {
          if (failure._tag === "Some") this.onBroken?.(failure.value)
          onResult(undefined, brokenError(reason === "Timeout"))
        }
      }
      const waiters = this.waiters
      this.waiters = []
      for (const wake of waiters) wake()
    })
  }

  /** Stops handing out chunks: the callback has answered, and the core reads the rest. */
  finish(): void {
    this.finished = true
  }

  /** Completes when no pull is running, so the core can read the rest of the body alone. */
  readonly idle: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.fiber === undefined) return resume(Effect.void)
    this.waiters.push(() => resume(Effect.void))
  })

  /** Interrupts a running pull: the session is being shut down. */
  interrupt(): void {
    const fiber = this.fiber
    if (fiber !== undefined) fiber.unsafeInterruptAsFork(fiber.id())
  }
}

// The error a stream ends with when the client went away, as smtp-server reports it.
const brokenError = (timeout: boolean): Error =>
  Object.assign(
    new Error(timeout ? "Timeout - closing connection" : "Connection closed before the message was received in full"),
    { code: timeout ? "ETIMEDOUT" : "ECONNECTION" }
  )

/** The Web `ReadableStream` onData receives, with counters that update while it is read. */
export class WebDataStream extends ReadableStream<Uint8Array> {
  readonly #source: BodySource

  constructor(source: BodySource) {
    super({
      pull: (controller) =>
        new Promise<void>((resolve) => {
          source.pull((chunk, error) => {
            if (error !== undefined) controller.error(error)
            else if (chunk === undefined) controller.close()
            else controller.enqueue(chunk)
            resolve()
          })
        })
    }, { highWaterMark: 0 })
    this.#source = source
  }

  /** Body bytes received so far. */
  get byteLength(): number {
    return this.#source.byteLength
  }

  /** True once the body passed `size`; the stream then ends early. */
  get sizeExceeded(): boolean {
    return this.#source.sizeExceeded
  }
}

/** The Node `Readable` onData receives with `streamType: "node"`, as smtp-server's stream. */
export class NodeDataStream extends Readable {
  readonly #source: BodySource

  constructor(source: BodySource) {
    super()
    this.#source = source
  }

  override _read(): void {
    this.#source.pull((chunk, error) => {
      // An 'error' nobody listens to would crash the process: then the stream just closes.
      if (error !== undefined) this.destroy(this.listenerCount("error") > 0 ? error : undefined)
      else this.push(chunk ?? null)
    })
  }

  /** Body bytes received so far. */
  get byteLength(): number {
    return this.#source.byteLength
  }

  /** True once the body passed `size`; the stream then ends early. */
  get sizeExceeded(): boolean {
    return this.#source.sizeExceeded
  }
}

/**
 * The message body `onData` reads: a Web `ReadableStream` (or, with `streamType: "node"`, a
 * Node `Readable`) built directly on the core's pull, never by converting another stream
 * (DESIGN: Web streams cost in Node). Each read runs the core's pull once and hands on one
 * chunk: the socket is read only as fast as the application reads.
 */
import { Cause, Effect, Option } from "effect"
import { Readable } from "node:stream"
import type * as Hooks from "../core/Hooks.js"
import type { MessageError, SmtpError } from "../core/SmtpError.js"

/** What the data hook ends with: the callback's verdict, or why the body broke. */
export type Verdict = Effect.Effect<Hooks.DataResult, SmtpError | MessageError>

type Delivery = (chunk: Uint8Array | undefined, error?: Error) => void

/**
 * One message body being read for a stream. The data hook's own fiber serves the stream:
 * it waits for a read or for the callback's verdict, runs the core's pull for a read, and
 * ends with the verdict. So there is one pull at a time, no fiber per read, and no read is
 * under way once the hook returns and the core drains the rest.
 */
export class BodySource {
  private request: Delivery | undefined = undefined
  private verdict: Verdict | undefined = undefined
  private wake: (() => void) | undefined = undefined
  private finished = false

  /** Handles what the application's stream handlers throw while a chunk is handed on. */
  failed: (error: unknown) => void = () => {}

  constructor(private readonly message: Hooks.Message) {}

  /** Body bytes received so far. */
  get byteLength(): number {
    return this.message.byteLength
  }

  /** True once the body passed the size limit. */
  get sizeExceeded(): boolean {
    return this.message.sizeExceeded
  }

  /** Asks for the next chunk: `deliver` gets it, `undefined` at the end, or the error that broke the stream. */
  pull(deliver: Delivery): void {
    if (this.finished) return this.hand(deliver, undefined)
    this.request = deliver
    this.resume()
  }

  /** The callback answered: the hook ends with `verdict`; later reads see the end. */
  settle(verdict: Verdict): void {
    if (this.verdict !== undefined) return
    this.verdict = verdict
    this.finished = true
    this.resume()
  }

  /** The data hook: serves reads until the verdict. */
  readonly serve: Verdict = Effect.suspend(() => this.step()).pipe(
    Effect.onInterrupt(() =>
      Effect.sync(() => {
        // Shutdown: a reader still waiting learns that the connection is gone.
        this.finished = true
        const request = this.request
        this.request = undefined
        if (request !== undefined) this.hand(request, undefined, brokenError(false))
      })
    )
  )

  private step(): Verdict {
    const verdict = this.verdict
    if (verdict !== undefined) {
      const request = this.request
      this.request = undefined
      if (request !== undefined) this.hand(request, undefined)
      return verdict
    }
    const request = this.request
    if (request === undefined) {
      return Effect.zipRight(
        Effect.async<void>((resume) => {
          this.wake = () => resume(Effect.void)
          return Effect.sync(() => {
            this.wake = undefined
          })
        }),
        Effect.suspend(() => this.step())
      )
    }
    this.request = undefined
    return Effect.matchCauseEffect(this.message.pull, {
      onSuccess: (pieces) => {
        if (pieces === undefined) {
          this.finished = true
          this.hand(request, undefined)
        } else {
          // Few and large chunks: the pieces of one socket read become one.
          this.hand(request, pieces.length === 1 ? pieces[0] : Buffer.concat(pieces as Array<Uint8Array>))
        }
        return this.step()
      },
      onFailure: (cause) => {
        this.finished = true
        const failure = Cause.failureOption(cause)
        if (Option.isNone(failure)) {
          this.hand(request, undefined, brokenError(false))
          return Effect.failCause(cause)
        }
        // Past the size limit (with rejectOversized) or a refused line ending, the core answers: the stream just ends.
        if (failure.value.reason === "SizeExceeded" || failure.value.reason === "BareLineEnding") {
          this.hand(request, undefined)
          return this.step()
        }
        // The client left or timed out: no reply can be sent, so the hook ends without waiting for the callback.
        this.hand(request, undefined, brokenError(failure.value.reason === "Timeout"))
        return Effect.fail(failure.value)
      }
    })
  }

  private resume(): void {
    const wake = this.wake
    if (wake !== undefined) {
      this.wake = undefined
      wake()
    }
  }

  // A Node stream runs 'data' handlers inside push: what they throw is the application's failure, not the hook's.
  private hand(deliver: Delivery, chunk: Uint8Array | undefined, error?: Error): void {
    try {
      deliver(chunk, error)
    } catch (thrown) {
      this.failed(thrown)
    }
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

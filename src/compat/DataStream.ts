/**
 * The message body `onData` reads: a Web `ReadableStream` (or, with `streamType: "node"`, a
 * Node `Readable`) built directly on the core's pull, never by converting another stream
 * (DESIGN: Web streams cost in Node). The data hook's fiber pulls a chunk whenever the stream
 * has room for one, and hands it on: the socket is read only as fast as the application reads,
 * give or take the one chunk the stream may hold.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Readable } from "node:stream"
import type * as Hooks from "../core/Hooks.js"
import type { MessageError, SmtpError } from "../core/SmtpError.js"

/** What the data hook ends with: the callback's verdict, or why the body broke. */
export type Verdict = Effect.Effect<Hooks.DataResult, SmtpError | MessageError>

/** The stream a body source fills. */
interface Sink {
  /** True while the stream has room for another chunk. */
  readonly wants: () => boolean
  /** Hands on one chunk. */
  readonly chunk: (data: Uint8Array) => void
  /** Ends the stream: at the end of the body, or with the error that broke it. */
  readonly end: (error?: Error) => void
}

/** The callback call a body source serves. */
export interface Owner {
  /** Handles what the application's stream handlers throw while a chunk is handed on. */
  readonly failed: (error: unknown) => void
  /** Told when the hook is interrupted (hookTimeout, shutdown): the callback's answer will not be used. */
  readonly cancel: () => void
}

const noSink: Sink = { wants: () => false, chunk: () => {}, end: () => {} }

/**
 * One message body being read for a stream. The data hook's own fiber serves the stream: it
 * pulls while the stream wants more, waits for room or for the callback's verdict otherwise,
 * and ends with the verdict. So there is one pull at a time, no fiber per read, no wait at all
 * for a small message read at once, and no read under way once the hook returns and the core
 * drains the rest.
 */
export class BodySource {
  private sink: Sink = noSink
  private verdict: Verdict | undefined = undefined
  private wake: (() => void) | undefined = undefined
  // No more pulls: the body ended, broke, or the hook is ending.
  private finished = false

  constructor(private readonly message: Hooks.Message, private readonly owner: Owner) {}

  /** Body bytes received so far. */
  get byteLength(): number {
    return this.message.byteLength
  }

  /** True once the body passed the size limit. */
  get sizeExceeded(): boolean {
    return this.message.sizeExceeded
  }

  /** Connects the stream this source fills. */
  attach(sink: Sink): void {
    this.sink = sink
  }

  /** The stream has room again: pull on if the hook was waiting for it. */
  readonly demand = (): void => {
    this.resume()
  }

  /** The callback answered: the hook ends with `verdict`; later reads see the end. */
  settle(verdict: Verdict): void {
    if (this.verdict !== undefined) return
    this.verdict = verdict
    this.resume()
  }

  /** The data hook: serves the stream until the verdict. */
  readonly serve: Verdict = Effect.suspend(() => this.step()).pipe(
    Effect.onInterrupt(() =>
      Effect.sync(() => {
        this.owner.cancel()
        // Shutdown: a reader still waiting learns that the connection is gone.
        this.finish(brokenError(false))
      })
    )
  )

  #waiting: Verdict | undefined = undefined

  // Waits for room in the stream or for the verdict, then steps on. Built on first use: a small message read at once waits once.
  private get waiting(): Verdict {
    return this.#waiting ??= Effect.zipRight(
      Effect.async<void>((resume) => {
        this.wake = () => resume(Effect.void)
        return Effect.sync(() => {
          this.wake = undefined
        })
      }),
      Effect.suspend(() => this.step())
    )
  }

  private step(): Verdict {
    const verdict = this.verdict
    if (verdict !== undefined) {
      this.finish()
      return verdict
    }
    if (this.finished || !this.sink.wants()) return this.waiting
    return Effect.matchCauseEffect(this.message.pull, {
      onSuccess: (pieces) => {
        if (pieces === undefined) this.finish()
        // Few and large chunks: the pieces of one socket read become one.
        else this.hand(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces as Array<Uint8Array>))
        return this.step()
      },
      onFailure: (cause) => {
        const failure = Cause.failureOption(cause)
        if (Option.isNone(failure)) {
          this.finish(brokenError(false))
          return Effect.failCause(cause)
        }
        // Past the size limit (with rejectOversized) or a refused line ending, the core answers: the stream just ends.
        if (failure.value.reason === "SizeExceeded" || failure.value.reason === "BareLineEnding") {
          this.finish()
          return this.step()
        }
        // The client left or timed out: no reply can be sent, so the hook ends without waiting for the callback.
        this.finish(brokenError(failure.value.reason === "Timeout"))
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
  private hand(chunk: Uint8Array): void {
    try {
      this.sink.chunk(chunk)
    } catch (thrown) {
      this.owner.failed(thrown)
    }
  }

  // Ends the stream once: at the end of the body, at the verdict, or with the error that broke it.
  private finish(error?: Error): void {
    if (this.finished) return
    this.finished = true
    try {
      this.sink.end(error)
    } catch (thrown) {
      this.owner.failed(thrown)
    }
  }
}

// The error a stream ends with when the client went away, as smtp-server reports it.
const brokenError = (timeout: boolean): Error =>
  Object.assign(
    new Error(timeout ? "Timeout - closing connection" : "Connection closed before the message was received in full"),
    { code: timeout ? "ETIMEDOUT" : "ECONNECTION" }
  )

// Room for one chunk: the hook pulls the first one before the application asks, so a small
// message read at once is handed on without the hook waiting in between.
const oneChunk = { highWaterMark: 1 }

/** The Web `ReadableStream` onData receives, with counters that update while it is read. */
export class WebDataStream extends ReadableStream<Uint8Array> {
  readonly #source: BodySource

  constructor(source: BodySource) {
    let open = true
    super({
      start: (controller) => {
        source.attach({
          wants: () => open && (controller.desiredSize ?? 0) > 0,
          chunk: (data) => {
            if (open) controller.enqueue(data)
          },
          end: (error) => {
            if (!open) return
            open = false
            if (error !== undefined) controller.error(error)
            else controller.close()
          }
        })
      },
      pull: source.demand,
      cancel: () => {
        // The application stopped reading: the core drains the rest once the callback answers.
        open = false
      }
    }, oneChunk)
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
  #wanted = false

  constructor(source: BodySource) {
    super()
    this.#source = source
    source.attach({
      wants: () => this.#wanted && !this.destroyed,
      chunk: (data) => {
        this.#wanted = this.push(data)
      },
      end: (error) => {
        if (this.destroyed) return
        // An 'error' nobody listens to would crash the process: then the stream just closes.
        if (error !== undefined) this.destroy(this.listenerCount("error") > 0 ? error : undefined)
        else this.push(null)
      }
    })
  }

  override _read(): void {
    this.#wanted = true
    this.#source.demand()
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

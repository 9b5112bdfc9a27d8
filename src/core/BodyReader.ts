/**
 * Reads a message body off the connection for the data hook: a pull-based stream over the
 * body decoder, so the socket is read only as fast as the hook consumes. Whatever the hook
 * leaves unread is drained afterwards, and the bytes after the end of data go back to the
 * command framer.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { DataDecoder } from "../protocol/DataDecoder.js"
import type { ConnectionContext } from "./ConnectionContext.js"
import type * as Hooks from "./Hooks.js"
import * as Observability from "./Observability.js"
import type * as Session from "./Session.js"
import { MessageError } from "./SmtpError.js"
import * as Transport from "./Transport.js"

/** How reading the body ended, when it ended other than at the end-of-data marker. */
export type Ending = "complete" | "disconnected" | "timeout"

/** One message body being read. */
export class BodyReader {
  private readonly decoder: DataDecoder
  private pending: Uint8Array | undefined
  private detached = false
  /** Set once the body passed the configured size; later bytes are read and discarded. */
  sizeExceeded = false
  /** Why reading stopped; "complete" once the end-of-data marker was read. */
  ending: Ending | undefined = undefined

  constructor(private readonly ctx: ConnectionContext) {
    this.decoder = new DataDecoder(ctx.config.bareLineEndings)
    this.pending = ctx.framer.takeRemaining()
  }

  /** Body bytes received so far. */
  get byteLength(): number {
    return this.decoder.byteLength
  }

  /** True when the body broke the bare-line-ending policy "reject". */
  get rejectedLineEndings(): boolean {
    return this.ctx.config.bareLineEndings === "reject" && this.decoder.sawBareLineEnding
  }

  private body: Stream.Stream<Uint8Array, MessageError> | undefined = undefined

  /** The body as the data hook sees it; built when first asked for, as a hook that pulls never needs it. */
  get stream(): Stream.Stream<Uint8Array, MessageError> {
    return this.body ??= Stream.repeatEffectChunkOption(
      Effect.matchEffect(this.step, {
        onFailure: (error) => Effect.fail(Option.some(error)),
        onSuccess: (pieces) => (pieces === undefined ? Effect.fail(Option.none()) : Effect.succeed(Chunk.unsafeFromArray(pieces)))
      })
    )
  }

  /** One step of the body as `Hooks.Message.pull` gives it: the next pieces (never empty), or undefined at the end. */
  get next(): Effect.Effect<ReadonlyArray<Uint8Array> | undefined, MessageError> {
    return this.step
  }

  // Built once per message: a step decodes what is already received in plain code and costs an
  // Effect operation only to hand the pieces over, or to wait for the next chunk.
  private readonly step: Effect.Effect<ReadonlyArray<Uint8Array> | undefined, MessageError> = Effect.suspend(() =>
    this.stepNow()
  )

  private stepNow(): Effect.Effect<ReadonlyArray<Uint8Array> | undefined, MessageError> {
    for (;;) {
      if (this.detached || this.ending === "complete") return Effect.succeed(undefined)
      if (this.ending !== undefined) return Effect.fail(this.failure())
      const chunk = this.pending
      if (chunk === undefined) return Effect.flatMap(this.ctx.read, this.received)
      this.pending = undefined
      const pieces = this.decode(chunk)
      if (this.rejectedLineEndings) return Effect.fail(new MessageError({ reason: "BareLineEnding" }))
      if (this.sizeExceeded) {
        return this.ctx.config.rejectOversized ? Effect.fail(new MessageError({ reason: "SizeExceeded" })) : this.endAfterRest
      }
      // A chunk can decode to nothing (only the end marker): look again.
      if (pieces.length > 0) return Effect.succeed(pieces)
    }
  }

  private readonly received = (result: Transport.ReadResult) => {
    Observability.received(result)
    if (typeof result === "string") this.ending = result === Transport.TIMEOUT ? "timeout" : "disconnected"
    else this.pending = result
    return this.stepNow()
  }

  /** Stops the hook's view of the body and reads the rest to the end of data (or the end of the connection). */
  readonly drain: Effect.Effect<void> = Effect.suspend(() => {
    this.detached = true
    return this.restNow()
  })

  // Reads to the end of data (or of the input), counting and dropping what it reads.
  private readonly rest: Effect.Effect<void> = Effect.suspend(() => this.restNow())

  private restNow(): Effect.Effect<void> {
    if (this.ending !== undefined) return Effect.void
    return Effect.flatMap(this.nextChunk(), (chunk) => {
      if (chunk === undefined) return Effect.void
      this.decode(chunk)
      return this.rest
    })
  }

  // Past the limit when the hook decides (the facade's sizeExceeded contract, as smtp-server
  // keeps it): the body ends at the end of data, so byteLength is then the whole message's.
  private get endAfterRest(): Effect.Effect<undefined, MessageError> {
    return Effect.zipRight(
      this.rest,
      Effect.suspend(() => (this.ending === "complete" ? Effect.succeed(undefined) : Effect.fail(this.failure())))
    )
  }

  private failure(): MessageError {
    return new MessageError({ reason: this.ending === "timeout" ? "Timeout" : "Disconnected" })
  }

  private nextChunk(): Effect.Effect<Uint8Array | undefined> {
    const pending = this.pending
    if (pending !== undefined) {
      this.pending = undefined
      return Effect.succeed(pending)
    }
    return Effect.map(this.ctx.read, (result) => {
      Observability.received(result)
      if (typeof result !== "string") return result
      this.ending = result === Transport.TIMEOUT ? "timeout" : "disconnected"
      return undefined
    })
  }

  private decode(chunk: Uint8Array): Array<Uint8Array> {
    const pieces: Array<Uint8Array> = []
    const end = this.decoder.decode(chunk, 0, pieces)
    if (end >= 0) {
      this.ending = "complete"
      // Pipelined commands after the end of data go back to the command framer.
      if (end < chunk.length) this.ctx.framer.push(chunk.subarray(end))
    }
    const size = this.ctx.config.size
    if (size > 0 && this.decoder.byteLength > size) {
      // Past the limit nothing more is handed on: the rest is read and dropped, never buffered.
      this.sizeExceeded = true
      return []
    }
    return this.sizeExceeded ? [] : pieces
  }
}

/** What a body reader (DATA or BDAT) offers the message it hands the data hook. */
export interface Source {
  readonly stream: Stream.Stream<Uint8Array, MessageError>
  readonly next: Effect.Effect<ReadonlyArray<Uint8Array> | undefined, MessageError>
  readonly byteLength: number
  readonly sizeExceeded: boolean
}

/**
 * The message the data hook receives, over its reader. A class rather than an object literal
 * with getters: one per message, and its getters live on the prototype, not in closures.
 */
export class Message implements Hooks.Message {
  readonly pull: Effect.Effect<ReadonlyArray<Uint8Array> | undefined, MessageError>

  constructor(readonly envelope: Session.Envelope, private readonly reader: Source) {
    this.pull = reader.next
  }

  get body(): Stream.Stream<Uint8Array, MessageError> {
    return this.reader.stream
  }

  get byteLength(): number {
    return this.reader.byteLength
  }

  get sizeExceeded(): boolean {
    return this.reader.sizeExceeded
  }
}

/**
 * Turns a stream step (pieces, or `None` at the end) into `Hooks.Message.pull`'s shape: the next
 * non-empty pieces, or undefined at the end. Shared by the DATA and BDAT readers.
 */
export const stepOf = (
  pull: () => Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<MessageError>>
): Effect.Effect<ReadonlyArray<Uint8Array> | undefined, MessageError> => {
  const step: Effect.Effect<ReadonlyArray<Uint8Array> | undefined, MessageError> = Effect.matchEffect(
    Effect.suspend(pull),
    {
      onFailure: (error) => (Option.isNone(error) ? Effect.succeed(undefined) : Effect.fail(error.value)),
      // A chunk can decode to nothing (only the end marker, or bytes past the limit): read on.
      onSuccess: (chunk) => (Chunk.isEmpty(chunk) ? step : Effect.succeed(Chunk.toReadonlyArray(chunk)))
    }
  )
  return step
}

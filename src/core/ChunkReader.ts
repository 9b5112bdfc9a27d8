/**
 * Reads the BDAT chunks of one message (RFC 3030 §2) for the data hook: one pull-based stream
 * over the chunk decoder that spans every BDAT command of the message, so the socket is read
 * only as fast as the hook consumes. Between two chunks it answers the chunk just read and
 * reads the next command line itself, which in a pipelined stream is usually the next BDAT.
 * Whatever the hook leaves unread is drained the same way, and the bytes after the last
 * chunk go back to the command framer.
 */
import { Buffer } from "node:buffer"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { ChunkDecoder } from "../protocol/ChunkDecoder.js"
import { stepOf } from "./BodyReader.js"
import * as Command from "../protocol/Command.js"
import * as LineFramer from "../protocol/LineFramer.js"
import * as Reply from "../protocol/Reply.js"
import type { ConnectionContext } from "./ConnectionContext.js"
import * as Observability from "./Observability.js"
import { MessageError } from "./SmtpError.js"
import * as Transport from "./Transport.js"

/**
 * How the message ended: its last chunk was read ("complete"), a command between two chunks
 * ended it and was handed back to the connection ("abandoned"), or the input did.
 */
export type Ending = "complete" | "abandoned" | "disconnected" | "timeout"

/** The BDAT chunks of one message being read. */
export class ChunkReader {
  private readonly decoder: ChunkDecoder
  // Octets of the current chunk still to read, whether it is the last, and its declared size.
  private remaining = 0
  private last = false
  private chunkSize = 0
  // Octets declared by the message's BDAT commands so far (RFC 3030 §2: known before they arrive).
  private declared = 0
  private detached = false
  // What the hook's stream fails with from now on, once the server refused the body.
  private failure: MessageError | undefined = undefined
  /** The reply that refused the message; the chunks still coming are read, dropped and answered with it. */
  refused: Reply.Reply | undefined = undefined
  /** Set once the body passed the configured size; later octets are read and discarded. */
  sizeExceeded = false
  /** Why reading stopped; undefined while the message goes on. */
  ending: Ending | undefined = undefined

  constructor(
    private readonly ctx: ConnectionContext,
    /** Recipients of the transaction: in LMTP the last chunk gets one reply each (RFC 2033 §4.2). */
    private readonly recipients: number,
    /** BODY=BINARYMIME: no bare-line-ending policy applies. */
    binary: boolean,
    /** Stops the data hook when the client gives the message up while the hook reads it. */
    private readonly stopHook: Effect.Effect<void>
  ) {
    this.decoder = new ChunkDecoder(ctx.config.bareLineEndings, binary)
  }

  /** Body bytes received so far. */
  get byteLength(): number {
    return this.decoder.byteLength
  }

  /** True when the body broke the bare-line-ending policy "reject". */
  get rejectedLineEndings(): boolean {
    return this.ctx.config.bareLineEndings === "reject" && this.decoder.sawBareLineEnding
  }

  /** The body as the data hook sees it: the concatenated content of every chunk. */
  readonly stream: Stream.Stream<Uint8Array, MessageError> = Stream.repeatEffectChunkOption(
    Effect.suspend(() => this.pull())
  )

  /** Starts the chunk of a BDAT command; a zero-size chunk is complete at once. Returns body pieces it completes. */
  begin(size: number, last: boolean): Array<Uint8Array> {
    this.remaining = size
    this.last = last
    this.chunkSize = size
    this.declared += size
    const limit = this.ctx.config.size
    // The declared total is known before its octets arrive: refuse as soon as it passes the limit.
    if (limit > 0 && this.declared > limit) this.exceed()
    return size === 0 ? this.complete() : []
  }

  /** Refuses the message with the hook's (or the server's) reply; the first refusal stands. */
  refuse(reply: Reply.Reply, failure?: MessageError): void {
    if (this.refused === undefined) this.refused = reply
    if (failure !== undefined && this.failure === undefined) this.failure = failure
  }

  /** Stops the hook's view of the body and reads on to the end of the message (or of the input). */
  get drain(): Effect.Effect<void> {
    this.detached = true
    const loop: Effect.Effect<void> = Effect.suspend(() =>
      this.ending !== undefined ? Effect.void : Effect.flatMap(this.step(), () => loop)
    )
    return loop
  }

  /** One step of the body as `Hooks.Message.pull` gives it. */
  get next(): Effect.Effect<ReadonlyArray<Uint8Array> | undefined, MessageError> {
    return stepOf(() => this.pull())
  }

  // One step of the stream: the decoded pieces of the next read. Per read, never per byte.
  private pull(): Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<MessageError>> {
    if (this.detached) return Effect.fail(Option.none())
    if (this.failure !== undefined) return Effect.fail(Option.some(this.failure))
    if (this.ending === "complete") return Effect.fail(Option.none())
    if (this.ending === "abandoned") return Effect.never
    if (this.ending !== undefined) return Effect.fail(Option.some(this.inputFailure()))
    // As for DATA, past the limit when the facade lets the hook decide, the stream ends with
    // the message's last chunk, so byteLength is then the whole message's.
    if (this.sizeExceeded) return this.endAfterRest
    return Effect.flatMap(this.step(), (pieces) => {
      if (this.failure !== undefined) return Effect.fail(Option.some(this.failure))
      if (this.sizeExceeded) return this.endAfterRest
      return Effect.succeed(Chunk.unsafeFromArray(pieces))
    })
  }

  // Reads (counting and dropping) to the end of the message, then ends the stream.
  private readonly endAfterRest: Effect.Effect<never, Option.Option<MessageError>> = Effect.suspend(() => {
    if (this.ending === "complete") return Effect.fail(Option.none())
    if (this.ending !== undefined) return Effect.fail(Option.some(this.inputFailure()))
    return Effect.flatMap(this.step(), () => this.endAfterRest)
  })

  private inputFailure(): MessageError {
    return new MessageError({ reason: this.ending === "timeout" ? "Timeout" : "Disconnected" })
  }

  // Reads content while the current chunk has some left, else the command line after it.
  private step(): Effect.Effect<Array<Uint8Array>> {
    if (this.remaining > 0) {
      const buffered = this.ctx.framer.takeRemaining()
      if (buffered !== undefined) return Effect.succeed(this.take(buffered))
      return Effect.map(this.ctx.read, (result) => {
        Observability.received(result)
        if (typeof result !== "string") return this.take(result)
        this.ending = result === Transport.TIMEOUT ? "timeout" : "disconnected"
        return []
      })
    }
    return Effect.zipRight(this.ctx.flushIfFull, Effect.flatMap(this.ctx.nextLine, (item) => this.between(item)))
  }

  // Takes this chunk's share of `bytes`; the rest (the next command) goes back to the framer.
  private take(bytes: Uint8Array): Array<Uint8Array> {
    const n = Math.min(this.remaining, bytes.length)
    if (n < bytes.length) this.ctx.framer.push(bytes.subarray(n))
    this.remaining -= n
    const pieces: Array<Uint8Array> = []
    // A refused body is dropped unread; otherwise it is decoded even when no one listens, so
    // byteLength and the size and line-ending verdicts hold for a hook that stopped early.
    if (this.refused === undefined) {
      this.decoder.decode(n < bytes.length ? bytes.subarray(0, n) : bytes, pieces)
      this.check()
    }
    if (this.remaining === 0) pieces.push(...this.complete())
    return this.detached || this.refused !== undefined || this.sizeExceeded ? [] : pieces
  }

  private check(): void {
    const limit = this.ctx.config.size
    // Normalising bare line endings adds octets: the delivered size counts, as for DATA.
    if (limit > 0 && this.decoder.byteLength > limit) this.exceed()
    if (this.rejectedLineEndings) {
      this.refuse(Reply.table.bareLineEnding, new MessageError({ reason: "BareLineEnding" }))
    }
  }

  private exceed(): void {
    if (this.sizeExceeded) return
    this.sizeExceeded = true
    if (this.ctx.config.rejectOversized) {
      this.refuse(Reply.table.sizeExceeded(this.ctx.config.size), new MessageError({ reason: "SizeExceeded" }))
    }
  }

  // The current chunk is all in: answer it, unless it is the last of a message still accepted,
  // whose reply is the data hook's verdict.
  private complete(): Array<Uint8Array> {
    const pieces: Array<Uint8Array> = []
    if (this.last && this.refused === undefined) {
      this.decoder.end(pieces)
      this.check()
    }
    const refused = this.refused
    if (refused !== undefined) {
      const copies = this.last && this.ctx.config.lmtp ? Math.max(this.recipients, 1) : 1
      for (let i = 0; i < copies; i++) this.ctx.reply(refused)
    } else if (!this.last) {
      this.ctx.reply(Reply.table.chunkReceived(this.chunkSize))
    }
    if (this.last) this.ending = "complete"
    return pieces
  }

  // A command line between two chunks of the message.
  private between(
    item: string | typeof LineFramer.TooLong | Transport.ReadEnd
  ): Effect.Effect<Array<Uint8Array>> {
    const { ctx } = this
    if (item === Transport.EOF || item === Transport.TIMEOUT) {
      this.ending = item === Transport.TIMEOUT ? "timeout" : "disconnected"
      return Effect.succeed([])
    }
    if (item === LineFramer.TooLong) {
      ctx.reply(Reply.table.lineTooLong)
      return Effect.succeed([])
    }
    if (ctx.server.closing) return this.handBack(item)
    const command = Command.parse(item)
    // RFC 3030 §2: chunks already in the pipeline after a refused one are read and answered
    // with the refusal; any other command means the client has given the message up.
    if (command._tag === "Bdat") return Effect.succeed(this.begin(command.size, command.last))
    if (this.refused !== undefined) return this.handBack(item)
    if (command._tag === "Unknown" || ctx.config.disabledCommands.includes(Command.verbOf(item))) {
      ctx.unrecognized++
      ctx.reply(
        ctx.unrecognized >= ctx.config.maxUnrecognizedCommands ? Reply.table.tooManyUnrecognized : Reply.table.unrecognized
      )
      return ctx.closed ? this.abandon() : Effect.succeed([])
    }
    switch (command._tag) {
      case "Invalid":
        ctx.reply(command.reply)
        if (command.verb !== "BDAT") return Effect.succeed([])
        // A chunk of unknown size is lost, so the message can only be incomplete: it fails,
        // and the chunks after it are answered with the same error.
        this.refuse(command.reply)
        return this.stop()
      // RSET (RFC 3030 §2), QUIT and a new greeting end the message; the connection runs them.
      case "Rset":
      case "Quit":
      case "Hello":
      case "Http":
        return this.handBack(item)
      case "Noop":
        ctx.reply(Reply.table.ok)
        return Effect.succeed([])
      case "Help":
        ctx.reply(Reply.table.help)
        return Effect.succeed([])
      case "Vrfy":
        ctx.reply(Reply.table.vrfy)
        return Effect.succeed([])
      // RFC 3030 §2: DATA after BDAT in one transaction is a bad sequence.
      case "Data":
        ctx.reply(Reply.table.dataAfterBdat)
        return Effect.succeed([])
      default:
        // MAIL, RCPT, STARTTLS, AUTH...: the envelope is fixed once the first chunk is in.
        ctx.reply(Reply.table.badSequence)
        return Effect.succeed([])
    }
  }

  // Gives the line back to the command framer, ahead of what follows it, and ends the message.
  private handBack(line: string): Effect.Effect<Array<Uint8Array>> {
    const framer = this.ctx.framer
    const rest = framer.takeRemaining()
    const head = Buffer.from(`${line}\r\n`, "utf8")
    framer.push(rest === undefined ? head : Buffer.concat([head, rest]))
    return this.abandon()
  }

  private abandon(): Effect.Effect<Array<Uint8Array>> {
    this.ending = "abandoned"
    return this.stop()
  }

  // Called from the hook's own pull: the hook is stopped from outside and this never returns.
  private stop(): Effect.Effect<Array<Uint8Array>> {
    return this.detached ? Effect.succeed([]) : Effect.zipRight(this.stopHook, Effect.never)
  }
}

/**
 * Reads and drops the `size` octets of a chunk that was refused before any message started
 * (RFC 3030 §2: its data follows the command whatever the reply). Returns why input ended
 * early, or undefined.
 */
export const skip = (ctx: ConnectionContext, size: number): Effect.Effect<Transport.ReadEnd | undefined> => {
  let remaining = size
  const consume = (bytes: Uint8Array): void => {
    const n = Math.min(remaining, bytes.length)
    if (n < bytes.length) ctx.framer.push(bytes.subarray(n))
    remaining -= n
  }
  const loop: Effect.Effect<Transport.ReadEnd | undefined> = Effect.suspend(() => {
    if (remaining === 0) return Effect.succeed(undefined)
    const buffered = ctx.framer.takeRemaining()
    if (buffered !== undefined) {
      consume(buffered)
      return loop
    }
    return Effect.flatMap(ctx.read, (result) => {
      Observability.received(result)
      if (typeof result === "string") return Effect.succeed(result)
      consume(result)
      return loop
    })
  })
  return loop
}

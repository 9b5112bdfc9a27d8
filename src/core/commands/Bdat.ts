/**
 * BDAT (RFC 3030 §2): a message sent as counted chunks. The first BDAT of a transaction starts
 * the data hook; the chunks that follow are read by the hook's own stream (ChunkReader), so one
 * hook call receives the whole message however many BDAT commands carry it, and the last chunk
 * is answered with the hook's verdict (one reply per recipient in LMTP).
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import type * as Command from "../../protocol/Command.js"
import * as Reply from "../../protocol/Reply.js"
import { Message } from "../BodyReader.js"
import { ChunkReader, skip } from "../ChunkReader.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import type * as Hooks from "../Hooks.js"
import * as Observability from "../Observability.js"
import * as Session from "../Session.js"
import * as Transport from "../Transport.js"
import * as Data from "./Data.js"

/** Reads a message that starts with this BDAT through the data hook, and answers each of its chunks. */
export const handle = (ctx: ConnectionContext, command: Extract<Command.Command, { _tag: "Bdat" }>) =>
  Effect.gen(function*() {
    const session = yield* Ref.get(ctx.session)
    const { envelope } = session
    const sequence = !Session.inTransaction(session)
      ? Reply.table.needMail
      : envelope.rcptTo.length === 0
      ? Reply.table.needRcpt
      : undefined
    if (sequence !== undefined) {
      // RFC 3030 §2: the chunk follows its command whatever the reply, so it is read and
      // dropped before the refusal; never taken for commands.
      const end = yield* skip(ctx, command.size)
      if (end === Transport.EOF) ctx.closed = true
      else ctx.reply(end === Transport.TIMEOUT ? Reply.table.timeout : sequence)
      return
    }

    const recipients = envelope.rcptTo.length
    // Settled by the hook's verdict, or with undefined when the client gives the message up
    // while the hook is still reading it.
    const settled = yield* Deferred.make<Either.Either<Hooks.DataResult, Reply.Reply> | undefined>()
    const reader = new ChunkReader(
      ctx,
      recipients,
      envelope.bodyType === "binarymime",
      Effect.asVoid(Deferred.succeed(settled, undefined))
    )
    reader.begin(command.size, command.last)
    let verdict: Either.Either<Hooks.DataResult, Reply.Reply> | undefined = undefined
    // A first chunk already over the size limit refuses the message before the hook sees any of it.
    if (reader.refused === undefined) {
      const message = new Message(envelope, reader)
      // The hook runs in a child fiber so that RSET, QUIT or a new greeting between two chunks
      // can interrupt it; its pulls still read the connection one at a time, in order.
      const fiber = yield* Effect.fork(
        Effect.flatMap(
          Effect.exit(ctx.guard("onData", () => ctx.hooks.onData(message, session))),
          // A hook that interrupted itself has no verdict: the message fails like a hook defect.
          (exit) => Deferred.succeed(settled, Exit.isSuccess(exit) ? exit.value : Either.left(Reply.table.internalError))
        )
      )
      // Interrupted itself (the peer left, shutdown), the connection stops the hook before its close hook runs.
      verdict = yield* Effect.onInterrupt(Deferred.await(settled), () => Fiber.interrupt(fiber))
      if (verdict === undefined) {
        yield* Fiber.interrupt(fiber)
        // Its guard never returned to say the hook is over.
        ctx.inHook = false
      } else if (Either.isLeft(verdict) && reader.ending !== "complete") {
        // A refusal before the last chunk answers the chunks still coming (RFC 3030 §2).
        reader.refuse(verdict.left)
      }
    }
    yield* reader.drain

    switch (reader.ending) {
      case "disconnected":
        ctx.closed = true
        return
      case "timeout":
        return ctx.reply(Reply.table.timeout)
      case "abandoned":
        return yield* Ref.update(ctx.session, Session.endTransaction(false))
      case "complete": {
        if (reader.refused === undefined) {
          const replies = Data.answer(ctx, reader, verdict ?? Either.left(Reply.table.internalError), recipients)
          for (const reply of replies) ctx.reply(reply)
          Observability.transaction(replies)
        } else {
          Observability.transaction([reader.refused])
        }
        ctx.unrecognized = 0
        return yield* Ref.update(ctx.session, Session.endTransaction(true))
      }
    }
  })

/** DATA (RFC 5321 §4.1.1.4) and the reply after the body, one per recipient in LMTP (RFC 2033 §4.2). */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Reply from "../../protocol/Reply.js"
import { BodyReader, Message } from "../BodyReader.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import type * as Hooks from "../Hooks.js"
import * as Observability from "../Observability.js"
import * as Session from "../Session.js"
import { SmtpError } from "../SmtpError.js"

/** Receives the body through the data hook and answers for it. */
export const handle = (ctx: ConnectionContext): Effect.Effect<void, never, Hooks.HookContext> | undefined => {
  const session = ctx.state
  if (session.envelope.rcptTo.length === 0) return ctx.reply(Reply.table.needRcpt)
  // RFC 3030 §3: a BINARYMIME body can only come in BDAT chunks.
  if (session.envelope.bodyType === "binarymime") return ctx.reply(Reply.table.binaryNeedsBdat)
  ctx.reply(Reply.table.startData)
  // The client waits for 354 before it sends the body (RFC 2920 §3.1), whatever the hook does first.
  const flushed = ctx.flush
  return flushed === Effect.void
    ? receive(ctx, session)
    : Effect.zipRight(flushed, Effect.suspend(() => receive(ctx, session)))
}

// The body through the data hook, then whatever the hook left unread, then the reply.
const receive = (ctx: ConnectionContext, session: Session.SessionState): Effect.Effect<void, never, Hooks.HookContext> => {
  const reader = new BodyReader(ctx)
  const message = new Message(session.envelope, reader)
  const recipients = session.envelope.rcptTo.length
  // Whatever the hook decided, the rest of the body is read before the reply.
  const after = (verdict: Either.Either<Hooks.DataResult, Reply.Reply>) =>
    Effect.flatMap(reader.drain, () => finish(ctx, reader, verdict, recipients))
  return ctx.hook("onData", () => ctx.hooks.onData(message, session), after) ?? Effect.void
}

const finish = (
  ctx: ConnectionContext,
  reader: BodyReader,
  verdict: Either.Either<Hooks.DataResult, Reply.Reply>,
  recipients: number
): Effect.Effect<void> => {
  if (reader.ending === "disconnected") {
    ctx.closed = true
    return Effect.void
  }
  if (reader.ending === "timeout") {
    ctx.reply(Reply.table.timeout)
    return Effect.void
  }
  const replies = answer(ctx, reader, verdict, recipients)
  for (const reply of replies) ctx.reply(reply)
  Observability.transaction(replies)
  ctx.unrecognized = 0
  ctx.state = Session.endTransaction(ctx.state, true)
  if (ctx.config.lmtp && Either.isRight(verdict) && Array.isArray(verdict.right) && verdict.right.length !== recipients) {
    return Effect.logError(`onData returned ${verdict.right.length} results for ${recipients} recipients`)
  }
  return Effect.void
}

/** What the server itself found wrong with a body, whichever command carried it. */
export interface BodyChecks {
  readonly sizeExceeded: boolean
  readonly rejectedLineEndings: boolean
}

/** The replies that end a message (DATA, or BDAT LAST): one in SMTP, one per recipient in LMTP. */
export const answer = (
  ctx: ConnectionContext,
  reader: BodyChecks,
  verdict: Either.Either<Hooks.DataResult, Reply.Reply>,
  recipients: number
): ReadonlyArray<Reply.Reply> => {
  const { lmtp, rejectOversized, size } = ctx.config
  const each = (reply: Reply.Reply) => (lmtp ? Array.from({ length: recipients }, () => reply) : [reply])
  // The server's own verdicts come first: whatever the hook said, it saw an incomplete or refused body.
  if (reader.sizeExceeded && rejectOversized) return each(Reply.table.sizeExceeded(size))
  if (reader.rejectedLineEndings) return each(Reply.table.bareLineEnding)
  if (Either.isLeft(verdict)) return each(verdict.left)
  const result = verdict.right
  const accepted = (message: string | undefined) =>
    message === undefined ? (lmtp ? Reply.table.dataAccepted : Reply.table.dataOk) : Reply.make(250, message, "2.6.0")
  if (Array.isArray(result)) {
    if (!lmtp) {
      const refusal = result.find((r): r is SmtpError => r instanceof SmtpError)
      return [refusal ? refusal.reply : accepted(undefined)]
    }
    // One reply per recipient, in envelope order. A recipient the hook gave no result for was
    // not delivered: 451 asks the client to retry it rather than count it as accepted.
    return Array.from({ length: recipients }, (_, i) => {
      if (i >= result.length) return Reply.table.internalError
      const r = result[i]
      if (r instanceof SmtpError) return r.reply
      return accepted(r?.message)
    })
  }
  return each(accepted(result === undefined ? undefined : (result as Hooks.Accepted).message))
}

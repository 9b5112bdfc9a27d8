/** RCPT TO (RFC 5321 §4.1.1.3). */
import { Effect, Either, Ref } from "effect"
import type * as Command from "../../protocol/Command.js"
import * as Reply from "../../protocol/Reply.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import * as Session from "../Session.js"

/** Adds a recipient when the sequence, the recipient limit and the hook allow it. */
export const handle = (ctx: ConnectionContext, command: Extract<Command.Command, { _tag: "Rcpt" }>) =>
  Effect.gen(function*() {
    const session = yield* Ref.get(ctx.session)
    if (!Session.inTransaction(session)) return ctx.reply(Reply.table.needMail)
    const rcptTo = session.envelope.rcptTo
    const key = command.address.address.toLowerCase()
    const { lmtp } = ctx.config
    const repeated = !lmtp && rcptTo.some((r) => r.address.toLowerCase() === key)
    // RFC 5321 §4.5.3.1.10: past the limit the reply is 452 so the client sends the rest later.
    if (!repeated && rcptTo.length >= ctx.config.maxRecipients) return ctx.reply(Reply.table.tooManyRecipients)
    const verdict = yield* ctx.guard("onRcptTo", ctx.hooks.onRcptTo(command.address, session))
    if (Either.isLeft(verdict)) return ctx.reply(verdict.left)
    yield* Ref.update(ctx.session, (lmtp ? Session.appendRecipient : Session.addRecipient)(command.address))
    ctx.reply(Reply.table.rcptOk)
  })

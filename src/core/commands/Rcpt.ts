/** RCPT TO (RFC 5321 §4.1.1.3). */
import * as Either from "effect/Either"
import type * as Effect from "effect/Effect"
import type * as Command from "../../protocol/Command.js"
import * as Reply from "../../protocol/Reply.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import type * as Hooks from "../Hooks.js"
import * as Session from "../Session.js"

/** Adds a recipient when the sequence, the recipient limit and the hook allow it. */
export const handle = (
  ctx: ConnectionContext,
  command: Extract<Command.Command, { _tag: "Rcpt" }>
): Effect.Effect<void, never, Hooks.HookContext> | undefined => {
  const session = ctx.state
  if (!Session.inTransaction(session)) return ctx.reply(Reply.table.needMail)
  const { address } = command
  const rcptTo = session.envelope.rcptTo
  const { lmtp } = ctx.config
  const key = address.address.toLowerCase()
  const repeated = !lmtp && rcptTo.some((r) => r.address.toLowerCase() === key)
  // RFC 5321 §4.5.3.1.10: past the limit the reply is 452 so the client sends the rest later.
  if (!repeated && rcptTo.length >= ctx.config.maxRecipients) return ctx.reply(Reply.table.tooManyRecipients)
  return ctx.hook("onRcptTo", () => ctx.hooks.onRcptTo(address, session), (verdict) => {
    if (Either.isLeft(verdict)) return ctx.reply(verdict.left)
    ctx.state = (lmtp ? Session.appendRecipient : Session.addRecipient)(ctx.state, address)
    ctx.reply(Reply.table.rcptOk)
  })
}

/** MAIL FROM (RFC 5321 §4.1.1.2) with SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), REQUIRETLS (RFC 8689). */
import * as Either from "effect/Either"
import type * as Effect from "effect/Effect"
import type * as Command from "../../protocol/Command.js"
import * as Reply from "../../protocol/Reply.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import type * as Hooks from "../Hooks.js"
import * as Session from "../Session.js"

/** Starts a transaction when the sender is acceptable to the sequence, the limits and the hook. */
export const handle = (
  ctx: ConnectionContext,
  command: Extract<Command.Command, { _tag: "Mail" }>
): Effect.Effect<void, never, Hooks.HookContext> | undefined => {
  const session = ctx.state
  if (Session.inTransaction(session)) return ctx.reply(Reply.table.nestedMail)
  const { maxMessages, size } = ctx.config
  // RFC 9422 MAILMAX counts MAIL commands, whether they succeed or fail, not delivered messages.
  ctx.mailCommands++
  if (maxMessages > 0 && ctx.mailCommands > maxMessages) return ctx.reply(Reply.table.tooManyTransactions)
  const { address } = command
  const declared = address.args.SIZE
  // RFC 1870 §6: a declared size over the fixed limit is refused at MAIL, before any data.
  if (size > 0 && typeof declared === "string" && Number(declared) > size) {
    return ctx.reply(Reply.table.sizeDeclaredTooBig(size))
  }
  // RFC 8689 §4.1: REQUIRETLS asks for TLS on every hop, this one included.
  if (address.args.REQUIRETLS === true && session.tls === undefined) {
    return ctx.reply(Reply.table.requireTlsNotSecure)
  }
  return ctx.hook("onMailFrom", () => ctx.hooks.onMailFrom(address, session), (verdict) => {
    if (Either.isLeft(verdict)) return ctx.reply(verdict.left)
    ctx.state = Session.startTransaction(ctx.state, address)
    ctx.reply(Reply.table.mailOk)
  })
}

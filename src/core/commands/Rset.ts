/** RSET (RFC 5321 §4.1.1.5). */
import * as Reply from "../../protocol/Reply.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import * as Session from "../Session.js"

/** Abandons the transaction; the greeting and authentication stay. */
export const handle = (ctx: ConnectionContext): undefined => {
  ctx.state = Session.endTransaction(ctx.state, false)
  return ctx.reply(Reply.table.flushed)
}

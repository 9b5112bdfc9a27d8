/** QUIT (RFC 5321 §4.1.1.10). */
import * as Reply from "../../protocol/Reply.js"
import type { ConnectionContext } from "../ConnectionContext.js"

/** Says goodbye; the loop ends and nothing pipelined after QUIT is executed. */
export const handle = (ctx: ConnectionContext): undefined => {
  ctx.reply(Reply.table.bye)
  ctx.closed = true
}

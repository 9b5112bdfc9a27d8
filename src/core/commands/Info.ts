/** NOOP, VRFY and HELP: the commands that change nothing (RFC 5321 §4.1.1.6–9). */
import * as Reply from "../../protocol/Reply.js"
import type { ConnectionContext } from "../ConnectionContext.js"

/** NOOP: 250 OK. */
export const noop = (ctx: ConnectionContext): undefined => ctx.reply(Reply.table.ok)

/** VRFY: 252, as RFC 5321 §3.5.3 allows, so the server never confirms a mailbox to a harvester. */
export const vrfy = (ctx: ConnectionContext): undefined => ctx.reply(Reply.table.vrfy)

/** HELP: 214 with a pointer to the RFC. */
export const help = (ctx: ConnectionContext): undefined => ctx.reply(Reply.table.help)

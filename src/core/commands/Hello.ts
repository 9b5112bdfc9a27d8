/** HELO, EHLO and LHLO (RFC 5321 §4.1.1.1, RFC 2033 §4.1). */
import type * as Command from "../../protocol/Command.js"
import * as Reply from "../../protocol/Reply.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import * as Session from "../Session.js"

/** Greets the client; like RSET it abandons any transaction (RFC 5321 §4.1.4). */
export const handle = (ctx: ConnectionContext, command: Extract<Command.Command, { _tag: "Hello" }>): undefined => {
  const session = Session.greet(ctx.state, command.verb, command.domain)
  ctx.state = session
  const { heloResponse, name } = ctx.config
  return ctx.reply(
    command.verb === "HELO"
      ? Reply.table.helo(heloResponse, name, session.clientHostname)
      : Reply.table.ehlo(heloResponse, name, session.clientHostname, ctx.capabilities(session))
  )
}

/**
 * XFORWARD (Postfix XFORWARD_README): a trusted proxy reports the original client of the
 * message it is about to send, for logging and Received headers. Unlike XCLIENT the session
 * goes on: same greeting, same login.
 */
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Command from "../../protocol/Command.js"
import * as Hostname from "../../protocol/Hostname.js"
import * as Reply from "../../protocol/Reply.js"
import * as Xclient from "../../protocol/Xclient.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import * as Proxying from "../Proxying.js"
import * as Session from "../Session.js"

/** Records the attributes when the peer is trusted and no transaction is open; 250 OK. */
export const handle = (ctx: ConnectionContext, command: Extract<Command.Command, { _tag: "XForward" }>) =>
  Effect.gen(function*() {
    const session = yield* Ref.get(ctx.session)
    if (!Proxying.allowed(ctx, session, Xclient.xforward)) return ctx.reply(Reply.table.proxyNotAllowed)
    // XFORWARD_README: attributes describe the next transaction, so they come before MAIL.
    if (Session.inTransaction(session)) return ctx.reply(Reply.table.transactionInProgress)
    const parsed = Xclient.parse(command.parameters, Xclient.xforward)
    if (parsed._tag === "Error") return ctx.reply(parsed.reply)
    yield* Ref.update(ctx.session, apply(parsed.attributes))
    ctx.reply(Reply.table.ok)
  })

/**
 * The session with the forwarded client's details: attributes recorded in `xForward` (the
 * replaced address under `ADDR:DEFAULT`), address, port, name and HELO name taken over.
 */
export const apply = (attributes: Xclient.Attributes) => (self: Session.SessionState): Session.SessionState => {
  const xForward = new Map(self.xForward)
  let { clientHostname, heloName, remoteAddress, remotePort } = self
  for (const [key, value] of attributes) {
    switch (key) {
      case "ADDR":
        if (value === false) break
        if (!xForward.has("ADDR:DEFAULT")) xForward.set("ADDR:DEFAULT", self.remoteAddress)
        remoteAddress = value
        if (!attributes.has("NAME")) clientHostname = `[${value}]`
        break
      case "NAME":
        clientHostname = value === false || value === "" ? "" : Hostname.normalize(value)
        break
      case "PORT":
        remotePort = value === false ? 0 : Number(value)
        break
      case "HELO":
        // An unknown HELO name keeps the proxy's own, so the session still counts as greeted.
        if (value !== false && value !== "") heloName = value.toLowerCase()
        break
    }
    xForward.set(key, value)
  }
  return {
    ...self,
    remoteAddress,
    remotePort,
    clientHostname: clientHostname === "" ? `[${remoteAddress}]` : clientHostname,
    heloName,
    xForward
  }
}

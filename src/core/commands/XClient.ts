/**
 * XCLIENT (Postfix XCLIENT_README): a trusted proxy hands over the identity of the client it
 * serves. The session starts over as that client's: a new 220 greeting, a new EHLO expected.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Ref from "effect/Ref"
import type * as Command from "../../protocol/Command.js"
import * as Hostname from "../../protocol/Hostname.js"
import * as Reply from "../../protocol/Reply.js"
import * as Xclient from "../../protocol/Xclient.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import * as Proxying from "../Proxying.js"
import * as Session from "../Session.js"

/** Applies the attributes when the peer is trusted and no transaction is open; LOGIN goes through the auth hook. */
export const handle = (ctx: ConnectionContext, command: Extract<Command.Command, { _tag: "XClient" }>) =>
  Effect.gen(function*() {
    const session = yield* Ref.get(ctx.session)
    if (!Proxying.allowed(ctx, session, Xclient.xclient)) return ctx.reply(Reply.table.proxyNotAllowed)
    // XCLIENT_README: "except in the middle of a mail delivery transaction".
    if (Session.inTransaction(session)) return ctx.reply(Reply.table.transactionInProgress)
    const parsed = Xclient.parse(command.parameters, Xclient.xclient)
    if (parsed._tag === "Error") return ctx.reply(parsed.reply)
    const { attributes } = parsed
    const next = yield* Ref.updateAndGet(ctx.session, apply(attributes))
    const login = attributes.get("LOGIN")
    if (typeof login === "string" && login !== "") {
      const verdict = yield* ctx.guard("onAuth", () => ctx.hooks.onAuth({ method: "XCLIENT", username: login }, next))
      if (Either.isLeft(verdict)) {
        // As smtp-server: a refused LOGIN ends the connection; a temporary failure keeps its own reply.
        const refusal = verdict.left
        ctx.reply(refusal.code >= 500 ? Reply.table.proxyLoginRefused(refusal.text) : refusal)
        ctx.closed = true
        return
      }
      // A hook that accepts without a user lets the session go on unauthenticated.
      if (verdict.right.user !== undefined) yield* Ref.update(ctx.session, Session.authenticate(verdict.right.user))
    }
    ctx.reply(Reply.table.greeting(ctx.config.name, ctx.config.lmtp, ctx.config.banner))
  })

/**
 * The session as the forwarded client's: the attributes recorded in `xClient` (the values they
 * replace under `ADDR:DEFAULT`, `NAME:DEFAULT`, `PORT:DEFAULT`, as smtp-server keeps them), its
 * address, port and name taken over, the greeting and any transaction forgotten. A new ADDR
 * drops the proxy's own login; `LOGIN=[UNAVAILABLE]` (or empty) logs out.
 */
export const apply = (attributes: Xclient.Attributes) => (self: Session.SessionState): Session.SessionState => {
  const xClient = new Map(self.xClient)
  const remember = (key: string, value: string) => {
    if (!xClient.has(key)) xClient.set(key, value)
  }
  let { clientHostname, localAddress, localPort, remoteAddress, remotePort, user } = self
  for (const [key, value] of attributes) {
    switch (key) {
      case "ADDR":
        if (value === false) break
        remember("ADDR:DEFAULT", self.remoteAddress)
        remoteAddress = value
        user = undefined
        // The old name belongs to the old address; a NAME in the same command replaces this.
        if (!attributes.has("NAME")) clientHostname = `[${value}]`
        break
      case "NAME":
        remember("NAME:DEFAULT", self.clientHostname)
        clientHostname = value === false || value === "" ? "" : Hostname.normalize(value)
        break
      case "PORT":
        remember("PORT:DEFAULT", String(self.remotePort))
        remotePort = value === false ? 0 : Number(value)
        break
      case "DESTADDR":
        if (value !== false) localAddress = value
        break
      case "DESTPORT":
        if (value !== false) localPort = Number(value)
        break
      case "LOGIN":
        if (value === false || value === "") user = undefined
        break
    }
    xClient.set(key, value)
  }
  return {
    ...self,
    remoteAddress,
    remotePort,
    localAddress,
    localPort,
    clientHostname: clientHostname === "" ? `[${remoteAddress}]` : clientHostname,
    user,
    heloName: undefined,
    openingCommand: undefined,
    envelope: Session.emptyEnvelope,
    xClient
  }
}

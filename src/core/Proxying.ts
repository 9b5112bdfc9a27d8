/**
 * Who may use Postfix's XCLIENT and XFORWARD on a connection, shared by the EHLO keyword list
 * and the two commands so that what is advertised is exactly what is accepted.
 */
import * as Ip from "../protocol/Ip.js"
import * as Xclient from "../protocol/Xclient.js"
import type { ConnectionContext } from "./ConnectionContext.js"
import type * as Session from "./Session.js"

/**
 * True when `kind` is enabled, not disabled, and the peer is trusted for it. Once XCLIENT set
 * ADDR the session belongs to the forwarded client, which must not rewrite its own identity:
 * neither command is available after that (as in smtp-server).
 */
export const allowed = (ctx: ConnectionContext, session: Session.SessionState, kind: Xclient.Kind): boolean => {
  const { config } = ctx
  const option = kind === Xclient.xclient ? config.useXClient : config.useXForward
  return !session.xClient.has("ADDR") && !config.disabledCommands.includes(kind.verb) &&
    Ip.isAllowed(option, ctx.peerAddress)
}

/** The XCLIENT/XFORWARD keyword lines for this session's EHLO reply. */
export const capabilities = (ctx: ConnectionContext, session: Session.SessionState): Array<string> => {
  const lines: Array<string> = []
  if (allowed(ctx, session, Xclient.xclient)) lines.push(Xclient.capability(Xclient.xclient))
  if (allowed(ctx, session, Xclient.xforward)) lines.push(Xclient.capability(Xclient.xforward))
  return lines
}

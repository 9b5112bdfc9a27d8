/**
 * When AUTH (RFC 4954) is on offer, and what a server that requires it refuses before it: the
 * gate the connection loop runs before dispatching each command, and the mechanisms EHLO lists.
 */
import type * as Command from "../protocol/Command.js"
import * as Reply from "../protocol/Reply.js"
import type { ConnectionContext } from "./ConnectionContext.js"
import type { Config } from "./ServerConfig.js"
import type * as Session from "./Session.js"

/** True when this server takes AUTH at all: not disabled, and at least one mechanism configured. */
export const enabled = (config: Config): boolean =>
  config.authMethods.length > 0 && !config.disabledCommands.includes("AUTH")

/** True when mail needs a login first: AUTH enabled and not optional. */
export const required = (config: Config): boolean => !config.authOptional && enabled(config)

/** True when AUTH would be accepted now: enabled, nobody logged in yet, and TLS up unless insecure AUTH is allowed. */
export const available = (config: Config, session: Session.SessionState): boolean =>
  enabled(config) && session.user === undefined && (session.tls !== undefined || config.allowInsecureAuth)

/** The mechanisms EHLO advertises now; none when AUTH would be refused (RFC 4954 §3). */
export const offered = (config: Config, session: Session.SessionState): ReadonlyArray<string> =>
  available(config, session) ? config.authMethods : []

// RFC 4954 §6: a server that requires AUTH refuses the mail commands with 530 until then, as
// smtp-server does even when their syntax is wrong: a stranger learns nothing from the parser.
const needsLogin: ReadonlySet<string> = new Set(["MAIL", "RCPT", "DATA"])

// The verb of a parsed command, in upper case, for the few the policy names.
const verb = (command: Command.Command): string => {
  switch (command._tag) {
    case "Invalid":
      return command.verb
    case "Auth":
      return "AUTH"
    case "Mail":
      return "MAIL"
    case "Rcpt":
      return "RCPT"
    case "Data":
      return "DATA"
    default:
      return command._tag
  }
}

/**
 * Runs before dispatch on a server that requires AUTH and a session without a user. Counts
 * every command but AUTH (its continuation lines never reach here) and ends the session with 421
 * at `maxAllowedUnauthenticatedCommands`; refuses MAIL/RCPT/DATA after the greeting with 530.
 * Queues the reply and returns true when the command must not run.
 */
export const refuses = (ctx: ConnectionContext, session: Session.SessionState, command: Command.Command): boolean => {
  const { config } = ctx
  if (session.user !== undefined || !required(config)) return false
  const name = verb(command)
  const limit = config.maxAllowedUnauthenticatedCommands
  if (limit !== false && name !== "AUTH" && ++ctx.unauthenticated >= limit) {
    ctx.reply(Reply.table.tooManyUnauthenticated)
    return true
  }
  // Before the greeting, the loop's 503 "send HELO first" comes first, as in smtp-server.
  if (session.heloName !== undefined && needsLogin.has(name)) {
    ctx.reply(Reply.table.authRequired(config.authRequiredMessage))
    return true
  }
  return false
}

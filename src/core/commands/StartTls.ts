/**
 * STARTTLS (RFC 3207) and implicit TLS: when the upgrade is offered, the handshake with its
 * defence against commands pipelined in plaintext, the session reset the RFC requires, and the
 * secure hook that runs after every handshake.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Ref from "effect/Ref"
import type * as Command from "../../protocol/Command.js"
import * as Reply from "../../protocol/Reply.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import type * as Hooks from "../Hooks.js"
import * as Session from "../Session.js"
import type * as Transport from "../Transport.js"

/** True when this connection can be upgraded: the transport can start TLS and STARTTLS is not disabled. */
export const available = (ctx: ConnectionContext): boolean =>
  ctx.transport.startTls !== undefined && !ctx.config.disabledCommands.includes("STARTTLS")

/** Whether EHLO lists STARTTLS: only while the connection is not secure (RFC 3207 §4.2), and unless hidden. */
export const advertised = (ctx: ConnectionContext, session: Session.SessionState): boolean =>
  session.tls === undefined && !ctx.config.hideSTARTTLS && available(ctx)

/** `needsUpgrade`: MAIL and AUTH wait for TLS (RFC 3207 §4, reply 530). */
export const refusedBeforeTls = (
  ctx: ConnectionContext,
  session: Session.SessionState,
  command: Command.Command
): boolean => ctx.config.needsUpgrade && session.tls === undefined && (command._tag === "Mail" || command._tag === "Auth")

/** STARTTLS: 220, the handshake, the reset, the secure hook; any failure ends the session. */
export const handle = (ctx: ConnectionContext): Effect.Effect<void, never, Hooks.HookContext> =>
  Effect.gen(function*() {
    if ((yield* Ref.get(ctx.session)).tls !== undefined) return ctx.reply(Reply.table.tlsAlreadyActive)
    ctx.reply(Reply.table.readyToStartTls)
    yield* ctx.flush
    // RFC 3207 §4 and CVE-2011-0411: whatever the client pipelined after STARTTLS arrived in
    // plaintext and must never run inside the TLS session, not even the start of a line. The
    // transport drops what it holds from before the 220; the framer holds the rest.
    ctx.framer.clear()
    if (yield* handshake(ctx)) yield* secureHook(ctx)
  })

/**
 * Runs the handshake and records it on the session, reset as RFC 3207 §4.2 requires. False
 * when it failed or timed out (the session is then over): a plaintext client on an implicit
 * TLS port, an abort mid-handshake and a refused client certificate all end here.
 */
export const handshake = (ctx: ConnectionContext): Effect.Effect<boolean> => {
  const startTls = ctx.transport.startTls
  if (startTls === undefined) {
    ctx.closed = true
    return Effect.logError("TLS is required but this transport cannot start it").pipe(Effect.as(false))
  }
  const { socketTimeout } = ctx.config
  // A client that never finishes its handshake holds the connection no longer than an idle one.
  const timed = socketTimeout > 0
    ? Effect.timeoutFail(startTls(), { duration: socketTimeout, onTimeout: () => timedOut })
    : startTls()
  return Effect.suspend(() => {
    // No transaction survives the handshake: a shutdown may end the session right away.
    ctx.idle = true
    return Effect.matchEffect(timed, {
      onFailure: (error) => {
        ctx.idle = false
        ctx.closed = true
        return Effect.logInfo("TLS handshake failed", error.message).pipe(Effect.as(false))
      },
      onSuccess: (tls) => {
        ctx.idle = false
        return Effect.as(Ref.update(ctx.session, Session.secured(tls)), true)
      }
    })
  })
}

/** Runs the secure hook for the session just secured; false (after its reply) when it refused the session. */
export const secureHook = (ctx: ConnectionContext): Effect.Effect<boolean, never, Hooks.HookContext> =>
  Effect.gen(function*() {
    const session = yield* Ref.get(ctx.session)
    const tls = session.tls
    if (tls === undefined) return false
    const verdict = yield* ctx.guard("onSecure", () => ctx.hooks.onSecure(tls, session))
    if (Either.isRight(verdict)) return true
    ctx.reply(verdict.left)
    ctx.closed = true
    return false
  })

const timedOut: Transport.TlsError = { _tag: "TlsError", message: "TLS handshake timed out" }

/**
 * Cancellation: a hook never outlives the client it works for. When the transport reports the
 * peer gone, the hook running for the session is interrupted (its finalizers run) and no later
 * hook starts, so nothing is decided for a client that can no longer hear the answer; a
 * message whose 250 could not be sent is not delivered behind the client's back, to be sent
 * again on its retry. A hook waiting for body bytes at that moment is told by its stream
 * instead (`MessageError` "Disconnected"), through the same read that tells the connection.
 *
 * The cost is one listener per connection and two field writes per hook: hooks run inline in
 * the connection's fiber, marked running by `ConnectionContext.hook` (which also starts none
 * once the peer has gone), and the transport's close listener interrupts that fiber. (A
 * watcher fiber per connection, measured, cost more than the rest of the change together.)
 */
import * as Effect from "effect/Effect"
import type { ConnectionContext } from "./ConnectionContext.js"

/** Watches the peer of `ctx` for the current (the connection's) fiber. */
export const watch = (ctx: ConnectionContext): Effect.Effect<void> =>
  Effect.withFiberRuntime<void>((connection) =>
    Effect.sync(() =>
      ctx.transport.onClosed((toldReader) => {
        ctx.peerGone = true
        // A hook reading the body got EOF from the same event; nothing runs after the connection ended.
        if (ctx.closed || !ctx.inHook || toldReader) return
        ctx.closed = true
        connection.unsafeInterruptAsFork(connection.id())
      })
    )
  )

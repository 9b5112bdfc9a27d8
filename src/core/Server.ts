/**
 * The accept loop: runs a connection per transport a listener delivers, enforces
 * `maxClients`, and shuts down as a scope — stop accepting, end idle sessions, let the others
 * finish up to `closeTimeout`, then interrupt them with 421.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Reply from "../protocol/Reply.js"
import * as Connection from "./Connection.js"
import type { ConnectionContext, ServerState } from "./ConnectionContext.js"
import * as Hooks from "./Hooks.js"
import { ServerConfig } from "./ServerConfig.js"
import type * as Transport from "./Transport.js"

/** Live counts of a running server. */
export interface Stats {
  /** Connections open now. */
  readonly active: number
}

/** Serves every connection of `listener` until the enclosing scope closes. */
export const serve = (
  listener: Transport.Listener
): Effect.Effect<Stats, never, import("effect").Scope.Scope | Hooks.Hooks | ServerConfig> =>
  Effect.gen(function*() {
    const config = yield* ServerConfig
    const hooks = yield* Hooks.resolve
    const state: ServerState = { closing: false }
    // Interrupts whatever is still running when the scope closes: registered first, so it runs last.
    const fibers = yield* FiberSet.make<void, never>()
    const runFork = yield* FiberSet.runtime(fibers)<never>()
    const open = new Map<ConnectionContext, Fiber.RuntimeFiber<void, never>>()
    let active = 0

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* listener.stop
        state.closing = true
        // Sessions waiting for a command outside a transaction have nothing to finish.
        for (const [ctx, fiber] of open) if (ctx.idle) fiber.unsafeInterruptAsFork(fiber.id())
        if (config.closeTimeout > 0) {
          // Finalizers run uninterruptibly; the wait must be interruptible for the timeout to end it.
          yield* Effect.interruptible(FiberSet.awaitEmpty(fibers)).pipe(Effect.timeoutOption(config.closeTimeout))
        }
      })
    )

    yield* listener.start((transport) => {
      if (config.maxClients > 0 && active >= config.maxClients) {
        // On an implicit TLS port a plaintext reply is noise to the client: close without one.
        if (config.secure) return void Effect.runFork(transport.close)
        Effect.runFork(
          transport.write(Reply.format(Reply.table.tooManyClients(config.name), !config.hideENHANCEDSTATUSCODES)).pipe(
            Effect.zipRight(transport.close)
          )
        )
        return
      }
      active++
      let self: ConnectionContext | undefined
      const fiber = runFork(
        Connection.run(transport, config, hooks, state, (ctx) => {
          self = ctx
        }, () => {
          active--
          if (self) open.delete(self)
        })
      )
      if (self && fiber.unsafePoll() === null) open.set(self, fiber)
    })

    return {
      get active() {
        return active
      }
    }
  })

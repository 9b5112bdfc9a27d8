/**
 * Binds the core to Node: a `net.Server` listener in a scope, and layers that serve the core's
 * hooks on a port. Closing the scope stops accepting and drains sessions (see core/Server).
 * Connections are accepted as plain sockets and upgraded in place, for STARTTLS and implicit
 * TLS alike (see NodeTls).
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import * as os from "node:os"
import type * as Hooks from "../core/Hooks.js"
import * as Resolver from "../core/Resolver.js"
import * as Server from "../core/Server.js"
import { type ConfigError, ServerConfig } from "../core/ServerConfig.js"
import type * as ServerConfigModule from "../core/ServerConfig.js"
import type * as Transport from "../core/Transport.js"
import * as NodeResolver from "./NodeResolver.js"
import * as NodeTls from "./NodeTls.js"
import * as NodeTransport from "./NodeTransport.js"

/** Where to listen. */
export interface ListenOptions {
  /** TCP port; 0 picks a free one (read it from `SmtpServer`'s address). */
  readonly port: number
  /** Interface to bind; all interfaces when absent. */
  readonly host?: string | undefined
  /** Listen backlog. */
  readonly backlog?: number | undefined
}

/** Listen options, TLS options and server options together. */
export type Options = ListenOptions & NodeTls.TlsOptions & ServerConfigModule.Input

/** The port could not be bound (in use, no permission, bad host). */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly code: string | undefined
  readonly message: string
  readonly cause: unknown
}> {}

/** A running server, for reading the bound address and live counts. */
export class SmtpServer extends Context.Tag("effect-smtp/SmtpServer")<SmtpServer, {
  readonly address: Transport.ListenAddress
  readonly stats: Server.Stats
  /**
   * Merges TLS options (key, cert, ca, sniOptions, ...) over the current ones for every
   * handshake from now on; sessions already secure keep theirs. Fails, changing nothing, when
   * the new options cannot make a secure context.
   */
  readonly updateSecureContext: (options: NodeTls.TlsOptions) => Effect.Effect<void, NodeTls.SecureContextError>
}>() {}

/** A `net.Server` listening on `options`, closed with the scope; with `contexts`, its connections can start TLS. */
export const listen = (
  options: ListenOptions,
  contexts?: NodeTls.Contexts
): Effect.Effect<Transport.Listener, ListenError, Scope.Scope> => listenOn(net.createServer(), options, undefined, contexts)

/** A `net.Server` not listening yet, for callers that hand it out before `listenOn` (the facade's `server.server`). */
export const netServer = (): net.Server => net.createServer()

/**
 * Makes `server` listen on `options` until the scope closes. Errors after it listens (e.g.
 * EMFILE on accept) go to `onError`, logged when absent: they never crash the process.
 */
export const listenOn = (
  server: net.Server,
  options: ListenOptions,
  onError?: (error: Error) => void,
  contexts?: NodeTls.Contexts
): Effect.Effect<Transport.Listener, ListenError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<(error: Error) => void, ListenError>((resume) => {
      const onListenError = (error: NodeJS.ErrnoException) => {
        server.close()
        resume(Effect.fail(new ListenError({ code: error.code, message: error.message, cause: error })))
      }
      server.once("error", onListenError)
      server.listen({ port: options.port, host: options.host, backlog: options.backlog }, () => {
        server.off("error", onListenError)
        // Later server-level errors (e.g. EMFILE on accept) must not crash the process.
        const onLaterError = onError ?? ((error: Error) => Effect.runFork(Effect.logError("listener error", error)))
        server.on("error", onLaterError)
        resume(Effect.succeed(onLaterError))
      })
    }),
    (onLaterError) =>
      Effect.sync(() => {
        if (server.listening) server.close()
        // The same server may listen again (the facade's listen after close).
        server.off("error", onLaterError)
      })
  ).pipe(Effect.map(() => fromServer(server, contexts)))

/** Adapts a listening `net.Server`; with `contexts`, its connections can start TLS. */
export const fromServer = (server: net.Server, contexts?: NodeTls.Contexts): Transport.Listener => {
  const bound = server.address()
  const address: Transport.ListenAddress = typeof bound === "object" && bound !== null
    ? { address: bound.address, port: bound.port, family: bound.family }
    : { address: String(bound), port: 0, family: "unix" }
  let accept: ((socket: net.Socket) => void) | undefined
  return {
    address,
    start: (onConnection) =>
      Effect.sync(() => {
        accept = (socket: net.Socket) => onConnection(NodeTransport.fromSocket(socket, { contexts }))
        server.on("connection", accept)
      }),
    stop: Effect.sync(() => {
      if (server.listening) server.close()
      if (accept) server.off("connection", accept)
    })
  }
}

/** Listens and serves the hooks until the scope closes; returns the bound address. */
export const make = (
  options: ListenOptions & NodeTls.TlsOptions
): Effect.Effect<
  Context.Tag.Service<SmtpServer>,
  ListenError | NodeTls.SecureContextError,
  Scope.Scope | Hooks.Hooks | ServerConfig
> =>
  Effect.gen(function*() {
    const { rest, tls } = NodeTls.split(options)
    const contexts = yield* NodeTls.Contexts.make(tls)
    const listener = yield* listen(rest, contexts)
    // Reverse lookups use a Resolver the application provides, else Node's.
    const resolver = Option.getOrElse(yield* Effect.serviceOption(Resolver.Resolver), NodeResolver.make)
    const stats = yield* Server.serve(listener).pipe(Effect.provideService(Resolver.Resolver, resolver))
    return {
      address: listener.address,
      stats,
      updateSecureContext: (update) => contexts.update(update)
    }
  })

/** A server on `options.port` serving the hooks in context; its name defaults to this host's name. */
export const layer = (
  options: Options
): Layer.Layer<SmtpServer, ListenError | ConfigError | NodeTls.SecureContextError, Hooks.Hooks> => {
  const { rest, tls } = NodeTls.split(options)
  const { backlog, host, port, ...config } = rest
  return Layer.scoped(SmtpServer, make({ port, host, backlog, ...tls })).pipe(
    Layer.provide(ServerConfig.layer({ name: os.hostname(), ...config }))
  )
}

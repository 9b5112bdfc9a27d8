/**
 * A small scripted SMTP client over the in-memory transport, for testing hooks without
 * sockets: start a server in the test's scope, connect, and assert each reply exactly.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Hooks from "../core/Hooks.js"
import * as Server from "../core/Server.js"
import type { ServerConfig } from "../core/ServerConfig.js"
import type * as Transport from "../core/Transport.js"
import * as MemoryTransport from "./MemoryTransport.js"

/** One scripted client connection. */
export interface TestClient extends MemoryTransport.Peer {
  /** Sends `line` with CRLF and returns the reply to it. */
  readonly command: (line: string) => Effect.Effect<string>
}

/** A server started for a test, serving the hooks and config in context until the scope closes. */
export interface TestServer {
  /** Opens a new connection; read the greeting with `client.reply`. `options.tls` makes it secure from the start, `options.startTls` lets it upgrade. */
  readonly connect: (info?: Transport.PeerInfo, options?: MemoryTransport.Options) => Effect.Effect<TestClient>
  readonly stats: Server.Stats
}

/** Starts a server on an in-memory listener in the current scope. */
export const server: Effect.Effect<TestServer, never, Scope.Scope | Hooks.Hooks | ServerConfig> = Effect.gen(
  function*() {
    const listener = yield* MemoryTransport.listener()
    const stats = yield* Server.serve(listener)
    return {
      stats,
      connect: (info, options) => Effect.map(listener.connect(info, options), fromPeer)
    }
  }
)

/** Adds `command` to a Peer. */
export const fromPeer = (peer: MemoryTransport.Peer): TestClient => ({
  ...peer,
  command: (line) => Effect.zipRight(peer.send(`${line}\r\n`), peer.reply)
})

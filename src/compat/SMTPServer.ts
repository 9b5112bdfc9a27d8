/**
 * `SMTPServer`: smtp-server's documented class (options, callbacks, events, `listen`/`close`)
 * on the Effect core. Construction validates the options and turns the callbacks into hook
 * Layers; `listen` runs the core server in a scope the instance owns and `close` closes it,
 * which stops accepting, lets sessions finish for `closeTimeout`, then ends them with 421.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { EventEmitter } from "node:events"
import type * as net from "node:net"
import type * as Hooks from "../core/Hooks.js"
import * as Server from "../core/Server.js"
import { ServerConfig } from "../core/ServerConfig.js"
import * as Resolver from "../core/Resolver.js"
import * as NodeResolver from "../node/NodeResolver.js"
import * as NodeSmtpServer from "../node/NodeSmtpServer.js"
import * as NodeTls from "../node/NodeTls.js"
import * as Callbacks from "./Callbacks.js"
import * as Logging from "./Logging.js"
import * as Options from "./Options.js"
import * as SessionView from "./SessionView.js"
import type * as Types from "./Types.js"

/** The callbacks are members of the server: set them as options, or on the instance at any time. */
export interface SMTPServer<T extends Types.StreamType = "web"> extends Types.Callbacks<Types.StreamOf<T>> {}

/** An SMTP or LMTP server with smtp-server's callback API. */
export class SMTPServer<T extends Types.StreamType = "web"> extends EventEmitter {
  /** The options in effect: the ones given, checked, with smtp-server's defaults filled in. */
  readonly options: Options.Normalized
  /** The `net.Server` that listens; `server.server.address()` and `.listening` as in smtp-server. */
  readonly server: net.Server
  /** The open sessions (each with `id`, `remoteAddress`, `remotePort`, ...). */
  readonly connections: Set<Types.SMTPSession>
  readonly #log: Logging.Log
  readonly #layer: Layer.Layer<Hooks.Hooks | ServerConfig>
  #scope: Scope.CloseableScope | undefined = undefined
  #contexts: NodeTls.Contexts | undefined = undefined

  constructor(options?: Types.SMTPServerOptions<T>) {
    super()
    const normalized = Options.normalize(options)
    const config = Options.toConfig(normalized)
    this.options = normalized
    this.#log = Logging.make(normalized.logger, normalized.component)
    if (normalized.onConnect) this.onConnect = normalized.onConnect
    if (normalized.onSecure) this.onSecure = normalized.onSecure
    if (normalized.onAuth) this.onAuth = normalized.onAuth
    if (normalized.onMailFrom) this.onMailFrom = normalized.onMailFrom
    if (normalized.onRcptTo) this.onRcptTo = normalized.onRcptTo
    if (normalized.onData) this.onData = normalized.onData as Types.Callbacks<Types.StreamOf<T>>["onData"]
    if (normalized.onClose) this.onClose = normalized.onClose
    this.server = NodeSmtpServer.netServer()
    const sessions = new SessionView.Registry({ lmtp: config.lmtp, hideDSN: config.hideDSN })
    this.connections = sessions.connections
    const host: Callbacks.Host = {
      callbacks: this as Callbacks.AnyCallbacks,
      sessions,
      log: this.#log,
      streamType: normalized.streamType,
      connected: (session) => this.#connected(session)
    }
    this.#layer = Layer.mergeAll(Callbacks.layer(host), Layer.succeed(ServerConfig, config), Logging.layer(this.#log))
  }

  /**
   * Binds `port` (0 picks a free one, see `address()`) on `host` (all interfaces by default)
   * and serves. Resolves, emits `listening` and calls `callback` once ready. When binding
   * fails (e.g. EADDRINUSE) the error is emitted as `error` if anyone listens, and the
   * promise rejects; an unawaited promise never becomes an unhandled rejection.
   */
  listen(port?: number, host?: string | (() => void), callback?: () => void): Promise<void> {
    if (typeof host === "function") {
      callback = host
      host = undefined
    }
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new TypeError(`SMTPServer listen: port must be an integer from 0 to 65535`)
    }
    if (this.#scope !== undefined) throw new Error("SMTPServer is already listening: close() it first")
    const scope = Effect.runSync(Scope.make())
    this.#scope = scope
    const self = this
    const server = this.server
    const onError = (error: Error) => this.#error(error)
    const tlsOptions = NodeTls.split(this.options as NodeTls.TlsOptions).tls
    const resolver = this.options.resolver
    const program = Effect.gen(function*() {
      // With no key/cert the built-in development certificate serves STARTTLS, as in smtp-server.
      const contexts = yield* NodeTls.Contexts.make({
        ...tlsOptions,
        // smtp-server accepts a client certificate that does not verify unless told otherwise.
        rejectUnauthorized: tlsOptions.rejectUnauthorized ?? false
      })
      self.#contexts = contexts
      const listener = yield* NodeSmtpServer.listenOn(server, { port: port ?? 0, host }, onError, contexts)
      yield* Server.serve(listener).pipe(
        Effect.provideService(
          Resolver.Resolver,
          resolver ? Resolver.fromCallback(resolver.reverse.bind(resolver)) : NodeResolver.make()
        )
      )
    }).pipe(Effect.provide(this.#layer), Scope.extend(scope))
    const listening = new Promise<void>((resolve, reject) => {
      Effect.runCallback(program, {
        // User code (listeners, the callback) runs outside the Effect runtime, as Node's own events do.
        onExit: (exit) =>
          process.nextTick(() => {
            if (Exit.isSuccess(exit)) {
              resolve()
              this.#logListening()
              this.emit("listening")
              callback?.()
              return
            }
            if (this.#scope === scope) this.#scope = undefined
            Effect.runFork(Scope.close(scope, exit))
            const error = listenError(exit.cause)
            reject(error)
            this.#error(error)
          })
      })
    })
    listening.catch(() => {})
    return listening
  }

  /**
   * Stops accepting, lets open sessions finish for up to `closeTimeout` ms, then ends them
   * with 421. Calls `callback`, emits `close` and resolves once the port is released and
   * every session has ended.
   */
  close(callback?: () => void): Promise<void> {
    const scope = this.#scope
    this.#scope = undefined
    return new Promise<void>((resolve) => {
      const done = () => {
        resolve()
        this.emit("close")
        callback?.()
      }
      if (scope === undefined) return void process.nextTick(done)
      if (this.connections.size > 0 && this.#log.enabled) {
        this.#log.write("info", `Server closing with ${this.connections.size} pending connection(s)`)
      }
      const released = new Promise<void>((release) => {
        if (!this.server.listening) return release()
        this.server.once("close", () => release())
      })
      Effect.runPromise(Scope.close(scope, Exit.void)).then(() => released).then(() => process.nextTick(done))
    })
  }

  /** The bound address, as `net.Server#address()` gives it. */
  address(): net.AddressInfo | string | null {
    return this.server.address()
  }

  /** Replaces key/cert/ca and the other TLS options for handshakes from now on. */
  updateSecureContext(tlsOptions: Types.TlsOptions): void {
    const valid = Options.validateTls("updateSecureContext", tlsOptions)
    Object.assign(this.options, valid)
    // New handshakes use the new certificate; sessions already secure keep theirs.
    if (this.#contexts !== undefined) {
      const exit = Effect.runSyncExit(this.#contexts.update(valid as NodeTls.TlsOptions))
      if (Exit.isFailure(exit)) throw new TypeError(`SMTPServer updateSecureContext: ${Cause.pretty(exit.cause)}`)
    }
  }

  #connected(session: Types.SMTPSession): void {
    if (this.listenerCount("connect") === 0) return
    const info: Types.ConnectionInfo = {
      id: session.id,
      localAddress: session.localAddress,
      localPort: session.localPort,
      remoteAddress: session.remoteAddress,
      remotePort: session.remotePort,
      clientHostname: session.clientHostname,
      hostNameAppearsAs: session.hostNameAppearsAs
    }
    try {
      this.emit("connect", info)
    } catch (error) {
      this.#log.write("error", `a connect listener failed: ${String(error)}`, { cid: session.id, err: error })
    }
  }

  // Emitted only when someone listens: an unheard 'error' would throw from here.
  #error(error: Error): void {
    this.#log.write("error", `Server error: ${error.message}`, { err: error })
    if (this.listenerCount("error") > 0) this.emit("error", error)
  }

  #logListening(): void {
    if (!this.#log.enabled) return
    const address = this.server.address()
    const where = typeof address === "object" && address !== null ? `${address.address}:${address.port}` : String(address)
    this.#log.write("info", `${this.options.lmtp ? "LMTP" : "SMTP"} Server listening on ${where}`)
  }
}

Object.assign(SMTPServer.prototype, Callbacks.defaults)

// The Node error behind a failed listen (it carries `code`, e.g. EADDRINUSE), else the failure itself.
const listenError = (cause: Cause.Cause<NodeSmtpServer.ListenError | NodeTls.SecureContextError>): Error => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && failure.value.cause instanceof Error) return failure.value.cause
  // Bad certificates are a configuration error, as a TypeError would be at construction.
  if (Option.isSome(failure) && failure.value._tag === "SecureContextError") return new TypeError(failure.value.message)
  const squashed = Cause.squash(cause)
  return squashed instanceof Error ? squashed : new Error(String(squashed))
}

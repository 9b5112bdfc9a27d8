/**
 * TLS for the Node binding: the options, the secure contexts built from them (once, and again
 * on `update`), SNI lookup, and the server end of a handshake over an accepted plain socket —
 * the same path for STARTTLS and implicit TLS, so a PROXY header can precede either.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import type * as net from "node:net"
import * as tls from "node:tls"
import { domainToASCII } from "node:url"
import type * as Transport from "../core/Transport.js"
import * as DevelopmentCertificate from "./DevelopmentCertificate.js"

/** What one certificate's context is built from; also what each `sniOptions` entry holds. */
export interface ContextOptions {
  /** Private key(s) in PEM. Without `key` and `cert`, the built-in development certificate is used. */
  readonly key?: tls.SecureContextOptions["key"] | undefined
  /** Certificate chain(s) in PEM. */
  readonly cert?: tls.SecureContextOptions["cert"] | undefined
  /** CAs client certificates must chain to (with `requestCert`). */
  readonly ca?: tls.SecureContextOptions["ca"] | undefined
  /** Lowest protocol version accepted; Node's default (TLSv1.2) when absent. */
  readonly minVersion?: tls.SecureVersion | undefined
  readonly maxVersion?: tls.SecureVersion | undefined
  /** Prefer the server's cipher order; true unless set, as smtp-server does. */
  readonly honorCipherOrder?: boolean | undefined
  /** Session id context for resumption; Node's own default (a hash of the command line) unless set. */
  readonly sessionIdContext?: string | undefined
  /** OpenSSL cipher list. */
  readonly ciphers?: string | undefined
}

/** The server's TLS options: the default certificate, client certificates, certificates per SNI name. */
export interface TlsOptions extends ContextOptions {
  /** Ask clients for a certificate; `TlsInfo.peerCertificate` and `authorized` then tell what came. */
  readonly requestCert?: boolean | undefined
  /** With `requestCert`: end the session when the client's certificate does not verify against `ca`. Default true, as in node:tls. */
  readonly rejectUnauthorized?: boolean | undefined
  /** Options per server name the client asks for with SNI, over the ones above; other names get the default. */
  readonly sniOptions?:
    | Readonly<Record<string, ContextOptions>>
    | ReadonlyMap<string, ContextOptions>
    | undefined
}

const optionNames = [
  "key",
  "cert",
  "ca",
  "minVersion",
  "maxVersion",
  "honorCipherOrder",
  "sessionIdContext",
  "ciphers",
  "requestCert",
  "rejectUnauthorized",
  "sniOptions"
] as const satisfies ReadonlyArray<keyof TlsOptions>

/** Separates the TLS options from the rest of an options object. */
export const split = <A extends TlsOptions>(options: A): { readonly tls: TlsOptions; readonly rest: Omit<A, keyof TlsOptions> } => {
  const tlsOptions: Record<string, unknown> = {}
  const rest: Record<string, unknown> = { ...(options as Record<string, unknown>) }
  for (const name of optionNames) {
    if (name in rest) {
      tlsOptions[name] = rest[name]
      delete rest[name]
    }
  }
  return { tls: tlsOptions as TlsOptions, rest: rest as Omit<A, keyof TlsOptions> }
}

/** TLS options that cannot make a secure context (unreadable key, key and certificate that do not match, bad version). */
export class SecureContextError extends Data.TaggedError("SecureContextError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

// Node's own tls.Server default, so resumed sessions work with client certificates too.
const defaultSessionIdContext = crypto.createHash("sha1").update(process.argv.join(" ")).digest("hex").slice(0, 32)

interface Built {
  readonly options: TlsOptions
  readonly fallback: tls.SecureContext
  readonly byName: ReadonlyMap<string, tls.SecureContext>
  readonly development: boolean
}

/** The secure contexts of one server, built once; `update` swaps them for the handshakes that follow. */
export class Contexts {
  private warned = false

  private constructor(private built: Built) {}

  /** Builds the contexts, failing with the option that is wrong. */
  static make(options: TlsOptions = {}): Effect.Effect<Contexts, SecureContextError> {
    return Effect.map(build(options), (built) => new Contexts(built))
  }

  /** The options the contexts were built from. */
  get options(): TlsOptions {
    return this.built.options
  }

  /** True while the default certificate is the built-in development one. */
  get usesDevelopmentCertificate(): boolean {
    return this.built.development
  }

  /**
   * Merges `options` over the current ones and rebuilds every context; handshakes from now on
   * use them, sessions already secure keep theirs. On failure nothing changes.
   */
  update(options: TlsOptions): Effect.Effect<void, SecureContextError> {
    return Effect.map(build({ ...this.built.options, ...options }), (built) => {
      this.built = built
    })
  }

  /**
   * Makes `socket` the server end of a TLS session and starts the handshake. `secured` ends
   * with it: the session's TLS facts, or why it failed (the socket is then destroyed);
   * interrupting it destroys the socket. Listeners for the outcome are in place before any
   * event can fire.
   */
  accept(socket: net.Socket): { readonly socket: tls.TLSSocket; readonly secured: Effect.Effect<Transport.TlsInfo, Transport.TlsError> } {
    const built = this.built
    const { rejectUnauthorized = true, requestCert = false } = built.options
    let chosen = built.fallback
    const secureSocket = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: built.fallback,
      requestCert,
      rejectUnauthorized: requestCert && rejectUnauthorized,
      ...(built.byName.size === 0 ? {} : {
        SNICallback: (servername: string, callback: (error: Error | null, context?: tls.SecureContext) => void) => {
          chosen = built.byName.get(normalizeName(servername)) ?? built.fallback
          callback(null, chosen)
        }
      })
    })
    // The accepted socket goes with the session whichever side ends it first.
    secureSocket.once("close", () => socket.destroy())

    let outcome: Effect.Effect<Transport.TlsInfo, Transport.TlsError> | undefined
    let resume: ((result: Effect.Effect<Transport.TlsInfo, Transport.TlsError>) => void) | undefined
    const settle = (result: Effect.Effect<Transport.TlsInfo, Transport.TlsError>) => {
      if (outcome !== undefined) return
      outcome = result
      secureSocket.off("secure", onSecure)
      secureSocket.off("error", onError)
      secureSocket.off("close", onClose)
      resume?.(result)
    }
    const fail = (message: string, cause?: unknown) => {
      secureSocket.destroy()
      settle(Effect.fail({ _tag: "TlsError", message, cause }))
    }
    const onError = (error: Error) => fail(error.message, error)
    const onClose = () => fail("connection closed during the TLS handshake")
    const onSecure = () => {
      const verdict = judgeClientCertificate(secureSocket, requestCert)
      if (verdict !== undefined && rejectUnauthorized) return fail(`client certificate refused: ${verdict}`)
      const info = tlsInfo(secureSocket, requestCert)
      const development = built.development && chosen === built.fallback && !this.warned
      if (development) this.warned = true
      settle(development ? Effect.as(warnDevelopment, info) : Effect.succeed(info))
    }
    // Once, not on: a TLS 1.2 client may renegotiate, and the session is set up only once.
    secureSocket.once("secure", onSecure)
    secureSocket.on("error", onError)
    secureSocket.once("close", onClose)

    const secured = Effect.suspend(() =>
      outcome ?? Effect.async<Transport.TlsInfo, Transport.TlsError>((callback) => {
        resume = callback
        return Effect.sync(() => {
          resume = undefined
          if (outcome === undefined) fail("TLS handshake interrupted")
        })
      })
    )
    return { socket: secureSocket, secured }
  }
}

const warnDevelopment = Effect.logWarning(
  "TLS is served with the built-in development certificate (CN=localhost): its private key is public, " +
    "so these sessions are not private. Configure key and cert for anything but development."
)

const build = (options: TlsOptions): Effect.Effect<Built, SecureContextError> =>
  Effect.try({
    try: () => {
      const development = options.key === undefined && options.cert === undefined
      const base = development
        ? { ...options, key: DevelopmentCertificate.developmentKey, cert: DevelopmentCertificate.developmentCert }
        : options
      const fallback = context(base, "")
      const byName = new Map<string, tls.SecureContext>()
      const entries = options.sniOptions instanceof Map
        ? [...options.sniOptions.entries()]
        : Object.entries(options.sniOptions ?? {})
      for (const [name, entry] of entries) {
        byName.set(normalizeName(name), context({ ...base, ...entry }, ` of sniOptions "${name}"`))
      }
      return { options, fallback, byName, development }
    },
    catch: (error) =>
      error instanceof SecureContextError
        ? error
        : new SecureContextError({ message: `Invalid TLS options: ${String(error)}`, cause: error })
  })

const context = (options: ContextOptions, where: string): tls.SecureContext => {
  // One without the other fails at every handshake rather than here: refuse it now.
  if ((options.key === undefined) !== (options.cert === undefined)) {
    throw new SecureContextError({ message: `Invalid TLS options${where}: key and cert go together` })
  }
  try {
    return tls.createSecureContext({
      key: options.key,
      cert: options.cert,
      ca: options.ca,
      minVersion: options.minVersion,
      maxVersion: options.maxVersion,
      honorCipherOrder: options.honorCipherOrder ?? true,
      sessionIdContext: options.sessionIdContext ?? defaultSessionIdContext,
      ciphers: options.ciphers
    })
  } catch (error) {
    throw new SecureContextError({
      message: `Invalid TLS options${where}: ${error instanceof Error ? error.message : String(error)}`,
      cause: error
    })
  }
}

// Names compare as A-labels, lower case, without a trailing dot: what clients put in SNI.
const normalizeName = (name: string): string => {
  const trimmed = name.trim().replace(/\.$/, "").toLowerCase()
  return domainToASCII(trimmed) || trimmed
}

// A TLSSocket made over an accepted socket, not by tls.Server, is never judged after its
// handshake: OpenSSL itself only refuses a missing certificate and leaves an untrusted one to
// the application, as tls.Server does with the handle's verification result. Done the same way
// here; without that result the certificate counts as unverified. Returns why it failed.
const judgeClientCertificate = (socket: tls.TLSSocket, requested: boolean): string | undefined => {
  if (!requested) return undefined
  const handle = (socket as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null } })._handle
  const error: (Error & { code?: string }) | null = typeof handle?.verifyError === "function"
    ? handle.verifyError()
    : new Error("UNVERIFIABLE")
  // Sockets show the verdict the way tls.Server's do, for code that reads socket.authorized.
  const verdict = socket as { authorized: boolean; authorizationError: Error | string | null }
  if (error === null) {
    verdict.authorized = true
    return undefined
  }
  verdict.authorized = false
  verdict.authorizationError = error.code ?? error.message
  return error.code ?? error.message
}

const tlsInfo = (socket: tls.TLSSocket, requested: boolean): Transport.TlsInfo => {
  const cipher = socket.getCipher()
  const servername = (socket as { servername?: string | false | null }).servername
  const certificate = requested ? socket.getPeerCertificate() : undefined
  return {
    name: cipher.name,
    standardName: cipher.standardName,
    version: cipher.version,
    servername: typeof servername === "string" && servername !== "" ? servername : undefined,
    authorized: requested ? socket.authorized : undefined,
    // Node gives an empty object when the client sent none.
    peerCertificate: certificate !== undefined && Object.keys(certificate).length > 0 ? certificate : undefined
  }
}

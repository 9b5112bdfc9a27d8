/**
 * The interface a connection talks to. The core never touches a socket: the Node binding
 * (`node/`) implements this over `net`/`tls`, and `effect-smtp/testing` over memory, so every
 * reply path runs the same under unit tests with the TestClock.
 */
import type * as Effect from "effect/Effect"

/** Addresses of both ends of a connection, as the listener saw them. */
export interface PeerInfo {
  readonly remoteAddress: string
  readonly remotePort: number
  readonly localAddress: string
  readonly localPort: number
}

/** The peer closed its side, or the connection broke. */
export const EOF = "eof" as const
/** Nothing arrived within the idle limit given to `read`. */
export const TIMEOUT = "timeout" as const

/** Why a read gave no bytes. */
export type ReadEnd = typeof EOF | typeof TIMEOUT

/** What one read gives: a chunk of bytes, or why there is none. Sentinels, not errors: both are ordinary ends of a session. */
export type ReadResult = Uint8Array | ReadEnd

/** TLS facts the session shows once a connection is secure. */
export interface TlsInfo {
  /** Cipher name as OpenSSL names it. */
  readonly name: string
  /** Cipher name as the IANA registry names it. */
  readonly standardName: string
  /** TLS version of the cipher suite, as Node's `getCipher()` names it, e.g. `TLSv1.3`. */
  readonly version: string
  /** Server name the client asked for with SNI, if any. */
  readonly servername?: string | undefined
  /** Whether the client's certificate verified against the configured CAs. */
  readonly authorized?: boolean | undefined
  /** The client's certificate, as Node's `getPeerCertificate()` returns it, when one was sent. */
  readonly peerCertificate?: unknown
}

/** One accepted connection. */
export interface Transport {
  readonly info: PeerInfo
  /** TLS details when the connection is secure (implicit TLS or after STARTTLS). */
  readonly tls: TlsInfo | undefined
  /**
   * The next chunk the peer sent. Waits at most `idleMillis` (0: no limit); chunks are not
   * read from the socket until asked for, which is what gives the data hook backpressure.
   */
  readonly read: (idleMillis: number) => Effect.Effect<ReadResult>
  /** True when bytes already arrived that `read` would return without waiting. */
  readonly hasPendingInput: () => boolean
  /** Queues bytes to the peer; writes to a closed connection are dropped. */
  readonly write: (data: string | Uint8Array) => Effect.Effect<void>
  /** Ends the connection after queued writes are flushed. Idempotent. */
  readonly close: Effect.Effect<void>
  /**
   * Calls `listener` once, when the peer has gone (it closed its side, reset the connection,
   * or the connection broke), even while nobody reads; at once if it already has. `toldReader`
   * is true when a pending `read` receives `EOF` for it. Input the transport has not taken
   * from the socket yet (it pauses the socket) is read first, so the peer leaving behind
   * unread input is noticed only when that is read. A plain callback, not an Effect: the
   * connection registers one per connection and needs no fiber to wait on it.
   */
  readonly onClosed: (listener: (toldReader: boolean) => void) => void
  /**
   * Starts TLS on this connection (STARTTLS, RFC 3207). Input already received and not yet
   * read is discarded by the transport: it was sent in plaintext before the handshake.
   * Absent when the transport cannot upgrade.
   */
  readonly startTls?: () => Effect.Effect<TlsInfo, TlsError>
  /** The underlying socket object, for hooks that need it (e.g. the facade's `onSecure(socket, …)`). */
  readonly raw?: unknown
}

/** A TLS handshake that did not complete. */
export interface TlsError {
  readonly _tag: "TlsError"
  readonly message: string
  readonly cause?: unknown
}

/** Where a listener is bound. */
export interface ListenAddress {
  readonly address: string
  readonly port: number
  readonly family: string
}

/** A source of connections the Server accepts from. */
export interface Listener {
  readonly address: ListenAddress
  /** Delivers each accepted connection to `onConnection`, from the listener's own event context. */
  readonly start: (onConnection: (transport: Transport) => void) => Effect.Effect<void>
  /** Stops accepting; connections already delivered stay open. Idempotent. */
  readonly stop: Effect.Effect<void>
}

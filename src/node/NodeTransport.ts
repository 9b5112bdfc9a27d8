/**
 * The core's `Transport` over a Node socket. Reads are pull-based: a chunk that arrives while
 * nobody reads pauses the socket, so at most one chunk (plus the socket's own high-water mark)
 * waits in memory, whatever the client sends. Writes wait for `drain` when the peer does not
 * read its replies. Given the server's TLS contexts, it can upgrade in place (STARTTLS,
 * implicit TLS) by wrapping its socket in a TLS session.
 */
import { Buffer } from "node:buffer"
import * as Effect from "effect/Effect"
import type * as net from "node:net"
import type * as Transport from "../core/Transport.js"
import type * as NodeTls from "./NodeTls.js"

// A connection the server closed waits this long for the peer to close its side, then is
// destroyed, so a client that never closes cannot hold the descriptor (as smtp-server does).
const halfCloseMillis = 5_000

/** How to adapt a socket. */
export interface Options {
  /** TLS facts when the socket is already secure (terminated before it reached us). */
  readonly tls?: Transport.TlsInfo | undefined
  /** The server's TLS contexts; given, the transport can start TLS. */
  readonly contexts?: NodeTls.Contexts | undefined
}

/** Adapts an accepted socket to the core's Transport. */
export const fromSocket = (socket: net.Socket, options: Options = {}): Transport.Transport =>
  new SocketTransport(socket, options)

class SocketTransport implements Transport.Transport {
  readonly info: Transport.PeerInfo
  tls: Transport.TlsInfo | undefined
  readonly startTls?: () => Effect.Effect<Transport.TlsInfo, Transport.TlsError>
  private socket: net.Socket
  private queue: Array<Uint8Array> = []
  private waiter: ((result: Effect.Effect<Transport.ReadResult>) => void) | undefined
  private ended = false
  // Set once the peer has gone; `onClosed` listeners are told once.
  private gone = false
  private toldReader = false
  private goneListeners: Array<(toldReader: boolean) => void> = []
  private timeoutMillis = 0
  private closing = false
  // Stream positions, in bytes: received from the socket, handed out by `read`, and received
  // when the last write was issued. At STARTTLS what came before that write (the 220) is the
  // plaintext the client pipelined; what came after is its side of the handshake.
  private received = 0
  private consumed = 0
  private receivedAtWrite = 0

  constructor(socket: net.Socket, options: Options) {
    this.socket = socket
    this.tls = options.tls
    this.info = {
      remoteAddress: normalizeAddress(socket.remoteAddress),
      remotePort: socket.remotePort ?? 0,
      localAddress: normalizeAddress(socket.localAddress),
      localPort: socket.localPort ?? 0
    }
    const contexts = options.contexts
    if (contexts !== undefined) this.startTls = () => this.upgrade(contexts)
    // Replies are whole and pipelined batches are written at once: Nagle would only delay them.
    socket.setNoDelay(true)
    this.attach(socket)
  }

  get raw(): unknown {
    return this.socket
  }

  hasPendingInput = (): boolean => this.queue.length > 0 || this.socket.readableLength > 0

  read = (idleMillis: number): Effect.Effect<Transport.ReadResult> => {
    const chunk = this.queue.shift()
    if (chunk !== undefined) {
      this.consumed += chunk.length
      return Effect.succeed(chunk)
    }
    if (this.ended) return Effect.succeed("eof")
    if (idleMillis !== this.timeoutMillis) {
      // Node re-arms the socket timer on every read and write: set once, not per read.
      this.timeoutMillis = idleMillis
      this.socket.setTimeout(idleMillis)
    }
    return this.waitForChunk
  }

  // Built once per connection: a read that has to wait allocates nothing.
  private readonly cancelWait = Effect.sync(() => {
    this.waiter = undefined
  })

  private readonly waitForChunk = Effect.async<Transport.ReadResult>((resume) => {
    this.waiter = resume
    this.socket.resume()
    return this.cancelWait
  })

  write = (data: string | Uint8Array): Effect.Effect<void> => {
    const socket = this.socket
    if (this.ended || socket.destroyed || !socket.writable) return Effect.void
    this.receivedAtWrite = this.received + socket.readableLength
    if (socket.write(data)) return Effect.void
    // The peer is not reading its replies: stop producing more until it does.
    return Effect.async<void>((resume) => {
      const stop = () => {
        socket.off("drain", done)
        socket.off("close", done)
        socket.off("timeout", stalled)
      }
      const done = () => {
        stop()
        resume(Effect.void)
      }
      // A peer that reads nothing for the idle limit holds the session no longer than an idle
      // one would; a reply cannot reach it, so the connection is dropped without one.
      const stalled = () => {
        stop()
        socket.destroy()
        resume(Effect.void)
      }
      socket.on("drain", done)
      socket.on("close", done)
      socket.on("timeout", stalled)
      return Effect.sync(stop)
    })
  }

  onClosed = (listener: (toldReader: boolean) => void): void => {
    if (this.gone) listener(this.toldReader)
    else this.goneListeners.push(listener)
  }

  close: Effect.Effect<void> = Effect.sync(() => {
    if (this.closing) return
    this.closing = true
    const socket = this.socket
    this.queue = []
    if (socket.destroyed) return
    socket.end()
    // Whatever still arrives is discarded; reading lets the FIN through so the socket can close.
    socket.off("data", this.onData)
    socket.on("data", () => {})
    socket.resume()
    const timer = setTimeout(() => socket.destroy(), halfCloseMillis)
    timer.unref()
    socket.once("close", () => clearTimeout(timer))
  })

  private onData = (chunk: Buffer): void => {
    this.received += chunk.length
    const waiter = this.waiter
    if (waiter !== undefined) {
      this.waiter = undefined
      this.consumed += chunk.length
      waiter(Effect.succeed(chunk))
    } else {
      this.queue.push(chunk)
      this.socket.pause()
    }
  }

  private onEnd = (): void => {
    this.ended = true
    const waiter = this.waiter
    if (waiter !== undefined) {
      this.waiter = undefined
      waiter(Effect.succeed("eof"))
    }
    if (this.gone) return
    this.gone = true
    this.toldReader = waiter !== undefined
    const listeners = this.goneListeners
    this.goneListeners = []
    for (const listener of listeners) listener(this.toldReader)
  }

  private onTimeout = (): void => {
    // The idle limit only applies while the session waits for the client.
    const waiter = this.waiter
    if (waiter !== undefined) {
      this.waiter = undefined
      waiter(Effect.succeed("timeout"))
    }
  }

  private attach(socket: net.Socket): void {
    socket.on("data", this.onData)
    socket.on("end", this.onEnd)
    socket.on("close", this.onEnd)
    // A reset or broken pipe is the peer leaving, not a server error.
    socket.on("error", this.onEnd)
    socket.on("timeout", this.onTimeout)
  }

  private detach(socket: net.Socket): void {
    socket.off("data", this.onData)
    socket.off("end", this.onEnd)
    socket.off("close", this.onEnd)
    socket.off("error", this.onEnd)
    socket.off("timeout", this.onTimeout)
  }

  private upgrade(contexts: NodeTls.Contexts): Effect.Effect<Transport.TlsInfo, Transport.TlsError> {
    return Effect.suspend(() => {
      const plain = this.socket
      if (this.tls !== undefined) return Effect.fail(tlsError("TLS is already active"))
      if (this.ended || this.closing || plain.destroyed) return Effect.fail(tlsError("connection closed before TLS"))
      this.detach(plain)
      plain.pause()
      plain.setTimeout(0)
      this.timeoutMillis = 0
      // Input not read yet: drop what arrived before the 220 (RFC 3207 §4: pipelined after
      // STARTTLS in plaintext) and hand the rest back for the TLS session to read first.
      const pending = this.queue
      this.queue = []
      for (let chunk: Buffer | null; (chunk = plain.read() as Buffer | null) !== null;) pending.push(chunk)
      let stale = Math.max(0, this.receivedAtWrite - this.consumed)
      const kept: Array<Uint8Array> = []
      for (const chunk of pending) {
        this.consumed += chunk.length
        if (stale >= chunk.length) stale -= chunk.length
        else {
          kept.push(chunk.subarray(stale))
          stale = 0
        }
      }
      if (kept.length > 0) plain.unshift(Buffer.concat(kept))
      const { secured, socket } = contexts.accept(plain)
      // Listening from the start: a failed handshake also ends the transport's input.
      this.socket = socket
      this.attach(socket)
      return Effect.tap(secured, (info) => {
        this.tls = info
      })
    })
  }
}

const tlsError = (message: string): Transport.TlsError => ({ _tag: "TlsError", message })

// Dual-stack listeners report IPv4 peers as ::ffff:a.b.c.d; sessions show the IPv4 form.
const normalizeAddress = (address: string | undefined): string =>
  address === undefined ? "" : address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address

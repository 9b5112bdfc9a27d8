/**
 * The core's `Transport` over a Node socket. Reads are pull-based: a chunk that arrives while
 * nobody reads pauses the socket, so at most one chunk (plus the socket's own high-water mark)
 * waits in memory, whatever the client sends. Writes wait for `drain` when the peer does not
 * read its replies.
 */
import { Effect } from "effect"
import type * as net from "node:net"
import type * as Transport from "../core/Transport.js"

// A connection the server closed waits this long for the peer to close its side, then is
// destroyed, so a client that never closes cannot hold the descriptor (as smtp-server does).
const halfCloseMillis = 5_000

/** Adapts an accepted socket (plain or TLS) to the core's Transport. */
export const fromSocket = (socket: net.Socket, tls?: Transport.TlsInfo): Transport.Transport =>
  new SocketTransport(socket, tls)

class SocketTransport implements Transport.Transport {
  readonly info: Transport.PeerInfo
  private queue: Array<Uint8Array> = []
  private waiter: ((result: Effect.Effect<Transport.ReadResult>) => void) | undefined
  private ended = false
  private timeoutMillis = 0
  private closing = false

  constructor(readonly socket: net.Socket, readonly tls: Transport.TlsInfo | undefined) {
    this.info = {
      remoteAddress: normalizeAddress(socket.remoteAddress),
      remotePort: socket.remotePort ?? 0,
      localAddress: normalizeAddress(socket.localAddress),
      localPort: socket.localPort ?? 0
    }
    // Replies are whole and pipelined batches are written at once: Nagle would only delay them.
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => {
      const waiter = this.waiter
      if (waiter !== undefined) {
        this.waiter = undefined
        waiter(Effect.succeed(chunk))
      } else {
        this.queue.push(chunk)
        socket.pause()
      }
    })
    const end = () => {
      this.ended = true
      const waiter = this.waiter
      if (waiter !== undefined) {
        this.waiter = undefined
        waiter(Effect.succeed("eof"))
      }
    }
    socket.on("end", end)
    socket.on("close", end)
    // A reset or broken pipe is the peer leaving, not a server error.
    socket.on("error", end)
    socket.on("timeout", () => {
      // The idle limit only applies while the session waits for the client.
      const waiter = this.waiter
      if (waiter !== undefined) {
        this.waiter = undefined
        waiter(Effect.succeed("timeout"))
      }
    })
  }

  get raw(): unknown {
    return this.socket
  }

  hasPendingInput = (): boolean => this.queue.length > 0 || this.socket.readableLength > 0

  read = (idleMillis: number): Effect.Effect<Transport.ReadResult> => {
    const chunk = this.queue.shift()
    if (chunk !== undefined) return Effect.succeed(chunk)
    if (this.ended) return Effect.succeed("eof")
    if (idleMillis !== this.timeoutMillis) {
      // Node re-arms the socket timer on every read and write: set once, not per read.
      this.timeoutMillis = idleMillis
      this.socket.setTimeout(idleMillis)
    }
    return Effect.async<Transport.ReadResult>((resume) => {
      this.waiter = resume
      this.socket.resume()
      return Effect.sync(() => {
        this.waiter = undefined
      })
    })
  }

  write = (data: string | Uint8Array): Effect.Effect<void> => {
    const socket = this.socket
    if (this.ended || socket.destroyed || !socket.writable) return Effect.void
    if (socket.write(data)) return Effect.void
    // The peer is not reading its replies: stop producing more until it does.
    return Effect.async<void>((resume) => {
      const done = () => {
        socket.off("drain", done)
        socket.off("close", done)
        resume(Effect.void)
      }
      socket.on("drain", done)
      socket.on("close", done)
      return Effect.sync(() => {
        socket.off("drain", done)
        socket.off("close", done)
      })
    })
  }

  close: Effect.Effect<void> = Effect.sync(() => {
    if (this.closing) return
    this.closing = true
    const socket = this.socket
    this.queue = []
    if (socket.destroyed) return
    socket.end()
    // Whatever still arrives is discarded; reading lets the FIN through so the socket can close.
    socket.removeAllListeners("data")
    socket.on("data", () => {})
    socket.resume()
    const timer = setTimeout(() => socket.destroy(), halfCloseMillis)
    timer.unref()
    socket.once("close", () => clearTimeout(timer))
  })
}

// Dual-stack listeners report IPv4 peers as ::ffff:a.b.c.d; sessions show the IPv4 form.
const normalizeAddress = (address: string | undefined): string =>
  address === undefined ? "" : address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address

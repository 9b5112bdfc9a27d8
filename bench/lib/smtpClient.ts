/**
 * A minimal SMTP client for the load generator, over a raw `net` socket: it writes prebuilt
 * bytes and counts final reply lines, so the generator spends as little CPU per message as it
 * can and the server is what gets measured.
 */
import * as net from "node:net"

/** Why a client gave up: an unexpected reply, a closed connection, a socket error. */
export class ClientError extends Error {}

interface Waiter {
  remaining: number
  readonly codes: Array<number>
  readonly resolve: (codes: Array<number>) => void
  readonly reject: (error: Error) => void
}

/** One client connection. Replies are matched to requests in order (RFC 2920 §3.1). */
export class SmtpClient {
  /** Messages accepted on this connection. */
  messages = 0
  private readonly socket: net.Socket
  private partial: Buffer | undefined
  private readonly waiters: Array<Waiter> = []
  private closed = false

  private constructor(socket: net.Socket) {
    this.socket = socket
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => this.onData(chunk))
    const gone = (error?: Error) => {
      this.closed = true
      const failure = new ClientError(error ? `socket error: ${error.message}` : "connection closed by server")
      for (const waiter of this.waiters.splice(0)) waiter.reject(failure)
    }
    socket.on("error", gone)
    socket.on("close", () => gone())
  }

  /** Connects and waits for the 220 greeting. */
  static connect(port: number): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: "127.0.0.1" })
      const onError = (error: Error) => reject(new ClientError(`connect: ${error.message}`))
      socket.once("error", onError)
      socket.once("connect", () => {
        socket.off("error", onError)
        const client = new SmtpClient(socket)
        client.expect(1).then((codes) => {
          if (codes[0] !== 220) throw new ClientError(`greeting ${codes[0]}`)
          resolve(client)
        }).catch(reject)
      })
    })
  }

  /** Writes `bytes` and waits for `replies` final replies; returns their codes. */
  send(bytes: Buffer | string, replies: number): Promise<Array<number>> {
    const promise = this.expect(replies)
    this.socket.write(bytes)
    return promise
  }

  /** Writes the chunks in order, waiting for `drain` when the socket is full, then waits for one reply. */
  async stream(chunks: Iterable<Buffer>): Promise<number> {
    const promise = this.expect(1)
    // Without a handler the rejection would be unhandled while the chunks are still being written.
    promise.catch(() => {})
    for (const chunk of chunks) {
      if (this.closed) break
      if (!this.socket.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            this.socket.off("drain", done)
            this.socket.off("close", done)
            resolve()
          }
          this.socket.on("drain", done)
          this.socket.on("close", done)
        })
      }
    }
    return (await promise)[0]!
  }

  /** Sends QUIT, waits for 221, and closes. */
  async quit(): Promise<void> {
    try {
      await this.send("QUIT\r\n", 1)
    } finally {
      this.destroy()
    }
  }

  /** Drops the connection without QUIT. */
  destroy(): void {
    this.closed = true
    this.socket.destroy()
  }

  private expect(replies: number): Promise<Array<number>> {
    if (this.closed) return Promise.reject(new ClientError("connection closed by server"))
    return new Promise((resolve, reject) => {
      this.waiters.push({ remaining: replies, codes: [], resolve, reject })
    })
  }

  // Finds complete lines; a line whose fourth byte is not '-' ends a reply (RFC 5321 §4.2.1).
  private onData(chunk: Buffer): void {
    let data = chunk
    if (this.partial !== undefined) {
      data = Buffer.concat([this.partial, chunk])
      this.partial = undefined
    }
    let start = 0
    for (;;) {
      const end = data.indexOf(10, start)
      if (end < 0) break
      if (end - start >= 3 && data[start + 3] !== 0x2d) {
        const code = (data[start]! - 48) * 100 + (data[start + 1]! - 48) * 10 + (data[start + 2]! - 48)
        this.onReply(code)
      }
      start = end + 1
    }
    if (start < data.length) this.partial = Buffer.from(data.subarray(start))
  }

  private onReply(code: number): void {
    const waiter = this.waiters[0]
    if (waiter === undefined) {
      // A reply nobody asked for (a 421 timeout, say): the session is over.
      this.destroy()
      return
    }
    waiter.codes.push(code)
    if (--waiter.remaining === 0) {
      this.waiters.shift()
      waiter.resolve(waiter.codes)
    }
  }
}

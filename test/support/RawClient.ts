/**
 * A raw SMTP client over a real socket (plain, implicit TLS, or upgraded with STARTTLS), for
 * tests that assert exact reply lines. Every wait is on a socket event, never on a timer.
 */
import { Effect, type Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as tls from "node:tls"

/** Reads a file of test/fixtures. */
export const fixture = (name: string): string => fs.readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8")

/** One client connection. */
export interface RawClient {
  readonly socket: net.Socket
  /** The next complete reply (all its lines, CRLFs included); "" once the server closed and nothing is left. */
  readonly reply: Effect.Effect<string>
  /** Writes bytes exactly as given. */
  readonly write: (data: string | Uint8Array) => Effect.Effect<void>
  /** Writes `line` with CRLF and returns the reply to it. */
  readonly command: (line: string) => Effect.Effect<string>
  /** Resolves when the connection is closed. */
  readonly closed: Effect.Effect<void>
  /** Starts TLS over this connection (after the server's 220), as a new client on the TLS socket. */
  readonly startTls: (options?: tls.ConnectionOptions) => Effect.Effect<RawClient, Error, Scope.Scope>
}

/** Connects in plaintext; the socket is destroyed with the scope. */
export const connect = (port: number): Effect.Effect<RawClient, Error, Scope.Scope> =>
  open(() => net.connect({ port, host: "127.0.0.1" }), "connect")

/** Connects with TLS from the first byte (implicit TLS); fails when the handshake does. */
export const connectTls = (port: number, options: tls.ConnectionOptions = {}): Effect.Effect<RawClient, Error, Scope.Scope> =>
  open(() => tls.connect({ port, host: "127.0.0.1", ...options }), "secureConnect")

const open = (make: () => net.Socket, ready: string): Effect.Effect<RawClient, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<net.Socket, Error>((resume) => {
      const socket = make()
      const onError = (error: Error) => done(Effect.fail(error))
      const onClose = () => done(Effect.fail(new Error("closed before it was ready")))
      const done = (result: Effect.Effect<net.Socket, Error>) => {
        socket.off("error", onError)
        socket.off("close", onClose)
        resume(result)
      }
      socket.once("error", onError)
      socket.once("close", onClose)
      socket.once(ready, () => done(Effect.succeed(socket)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(Effect.map(fromSocket))

/** Wraps a connected socket. */
export const fromSocket = (socket: net.Socket): RawClient => {
  let buffer = ""
  let closed = false
  const waiting = new Set<() => void>()
  const wake = () => {
    for (const check of [...waiting]) check()
  }
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString("utf8")
    wake()
  }
  const onClose = () => {
    closed = true
    wake()
  }
  socket.on("data", onData)
  socket.on("close", onClose)
  // Errors end the connection; the test sees them as a close.
  socket.on("error", () => {})

  const when = <A>(ready: () => A | undefined): Effect.Effect<A> =>
    Effect.async<A>((resume) => {
      const check = () => {
        const value = ready()
        if (value !== undefined) {
          waiting.delete(check)
          resume(Effect.succeed(value))
        }
      }
      waiting.add(check)
      check()
      return Effect.sync(() => waiting.delete(check))
    })

  const reply = when(() => {
    const end = replyEnd(buffer)
    if (end > 0) {
      const text = buffer.slice(0, end)
      buffer = buffer.slice(end)
      return text
    }
    if (!closed) return undefined
    const rest = buffer
    buffer = ""
    return rest
  })
  const write = (data: string | Uint8Array) =>
    Effect.async<void>((resume) => {
      socket.write(data, () => resume(Effect.void))
    })

  return {
    socket,
    reply,
    write,
    command: (line) => Effect.zipRight(write(`${line}\r\n`), reply),
    closed: when(() => (closed ? true : undefined)).pipe(Effect.asVoid),
    startTls: (options = {}) => {
      socket.off("data", onData)
      socket.off("close", onClose)
      return open(() => tls.connect({ socket, ...options }), "secureConnect")
    }
  }
}

// The length of the first complete reply in `text`, or 0 when it has not all arrived.
const replyEnd = (text: string): number => {
  let start = 0
  for (;;) {
    const eol = text.indexOf("\r\n", start)
    if (eol < 0) return 0
    if (text.charAt(start + 3) !== "-") return eol + 2
    start = eol + 2
  }
}

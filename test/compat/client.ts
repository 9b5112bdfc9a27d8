/**
 * Helpers for the facade's end-to-end tests: servers on 127.0.0.1 that are closed after each
 * test, and a raw socket client that reads whole replies (multi-line ones included).
 */
import { afterEach } from "@effect/vitest"
import * as net from "node:net"
import { SMTPServer } from "../../src/compat/index.js"
import type * as Types from "../../src/compat/Types.js"

const started = new Set<SMTPServer<Types.StreamType>>()

afterEach(async () => {
  const servers = [...started]
  started.clear()
  await Promise.all(servers.map((server) => server.close()))
})

/** Starts a facade on a free port; it is closed when the test ends. Sessions get 100 ms to finish then. */
export const start = async <T extends Types.StreamType = "web">(
  options: Types.SMTPServerOptions<T> = {}
): Promise<{ server: SMTPServer<T>; port: number }> => {
  // smtp-server requires AUTH unless told otherwise, and looks the client up in DNS; these tests are about everything else.
  const server = new SMTPServer<T>({ name: "mx.test", greetingDelay: 0, closeTimeout: 100, authOptional: true, disableReverseLookup: true, ...options })
  started.add(server as SMTPServer<Types.StreamType>)
  await server.listen(0, "127.0.0.1")
  return { server, port: portOf(server) }
}

/** The port a listening facade is bound to. */
export const portOf = (server: SMTPServer<Types.StreamType>): number => {
  const address = server.address()
  if (typeof address !== "object" || address === null) throw new Error("not listening")
  return address.port
}

/** A raw SMTP client over one socket. */
export interface RawClient {
  readonly socket: net.Socket
  /** The next complete reply, CRLFs included; "" once the server closed and nothing is left. */
  readonly reply: () => Promise<string>
  /** Sends bytes exactly as given. */
  readonly send: (data: string | Uint8Array) => void
  /** Sends `line` and CRLF, and returns the reply. */
  readonly command: (line: string) => Promise<string>
  /** Resolves when the server closed the connection. */
  readonly closed: Promise<void>
}

// Length of the first complete reply in `text`, or 0 when it has not all arrived.
const replyEnd = (text: string): number => {
  let start = 0
  for (;;) {
    const eol = text.indexOf("\r\n", start)
    if (eol < 0) return 0
    if (text.charAt(start + 3) !== "-") return eol + 2
    start = eol + 2
  }
}

/** Connects to 127.0.0.1:`port`. */
export const connect = (port: number): Promise<RawClient> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1")
    let buffered = ""
    let ended = false
    let wake: (() => void) | undefined
    socket.setEncoding("utf8")
    socket.on("data", (text: string) => {
      buffered += text
      wake?.()
    })
    const closed = new Promise<void>((done) =>
      socket.on("close", () => {
        ended = true
        wake?.()
        done()
      })
    )
    socket.on("error", () => {})
    const reply = async (): Promise<string> => {
      for (;;) {
        const end = replyEnd(buffered)
        if (end > 0) {
          const text = buffered.slice(0, end)
          buffered = buffered.slice(end)
          return text
        }
        if (ended) {
          const rest = buffered
          buffered = ""
          return rest
        }
        await new Promise<void>((done) => {
          wake = () => {
            wake = undefined
            done()
          }
        })
      }
    }
    const send = (data: string | Uint8Array) => {
      socket.write(data)
    }
    socket.once("connect", () =>
      resolve({
        socket,
        reply,
        send,
        command: (line) => {
          send(`${line}\r\n`)
          return reply()
        },
        closed
      }))
    socket.once("error", reject)
  })

/** Connects and reads the greeting. */
export const greeted = async (port: number): Promise<RawClient> => {
  const client = await connect(port)
  await client.reply()
  return client
}

/** Connects, reads the greeting, says EHLO and opens a transaction to `rcpts`. */
export const inTransaction = async (port: number, rcpts: ReadonlyArray<string> = ["rcpt@y.test"]): Promise<RawClient> => {
  const client = await greeted(port)
  await client.command("EHLO client.test")
  await client.command("MAIL FROM:<sender@x.test>")
  for (const rcpt of rcpts) await client.command(`RCPT TO:<${rcpt}>`)
  return client
}

/** A resolvable promise, for awaiting what a callback saw. */
export const deferred = <A>(): { promise: Promise<A>; resolve: (value: A) => void } => {
  let resolve!: (value: A) => void
  const promise = new Promise<A>((done) => {
    resolve = done
  })
  return { promise, resolve }
}

/** An Error with a reply code, as applications build them. */
export const withCode = (message: string, responseCode?: number): Error =>
  Object.assign(new Error(message), responseCode === undefined ? {} : { responseCode })

/** Sends one message on an open transaction and returns the reply. */
export const sendMessage = async (client: RawClient, body = "Subject: x\r\n\r\nhi\r\n"): Promise<string> => {
  await client.command("DATA")
  client.send(`${body}.\r\n`)
  return client.reply()
}

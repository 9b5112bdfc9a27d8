/**
 * An in-memory `Transport` and `Listener`: a connection with no socket behind it, driven by a
 * test. Idle limits run on Effect's `Clock`, so `TestClock.adjust` moves them.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Transport from "../core/Transport.js"

/** The test's end of an in-memory connection. */
export interface Peer {
  /** Sends bytes to the server exactly as given (no CRLF added). */
  readonly send: (data: string | Uint8Array) => Effect.Effect<void>
  /**
   * Closes the client's side: the server reads end-of-file after what was sent. The transport
   * reports the peer gone (`onClosed`) at once when the server had read all of it, else when it
   * reads the end; replies written after that are lost, as on a socket.
   */
  readonly end: Effect.Effect<void>
  /** The next complete reply (all its lines, CRLFs included); "" once the server closed and nothing is left. */
  readonly reply: Effect.Effect<string>
  /** Resolves when the server closed the connection. */
  readonly closed: Effect.Effect<void>
  /** True once the server closed the connection. */
  readonly isClosed: Effect.Effect<boolean>
}

/** Connection addresses used when a test gives none. */
export const defaultInfo: Transport.PeerInfo = {
  remoteAddress: "127.0.0.1",
  remotePort: 50000,
  localAddress: "127.0.0.1",
  localPort: 25
}

const decoder = new TextDecoder()

// Marks the end of the server's writes in the outbound queue.
const Closed = Symbol("Closed")
const encoder = new TextEncoder()

/** How an in-memory transport behaves beyond plain bytes. */
export interface Options {
  /** Makes the connection secure from the start, as implicit TLS would. */
  readonly tls?: Transport.TlsInfo | undefined
  /**
   * What `startTls` does. Absent: the transport cannot upgrade. A `TlsInfo`: the handshake
   * succeeds with it. A `TlsError`: it fails. An Effect: it is the handshake (e.g. `Effect.never`
   * for a client that stalls mid-handshake). The bytes stay plaintext either way.
   */
  readonly startTls?: Transport.TlsInfo | Transport.TlsError | Effect.Effect<Transport.TlsInfo, Transport.TlsError>
  /** Told of every write the server makes, as written (a test of how replies are batched). */
  readonly onWrite?: ((data: string) => void) | undefined
}

/** Makes a connected pair: the server's Transport and the test's Peer. */
export const make = (
  info: Transport.PeerInfo = defaultInfo,
  tls?: Transport.TlsInfo,
  options: Options = {}
): Effect.Effect<{ readonly transport: Transport.Transport; readonly peer: Peer }> =>
  Effect.gen(function*() {
    const inbound = yield* Queue.unbounded<Uint8Array | "eof">()
    // The server's writes, in order, then `Closed` once it closed: one queue, so a reader that
    // waits for either can never take a write and then drop it for the close.
    const outbound = yield* Queue.unbounded<string | typeof Closed>()
    const closed = yield* Deferred.make<void>()
    // The peer has gone: at its end when the server had read everything before it (as a
    // socket reports a FIN at once while it is read), else when a read reaches the end.
    // Writes after that are dropped, as Node drops them once the peer's FIN is read.
    let isGone = false
    // Reads under way: one of them takes the end when the peer leaves with nothing unread.
    let reading = 0
    let toldReader = false
    let goneListeners: Array<(toldReader: boolean) => void> = []
    const leave = (reader: boolean) => {
      if (isGone) return
      isGone = true
      toldReader = reader
      const listeners = goneListeners
      goneListeners = []
      for (const listener of listeners) listener(reader)
    }
    let ended = false
    let secure = tls
    // Chunks the peer sent, chunks the server read, and how many had been sent at the server's
    // last write: at STARTTLS, what was sent before the 220 is dropped, as the Node transport does.
    let sent = 0
    let taken = 0
    let sentAtWrite = 0

    const handshake = handshakeOf(options.startTls)
    const startTls = handshake === undefined ? undefined : () =>
      Effect.gen(function*() {
        for (let stale = sentAtWrite - taken; stale > 0; stale--) {
          const item = yield* Queue.poll(inbound)
          if (Option.isNone(item)) break
          if (item.value === "eof") ended = true
          else taken++
        }
        const result = yield* handshake
        secure = result
        return result
      })

    const transport: Transport.Transport = {
      info,
      get tls() {
        return secure
      },
      ...(startTls === undefined ? {} : { startTls }),
      hasPendingInput: () => Effect.runSync(Queue.size(inbound)) > 0,
      read: (idleMillis) =>
        Effect.suspend(() => {
          if (ended) return Effect.succeed("eof")
          const take = Effect.map(Queue.take(inbound), (item): Transport.ReadResult => {
            if (item === "eof") {
              ended = true
              leave(true)
            } else taken++
            return item
          })
          reading++
          return (idleMillis > 0
            ? Effect.timeoutTo(take, { duration: idleMillis, onSuccess: (r) => r, onTimeout: () => "timeout" as const })
            : take).pipe(Effect.ensuring(Effect.sync(() => reading--)))
        }),
      write: (data) =>
        Effect.suspend(() => {
          sentAtWrite = sent
          const text = typeof data === "string" ? data : decoder.decode(data)
          options.onWrite?.(text)
          return isGone ? Effect.void : Effect.flatMap(Deferred.isDone(closed), (isClosed) =>
            isClosed ? Effect.void : Queue.offer(outbound, text))
        }),
      close: Effect.flatMap(Deferred.succeed(closed, undefined), (first) =>
        first ? Queue.offer(outbound, Closed) : Effect.void).pipe(Effect.asVoid),
      onClosed: (listener) => {
        if (isGone) listener(toldReader)
        else goneListeners.push(listener)
      }
    }

    let buffered = ""
    let sawClose = false
    // The next write, or "" once the server closed and nothing is left.
    const more: Effect.Effect<string> = Effect.suspend(() =>
      sawClose ? Effect.succeed("") : Effect.map(Queue.take(outbound), (item) => {
        if (item !== Closed) return item
        sawClose = true
        return ""
      })
    )
    // Every write already queued, up to the close (which is remembered).
    const rest: Effect.Effect<string> = Effect.map(Queue.takeAll(outbound), (items) => {
      let text = ""
      for (const item of items) {
        if (item === Closed) sawClose = true
        else text += item
      }
      return text
    })
    const peer: Peer = {
      send: (data) =>
        Effect.suspend(() => {
          sent++
          return Queue.offer(inbound, typeof data === "string" ? encoder.encode(data) : data)
        }),
      end: Effect.suspend(() => {
        // With nothing unread, the end is seen at once, by the read waiting for input if there is one.
        if (Effect.runSync(Queue.size(inbound)) <= 0) leave(reading > 0)
        return Queue.offer(inbound, "eof")
      }),
      reply: Effect.gen(function*() {
        for (;;) {
          const end = replyEnd(buffered)
          if (end > 0) {
            const reply = buffered.slice(0, end)
            buffered = buffered.slice(end)
            return reply
          }
          const next = yield* more
          if (next === "") {
            const rest = buffered
            buffered = ""
            return rest
          }
          buffered += next + (yield* rest)
        }
      }),
      closed: Deferred.await(closed),
      isClosed: Deferred.isDone(closed)
    }
    return { transport, peer }
  })

/** A listener tests connect to; `connect` delivers a new in-memory connection to the server. */
export interface MemoryListener extends Transport.Listener {
  readonly connect: (info?: Transport.PeerInfo, options?: Options) => Effect.Effect<Peer>
}

/** Makes a listener for `Server.serve`. */
export const listener = (): Effect.Effect<MemoryListener> =>
  Effect.sync(() => {
    let deliver: ((transport: Transport.Transport) => void) | undefined
    let stopped = false
    return {
      address: { address: "memory", port: 0, family: "memory" },
      start: (onConnection) =>
        Effect.sync(() => {
          deliver = onConnection
        }),
      stop: Effect.sync(() => {
        stopped = true
      }),
      connect: (info, options) =>
        Effect.flatMap(make(info, options?.tls, options), ({ peer, transport }) =>
          Effect.sync(() => {
            if (stopped || deliver === undefined) Effect.runSync(transport.close)
            else deliver(transport)
            return peer
          }))
    }
  })

const handshakeOf = (
  startTls: Options["startTls"]
): Effect.Effect<Transport.TlsInfo, Transport.TlsError> | undefined => {
  if (startTls === undefined) return undefined
  if (Effect.isEffect(startTls)) return startTls
  return "_tag" in startTls && startTls._tag === "TlsError" ? Effect.fail(startTls) : Effect.succeed(startTls as Transport.TlsInfo)
}

// The length of the first complete reply in `text` (its last line has a space or nothing
// after the code), or 0 when it has not all arrived yet.
const replyEnd = (text: string): number => {
  let start = 0
  for (;;) {
    const eol = text.indexOf("\r\n", start)
    if (eol < 0) return 0
    if (text.charAt(start + 3) !== "-") return eol + 2
    start = eol + 2
  }
}

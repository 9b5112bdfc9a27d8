/**
 * The per-connection session: immutable data in one `Ref`, changed only by the connection loop
 * through the pure transitions below. Hooks get a snapshot, and can read the current state
 * through the `Session` service.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Readable from "effect/Readable"
import * as Ref from "effect/Ref"
import { dual } from "effect/Function"
import type * as Address from "../protocol/Address.js"
import * as Xtext from "../protocol/Xtext.js"
import type * as Transport from "./Transport.js"

/** The body type declared with `BODY=` on MAIL (RFC 6152, RFC 3030). */
export type BodyType = "7bit" | "8bitmime" | "binarymime"

/** DSN parameters of MAIL FROM (RFC 3461 §4.3, §4.4). */
export interface EnvelopeDsn {
  readonly ret: "FULL" | "HDRS" | null
  readonly envid: string | null
}

/** The transaction under way: sender, recipients and what MAIL declared. */
export interface Envelope {
  readonly mailFrom: Address.Address | undefined
  readonly rcptTo: ReadonlyArray<Address.Address>
  readonly bodyType: BodyType
  readonly smtpUtf8: boolean
  readonly requireTLS: boolean
  readonly dsn: EnvelopeDsn
}

/** Everything known about one connection. */
export interface SessionState {
  /** Random id, unique per connection, for logs. */
  readonly id: string
  readonly remoteAddress: string
  readonly remotePort: number
  readonly localAddress: string
  readonly localPort: number
  /** Reverse DNS name of the client, or `[address]` when unknown. */
  readonly clientHostname: string
  /** TLS details once the connection is secure. */
  readonly tls: Transport.TlsInfo | undefined
  /** The argument of the last HELO/EHLO/LHLO, lower-cased. */
  readonly heloName: string | undefined
  /** Which greeting command the client used. */
  readonly openingCommand: "HELO" | "EHLO" | "LHLO" | undefined
  /** What the auth hook returned as the user, once authenticated. */
  readonly user: unknown
  readonly envelope: Envelope
  /** Transactions completed (answered after DATA) on this connection. */
  readonly transactions: number
  /** Attributes a trusted proxy set with XCLIENT. */
  readonly xClient: ReadonlyMap<string, string | false>
  /** Attributes a trusted proxy set with XFORWARD. */
  readonly xForward: ReadonlyMap<string, string | false>
}

const emptyDsn: EnvelopeDsn = { ret: null, envid: null }

/** The envelope before MAIL. */
export const emptyEnvelope: Envelope = {
  mailFrom: undefined,
  rcptTo: [],
  bodyType: "7bit",
  smtpUtf8: false,
  requireTLS: false,
  dsn: emptyDsn
}

const emptyMap: ReadonlyMap<string, string | false> = new Map()

// Session ids: 80 random bits as 16 base-32 characters, as smtp-server's look. The bits are
// drawn from the system's generator 4 KiB at a time, one call per 409 connections.
const idBytes = 10
const idPool = new Uint8Array(4096 - (4096 % idBytes))
let idPoolAt = idPool.length
const base32 = "0123456789abcdefghijklmnopqrstuv"

/** A new session id: 80 random bits as 16 base-32 characters (`0-9a-v`), unique per connection. */
export const newId = (): string => {
  if (idPoolAt === idPool.length) {
    globalThis.crypto.getRandomValues(idPool)
    idPoolAt = 0
  }
  let id = ""
  let bits = 0
  let value = 0
  for (const end = idPoolAt + idBytes; idPoolAt < end; idPoolAt++) {
    value = (value << 8) | idPool[idPoolAt]!
    bits += 8
    while (bits >= 5) {
      bits -= 5
      id += base32[(value >>> bits) & 31]
    }
    value &= (1 << bits) - 1
  }
  return id
}

/** The state of a connection just accepted. */
export const make = (id: string, info: Transport.PeerInfo, tls: Transport.TlsInfo | undefined): SessionState => ({
  id,
  remoteAddress: info.remoteAddress,
  remotePort: info.remotePort,
  localAddress: info.localAddress,
  localPort: info.localPort,
  clientHostname: `[${info.remoteAddress}]`,
  tls,
  heloName: undefined,
  openingCommand: undefined,
  user: undefined,
  envelope: emptyEnvelope,
  transactions: 0,
  xClient: emptyMap,
  xForward: emptyMap
})

/** True once MAIL was accepted and until the transaction ends. */
export const inTransaction = (self: SessionState): boolean => self.envelope.mailFrom !== undefined

/** RFC 5321 §4.1.4: HELO/EHLO records the client's name and resets any transaction, as RSET does. */
export const greet: {
  (verb: "HELO" | "EHLO" | "LHLO", name: string): (self: SessionState) => SessionState
  (self: SessionState, verb: "HELO" | "EHLO" | "LHLO", name: string): SessionState
} = dual(3, (self: SessionState, verb: "HELO" | "EHLO" | "LHLO", name: string): SessionState => ({
  ...self,
  heloName: name.toLowerCase(),
  openingCommand: verb,
  envelope: emptyEnvelope
}))

/** Starts a transaction with an accepted MAIL FROM. */
export const startTransaction: {
  (from: Address.Address): (self: SessionState) => SessionState
  (self: SessionState, from: Address.Address): SessionState
} = dual(2, (self: SessionState, from: Address.Address): SessionState => {
  const args = from.args
  const body = typeof args.BODY === "string" ? args.BODY.toLowerCase() : "7bit"
  return {
    ...self,
    envelope: {
      mailFrom: from,
      rcptTo: [],
      bodyType: body === "8bitmime" || body === "binarymime" ? body : "7bit",
      smtpUtf8: args.SMTPUTF8 === true,
      requireTLS: args.REQUIRETLS === true,
      dsn: {
        // The parser admitted only FULL or HDRS, in any case.
        ret: typeof args.RET === "string" ? (args.RET.toUpperCase() === "HDRS" ? "HDRS" : "FULL") : null,
        envid: typeof args.ENVID === "string" ? Xtext.decode(args.ENVID) : null
      }
    }
  }
})

/** Adds a recipient; as in smtp-server, a repeated address (any case) replaces the earlier one. */
export const addRecipient: {
  (rcpt: Address.Address): (self: SessionState) => SessionState
  (self: SessionState, rcpt: Address.Address): SessionState
} = dual(2, (self: SessionState, rcpt: Address.Address): SessionState => {
  const key = rcpt.address.toLowerCase()
  const rcptTo = self.envelope.rcptTo
  // Repeats are rare: the list is filtered only when there is one to drop.
  const kept = rcptTo.some((r) => r.address.toLowerCase() === key)
    ? rcptTo.filter((r) => r.address.toLowerCase() !== key)
    : rcptTo
  return { ...self, envelope: { ...self.envelope, rcptTo: [...kept, rcpt] } }
})

/**
 * Adds a recipient even when its address was given before: in LMTP every accepted RCPT gets
 * its own reply after DATA (RFC 2033 §4.2), so each keeps its own entry, in order.
 */
export const appendRecipient: {
  (rcpt: Address.Address): (self: SessionState) => SessionState
  (self: SessionState, rcpt: Address.Address): SessionState
} = dual(2, (self: SessionState, rcpt: Address.Address): SessionState => ({
  ...self,
  envelope: { ...self.envelope, rcptTo: [...self.envelope.rcptTo, rcpt] }
}))

/** Ends the transaction (RSET, or after the reply to DATA); `completed` counts it. */
export const endTransaction: {
  (completed: boolean): (self: SessionState) => SessionState
  (self: SessionState, completed: boolean): SessionState
} = dual(2, (self: SessionState, completed: boolean): SessionState => ({
  ...self,
  envelope: emptyEnvelope,
  transactions: completed ? self.transactions + 1 : self.transactions
}))

/** Records the user the auth hook returned; it stays for the rest of the connection (RFC 4954 §4). `undefined` leaves the session unauthenticated. */
export const authenticate: {
  (user: unknown): (self: SessionState) => SessionState
  (self: SessionState, user: unknown): SessionState
} = dual(2, (self: SessionState, user: unknown): SessionState => ({ ...self, user }))

/**
 * RFC 3207 §4.2: once TLS is up the server forgets what the client said in plaintext (its
 * greeting, any login, the transaction); the connection's own facts and counters stay.
 */
export const secured: {
  (tls: Transport.TlsInfo): (self: SessionState) => SessionState
  (self: SessionState, tls: Transport.TlsInfo): SessionState
} = dual(2, (self: SessionState, tls: Transport.TlsInfo): SessionState => ({
  ...self,
  tls,
  heloName: undefined,
  openingCommand: undefined,
  user: undefined,
  envelope: emptyEnvelope
}))

/** RFC 3848 transmission type, as the `with` clause of a Received header names it. */
export const transmissionType = (self: SessionState, lmtp: boolean): string => {
  const base = lmtp ? "LMTP" : self.openingCommand === "HELO" ? "SMTP" : "ESMTP"
  return `${base}${self.tls !== undefined ? "S" : ""}${self.user !== undefined ? "A" : ""}`
}

const invariant = <A>(a: A): A => a

/**
 * The session's `Ref`. To hooks and to every `Ref` function it is an ordinary `Ref`; the
 * connection loop also reads and replaces `current` directly between commands, so a pipelined
 * command looks at its session without an Effect step.
 */
export class SessionRef extends Effectable.Class<SessionState> implements Ref.Ref<SessionState> {
  readonly [Ref.RefTypeId] = { _A: invariant<SessionState> }
  readonly [Readable.TypeId]: Readable.TypeId = Readable.TypeId
  readonly get: Effect.Effect<SessionState> = Effect.sync(() => this.current)

  constructor(public current: SessionState) {
    super()
  }

  modify<B>(f: (a: SessionState) => readonly [B, SessionState]): Effect.Effect<B> {
    return Effect.sync(() => {
      const [b, next] = f(this.current)
      this.current = next
      return b
    })
  }

  commit(): Effect.Effect<SessionState> {
    return this.get
  }
}

/** Read access to the current connection's session, for code a hook calls. */
export class Session extends Context.Tag("effect-smtp/Session")<Session, {
  /** The session as it is now. */
  readonly get: Effect.Effect<SessionState>
  /** The transport's underlying object as it is now (Node: the socket, the TLS socket once secure), e.g. for the facade's `onSecure(socket, …)`. */
  readonly raw: Effect.Effect<unknown>
}>() {}

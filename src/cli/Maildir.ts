/**
 * Delivery into a Maildir (https://cr.yp.to/proto/maildir.html). A message is streamed into
 * `tmp/` with backpressure (the socket is read only as fast as the disk takes it), fsynced,
 * then renamed into `new/`: a reader never sees a partial message, and a crash leaves at most
 * a stray file in `tmp/`. The delivery succeeds only once the file is in `new/`, so a 250 means
 * the message is on disk.
 *
 * The file is the message as received (CRLF line endings), after three trace headers that
 * record the envelope: `Return-Path` (RFC 5321 §4.4, the MAIL FROM address), one
 * `Delivered-To` per recipient (RCPT TO), and `Received` (RFC 5321 §4.4: client, server,
 * protocol, session id and time). One file holds the message for all its recipients.
 */
import { type Error as PlatformError, FileSystem, Path } from "@effect/platform"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Hooks from "../core/Hooks.js"
import * as Session from "../core/Session.js"
import type { MessageError } from "../core/SmtpError.js"
import { describePlatformError } from "./StartupError.js"

/** A message written into `new/`. */
export interface Delivered {
  /** Path of the file: the Maildir's path as given, then `new/<unique name>`. */
  readonly path: string
  /** Body bytes received, as the client sent them (trace headers not counted). */
  readonly size: number
}

/** The Maildir cannot be used, or a message could not be written (disk full, permissions). */
export class MaildirError extends Data.TaggedError("MaildirError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** What the trace headers say about the receiving end. */
export interface Options {
  /** The server's name, for the `by` clause of Received. */
  readonly serverName: string
  /** Whether the server speaks LMTP, for the protocol in Received (RFC 3848). */
  readonly lmtp: boolean
  /** This host's name, for the unique part of file names (Maildir spec). */
  readonly hostname: string
}

/** A Maildir that messages are delivered into. */
export class Maildir extends Context.Tag("effect-smtp/cli/Maildir")<Maildir, {
  /** The Maildir's path as given. */
  readonly root: string
  /** Writes a message with its trace headers into `new/`; consumes the body. */
  readonly deliver: (
    message: Hooks.Message,
    session: Session.SessionState
  ) => Effect.Effect<Delivered, MessageError | MaildirError>
}>() {}

/**
 * Opens the Maildir at `root`: creates `tmp/`, `new/` and `cur/` when missing, and checks they
 * are writable, so an unusable path fails before the server listens.
 */
export const make = (
  root: string,
  options: Options
): Effect.Effect<Context.Tag.Service<Maildir>, MaildirError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = (sub: "tmp" | "new" | "cur") => path.join(root, sub)
    for (const sub of ["tmp", "new", "cur"] as const) {
      yield* fs.makeDirectory(dir(sub), { recursive: true, mode: 0o700 }).pipe(
        Effect.zipRight(fs.access(dir(sub), { writable: true })),
        Effect.mapError((error) =>
          new MaildirError({ message: `${dir(sub)} is not a writable directory: ${describePlatformError(error)}`, cause: error })
        )
      )
    }
    const host = hostPart(options.hostname)

    const deliver = (message: Hooks.Message, session: Session.SessionState) =>
      Effect.gen(function*() {
        const name = uniqueName(yield* Clock.currentTimeNanos, host)
        const tmp = path.join(dir("tmp"), name)
        const final = path.join(dir("new"), name)
        const failed = (step: string) => (error: PlatformError.PlatformError) =>
          new MaildirError({ message: `${step} ${tmp}: ${describePlatformError(error)}`, cause: error })
        const headers = traceHeaders(session, message.envelope, options, new Date(yield* Clock.currentTimeMillis))
        yield* Effect.scoped(
          Effect.gen(function*() {
            // "wx": a name that somehow exists is never overwritten.
            const file = yield* Effect.mapError(fs.open(tmp, { flag: "wx", mode: 0o600 }), failed("cannot create"))
            yield* Effect.mapError(file.writeAll(encoder.encode(headers)), failed("cannot write"))
            // One chunk at a time: the next is read off the socket only once this one is written.
            yield* Hooks.runForEach(message, (chunk) => Effect.mapError(file.writeAll(chunk), failed("cannot write")))
            yield* Effect.mapError(file.sync, failed("cannot sync"))
          })
        ).pipe(
          Effect.zipRight(Effect.mapError(fs.rename(tmp, final), failed("cannot move to new/"))),
          // Whatever stopped the message (the client left, the size limit, the disk), its partial file goes.
          Effect.onError(() => Effect.ignore(fs.remove(tmp)))
        )
        // The rename is durable once the directory is synced; not every platform can sync one.
        yield* Effect.ignore(Effect.scoped(Effect.flatMap(fs.open(dir("new"), { flag: "r" }), (d) => d.sync)))
        return { path: final, size: message.byteLength }
      })

    return { root, deliver }
  })

/** The Maildir at `root` as a service; fails when it cannot be created or written. */
export const layer = (
  root: string,
  options: Options
): Layer.Layer<Maildir, MaildirError, FileSystem.FileSystem | Path.Path> => Layer.effect(Maildir, make(root, options))

const encoder = new TextEncoder()

let deliveries = 0

/**
 * A name no other delivery uses, per the Maildir spec: `<seconds>.<unique>.<host>`, where the
 * unique part is `M<microseconds>P<pid>Q<deliveries by this process>R<random>`.
 */
export const uniqueName = (nanos: bigint, host: string): string => {
  const micros = nanos / 1000n
  const random = new Uint8Array(4)
  globalThis.crypto.getRandomValues(random)
  const hex = Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")
  return `${micros / 1_000_000n}.M${micros % 1_000_000n}P${process.pid}Q${++deliveries}R${hex}.${host}`
}

/** The host part of a file name: "/" and ":" are written as \057 and \072, as the spec asks. */
export const hostPart = (hostname: string): string =>
  (hostname === "" ? "localhost" : hostname).replaceAll("/", "\\057").replaceAll(":", "\\072")

// Header values come from the client: anything that could end the header line is replaced.
const clean = (value: string): string => value.replace(/[\x00-\x1f\x7f]/g, "?")

/** The trace headers written before a message: Return-Path, Delivered-To per recipient, Received. */
export const traceHeaders = (
  session: Session.SessionState,
  envelope: Session.Envelope,
  options: Pick<Options, "serverName" | "lmtp">,
  date: Date
): string => {
  const lines = [`Return-Path: <${clean(envelope.mailFrom?.address ?? "")}>`]
  for (const rcpt of envelope.rcptTo) lines.push(`Delivered-To: <${clean(rcpt.address)}>`)
  const ip = session.remoteAddress
  // RFC 5321 §4.4: "from" the name the client gave, then what the server knows of it.
  const known = session.clientHostname === `[${ip}]` ? session.clientHostname : `${session.clientHostname} [${ip}]`
  lines.push(
    `Received: from ${clean(session.heloName ?? "unknown")} (${clean(known)})`,
    `\tby ${options.serverName} with ${Session.transmissionType(session, options.lmtp)} id ${session.id}.${session.transactions + 1};`,
    `\t${rfc5322Date(date)}`
  )
  return lines.map((line) => `${line}\r\n`).join("")
}

const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const two = (n: number) => String(n).padStart(2, "0")

/** A date as RFC 5322 §3.3 writes it, in UTC: `Tue, 25 Nov 2025 21:23:16 +0000`. */
export const rfc5322Date = (date: Date): string =>
  `${days[date.getUTCDay()]}, ${date.getUTCDate()} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
  `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`

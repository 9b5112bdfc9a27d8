/**
 * How the CLI writes what happens, on standard output. `pretty`: one line per event — UTC
 * time, the level when it is not INFO, the text, and the cause of a failure. `json`: one JSON
 * object per line with every annotation (session, remote, and for a message from, to, size,
 * file), for log shippers.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as Session from "../core/Session.js"
import type * as Maildir from "./Maildir.js"

const text = (message: unknown): string =>
  Array.isArray(message) ? message.map(text).join(" ") : typeof message === "string" ? message : Inspectable.toStringUnknown(message)

/** One line per event: `2025-11-25T21:23:16.968Z WARN text: cause`. */
export const prettyLogger = Logger.make<unknown, void>(({ cause, date, logLevel, message }) => {
  const level = logLevel._tag === "Info" ? "" : ` ${logLevel.label}`
  const failure = Cause.isEmpty(cause) ? "" : `: ${Cause.pretty(cause, { renderErrorCause: true })}`
  globalThis.console.log(`${date.toISOString()}${level} ${text(message)}${failure}`)
})

/** Replaces Effect's default logger with the chosen format. */
export const layer = (format: "pretty" | "json"): Layer.Layer<never> =>
  Logger.replace(Logger.defaultLogger, format === "json" ? Logger.withConsoleLog(Logger.jsonLogger) : prettyLogger)

const bracketed = (address: string) => `<${address}>`

/** The line for a stored message: who sent it to whom, its size and its file. */
export const delivered = (envelope: Session.Envelope, message: Maildir.Delivered): Effect.Effect<void> => {
  const from = envelope.mailFrom?.address ?? ""
  const to = envelope.rcptTo.map((r) => r.address)
  return Effect.log(`message from ${bracketed(from)} to ${to.map(bracketed).join(", ")}: ${message.size} bytes, ${message.path}`).pipe(
    Effect.annotateLogs({ from, to, size: message.size, file: message.path })
  )
}

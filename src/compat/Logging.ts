/**
 * The facade's `logger` and `component` options: `true` logs to the console, `false` (the
 * default, as in smtp-server) nowhere, and a bunyan-style object gets `level(fields, message)`
 * calls. The core's Effect logs go to the same place through a replaced default Logger.
 */
import * as Cause from "effect/Cause"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type { ExternalLogger } from "./Types.js"

/** Levels the facade logs at. */
export type Level = "trace" | "debug" | "info" | "warn" | "error"

/** Where the facade's log lines go. */
export interface Log {
  /** False when nothing is logged, so callers skip building messages. */
  readonly enabled: boolean
  readonly write: (level: Level, message: string, fields?: Record<string, unknown>) => void
}

/** Logs nothing. */
export const silent: Log = { enabled: false, write: () => {} }

const levels: ReadonlyArray<Level> = ["trace", "debug", "info", "warn", "error"]
// smtp-server's fallback when a logger lacks a level.
const fallbacks = ["info", "debug", "log", "trace", "warn", "error"] as const

/** Builds the log of a facade from its `logger` and `component` options. */
export const make = (option: boolean | ExternalLogger | undefined, component: string): Log => {
  if (option === undefined || option === false) return silent
  if (option === true) {
    return {
      enabled: true,
      write: (level, message, fields) => {
        const cid = typeof fields?.["cid"] === "string" ? ` [#${fields["cid"]}]` : ""
        const err = fields?.["err"] === undefined ? "" : ` ${String(fields["err"])}`
        console.log(
          `[${new Date().toISOString().slice(0, 19).replace("T", " ")}] ${level.toUpperCase().padEnd(5)} [${component}]${cid} ${message}${err}`
        )
      }
    }
  }
  const target = option as Record<string, unknown>
  const methods = new Map<Level, (...args: Array<unknown>) => void>()
  for (const level of levels) {
    const name = typeof target[level] === "function" ? level : fallbacks.find((f) => typeof target[f] === "function")
    if (name !== undefined) methods.set(level, (target[name] as (...args: Array<unknown>) => void).bind(option))
  }
  return {
    enabled: true,
    write: (level, message, fields) => {
      const method = methods.get(level)
      if (method === undefined) return
      try {
        method({ component, ...fields }, message)
      } catch {
        // A broken logger must not break the session that logs.
      }
    }
  }
}

const levelOf = (level: LogLevel.LogLevel): Level => {
  switch (level._tag) {
    case "All":
    case "Trace":
      return "trace"
    case "Debug":
      return "debug"
    case "Info":
      return "info"
    case "Warning":
      return "warn"
    default:
      return "error"
  }
}

const text = (message: unknown): string =>
  Array.isArray(message) ? message.map(text).join(" ") : typeof message === "string" ? message : String(message)

/** Sends the Effect logs of the server (core and facade) to `log`, at every level it may want. */
export const layer = (log: Log): Layer.Layer<never> =>
  log.enabled
    ? Layer.merge(
      Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ annotations, cause, logLevel, message }) => {
          const fields: Record<string, unknown> = {}
          for (const [key, value] of HashMap.toEntries(annotations)) fields[key === "session" ? "cid" : key] = value
          if (!Cause.isEmpty(cause)) fields["err"] = Cause.pretty(cause)
          log.write(levelOf(logLevel), text(message), fields)
        })
      ),
      Logger.minimumLogLevel(LogLevel.All)
    )
    : Layer.merge(Logger.replace(Logger.defaultLogger, Logger.none), Logger.minimumLogLevel(LogLevel.None))

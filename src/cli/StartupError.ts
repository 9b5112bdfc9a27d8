/** Why the server did not start. `main` prints `message` as one line and exits with `exitCode`. */
import type { Error as PlatformError } from "@effect/platform"
import * as Data from "effect/Data"

/**
 * A bad value (exit code 2: the command line or the environment must change) or a failure to
 * bind a port (exit code 1: something else holds it).
 */
export class StartupError extends Data.TaggedError("StartupError")<{
  readonly reason: "BadValue" | "Listen"
  readonly message: string
  readonly cause?: unknown
}> {
  /** A value that cannot work, named by its flag. */
  static readonly badValue = (message: string, cause?: unknown): StartupError =>
    new StartupError({ reason: "BadValue", message, cause })

  /** A port that could not be bound. */
  static readonly listen = (message: string, cause?: unknown): StartupError =>
    new StartupError({ reason: "Listen", message, cause })

  /** The process exit code for this failure. */
  get exitCode(): number {
    return this.reason === "BadValue" ? 2 : 1
  }
}

/** What went wrong with a file operation, in the system's words (`ENOENT: no such file or directory, open 'x'`). */
export const describePlatformError = (error: PlatformError.PlatformError): string =>
  error._tag === "SystemError" ? (error.description ?? error.reason) : error.message

/**
 * Reverse DNS for the client's host name, as a service: Node's resolver in production
 * (`NodeSmtpServer` provides it), the facade's `resolver` option, or a table in tests. The
 * lookup is bounded on the Effect `Clock`, so a resolver that hangs costs at most the bound
 * (and `TestClock` moves it).
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Hostname from "../protocol/Hostname.js"

/** A lookup that gave no answer (no PTR record, a DNS failure, a resolver that threw). */
export class ResolveError extends Data.TaggedError("ResolveError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** Looks up the names of an IP address, as `dns.reverse` does. */
export class Resolver extends Context.Tag("effect-smtp/Resolver")<Resolver, {
  readonly reverse: (ip: string) => Effect.Effect<ReadonlyArray<string>, ResolveError>
}>() {}

/** A resolver from a function. */
export const fromFunction = (
  reverse: (ip: string) => Effect.Effect<ReadonlyArray<string>, ResolveError>
): Context.Tag.Service<Resolver> => ({ reverse })

/** A resolver from a `dns.reverse`-style callback function (the facade's `resolver.reverse`); a throw is a failed lookup. */
export const fromCallback = (
  reverse: (ip: string, callback: (error: unknown, hostnames?: ReadonlyArray<string>) => void) => void
): Context.Tag.Service<Resolver> => ({
  reverse: (ip) =>
    Effect.async<ReadonlyArray<string>, ResolveError>((resume) => {
      try {
        reverse(ip, (error, hostnames) => {
          resume(
            error ? Effect.fail(new ResolveError({ message: String(error), cause: error })) : Effect.succeed(hostnames ?? [])
          )
        })
      } catch (cause) {
        resume(Effect.fail(new ResolveError({ message: String(cause), cause })))
      }
    })
})

/** A resolver that answers from a table; addresses not in it fail as unknown. For tests. */
export const layerTest = (names: Readonly<Record<string, ReadonlyArray<string>>>): Layer.Layer<Resolver> =>
  Layer.succeed(
    Resolver,
    fromFunction((ip) =>
      Object.hasOwn(names, ip)
        ? Effect.succeed(names[ip]!)
        : Effect.fail(new ResolveError({ message: `no PTR record for ${ip}` }))
    )
  )

/**
 * The client's host name: the first name the resolver gives, when it answers within `timeout`
 * and the name is a plausible host name (a PTR record can hold any bytes); otherwise undefined,
 * and the session shows `[address]`. Never fails.
 */
export const clientHostname = (
  resolver: Context.Tag.Service<Resolver>,
  ip: string,
  timeout: Duration.DurationInput
): Effect.Effect<string | undefined> =>
  Effect.suspend(() => resolver.reverse(ip)).pipe(
    Effect.timeoutOption(timeout),
    Effect.flatMap(Option.match({
      onNone: () => Effect.as(Effect.logDebug(`reverse lookup of ${ip} timed out`), undefined),
      onSome: (names) => {
        const name = names[0]
        if (name === undefined) return Effect.succeed(undefined)
        if (Hostname.isValid(name)) return Effect.succeed(Hostname.normalize(name))
        return Effect.as(Effect.logInfo(`discarded invalid reverse name ${JSON.stringify(name)} for ${ip}`), undefined)
      }
    })),
    Effect.catchAll((error) => Effect.as(Effect.logDebug(`reverse lookup of ${ip} failed: ${error.message}`), undefined)),
    Effect.catchAllDefect((defect) => Effect.as(Effect.logWarning(`reverse lookup of ${ip} died`, defect), undefined))
  )

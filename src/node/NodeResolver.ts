/** The `Resolver` over Node's DNS (`dns.promises.reverse`, the system's name servers). */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as dns from "node:dns"
import * as Resolver from "../core/Resolver.js"

/** Reverse lookups with Node's default resolver. */
export const make = (): Resolver.Resolver["Type"] =>
  Resolver.fromFunction((ip) =>
    Effect.tryPromise({
      try: () => dns.promises.reverse(ip),
      catch: (cause) => new Resolver.ResolveError({ message: cause instanceof Error ? cause.message : String(cause), cause })
    })
  )

/** Provides Node's resolver. */
export const layer: Layer.Layer<Resolver.Resolver> = Layer.sync(Resolver.Resolver, make)

/**
 * What happens on a new connection before the greeting, in this order: the PROXY header from
 * a trusted proxy (in plaintext, so before implicit TLS), then the client's host name by
 * reverse DNS; then the connection loop runs onConnect and greets.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Ip from "../protocol/Ip.js"
import * as Proxy from "../protocol/Proxy.js"
import type { ConnectionContext } from "./ConnectionContext.js"
import * as Resolver from "./Resolver.js"
import type * as Session from "./Session.js"

/**
 * Reads the PROXY header when the peer is a trusted proxy (`useProxy`), and puts the client it
 * names in the session. True when the session goes on. A header that is malformed, too long,
 * or not there within `socketTimeout` ends the connection without a word: the peer is a proxy,
 * not an SMTP client. An untrusted peer is served directly and sends no header: a PROXY line
 * from it is an unknown command, so it cannot choose the address it is known by.
 */
export const proxyHeader = (ctx: ConnectionContext): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const { config, transport } = ctx
    if (!Ip.isAllowed(config.useProxy, transport.info.remoteAddress)) return Effect.succeed(true)
    const reader = new Proxy.HeaderReader()
    const refuse = (why: string) =>
      Effect.sync(() => {
        ctx.closed = true
        return false
      }).pipe(Effect.tap(() => Effect.logWarning(`PROXY header from ${transport.info.remoteAddress} refused: ${why}`)))
    const step: Effect.Effect<boolean> = Effect.flatMap(transport.read(config.socketTimeout), (chunk) => {
      if (typeof chunk === "string") return refuse(chunk === "timeout" ? "none arrived in time" : "connection closed")
      const result = reader.push(chunk)
      if (result._tag === "NeedMore") return step
      if (result._tag === "Invalid") return refuse(result.reason)
      // Pipelined SMTP input that came with the header is the client's first command bytes.
      if (reader.rest !== undefined) ctx.framer.push(reader.rest)
      const { destination, source } = result
      if (source === undefined || destination === undefined) return Effect.succeed(true)
      ctx.peerAddress = source.address
      return Ref.update(ctx.session, (s): Session.SessionState => ({
        ...s,
        remoteAddress: source.address,
        remotePort: source.port,
        localAddress: destination.address,
        localPort: destination.port,
        clientHostname: `[${source.address}]`
      })).pipe(Effect.as(true))
    })
    return step
  })

/**
 * Resolves the client's address to `clientHostname` unless `disableReverseLookup`, with the
 * `Resolver` in context (none: no lookup). Bounded by `reverseLookupTimeout`; on failure or
 * timeout the session keeps `[address]`.
 */
export const resolveClient = (ctx: ConnectionContext): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (ctx.config.disableReverseLookup) return
    const resolver = yield* Effect.serviceOption(Resolver.Resolver)
    if (Option.isNone(resolver)) return
    const { remoteAddress } = yield* Ref.get(ctx.session)
    const name = yield* Resolver.clientHostname(resolver.value, remoteAddress, ctx.config.reverseLookupTimeout)
    if (name !== undefined) yield* Ref.update(ctx.session, (s): Session.SessionState => ({ ...s, clientHostname: name }))
  })

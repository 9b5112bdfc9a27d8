/** AUTH (RFC 4954): the SASL exchange over continuation lines, the auth hook, and the reply. */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Ref from "effect/Ref"
import type * as Command from "../../protocol/Command.js"
import * as LineFramer from "../../protocol/LineFramer.js"
import * as Reply from "../../protocol/Reply.js"
import * as Sasl from "../../protocol/Sasl.js"
import type { ConnectionContext } from "../ConnectionContext.js"
import * as Session from "../Session.js"
import { SmtpError } from "../SmtpError.js"
import * as Transport from "../Transport.js"

/** Authenticates the client when policy allows, the mechanism is enabled and the hook accepts. */
export const handle = (ctx: ConnectionContext, command: Extract<Command.Command, { _tag: "Auth" }>) =>
  Effect.gen(function*() {
    const session = yield* Ref.get(ctx.session)
    const { config } = ctx
    // smtp-server's order: TLS first, then the identity, then the mechanism. Hiding STARTTLS
    // never makes plaintext AUTH acceptable.
    if (session.tls === undefined && !config.allowInsecureAuth) return ctx.reply(Reply.table.encryptionRequired)
    if (session.user !== undefined) return ctx.reply(Reply.table.alreadyAuthenticated)
    if (Session.inTransaction(session)) return ctx.reply(Reply.table.authInTransaction)
    const mechanism = command.mechanism
    if (!Sasl.isMechanism(mechanism) || !config.authMethods.includes(mechanism)) {
      return ctx.reply(Reply.table.unknownMechanism)
    }
    const now = yield* Clock.currentTimeMillis
    let step = Sasl.start(
      mechanism,
      command.initialResponse,
      () => Sasl.cramMd5Challenge(nonce(), now / 1000, config.name)
    )
    while (step._tag === "Challenge") {
      ctx.reply(Reply.table.authChallenge(step.challenge))
      const line = yield* continuation(ctx)
      if (line === undefined) return
      step = Sasl.respond(step.state, line)
    }
    if (step._tag === "Fail") {
      yield* Effect.logDebug("AUTH exchange refused").pipe(Effect.annotateLogs({ code: step.reply.code }))
      return ctx.reply(step.reply)
    }
    yield* verify(ctx, step.credentials)
  }).pipe(Effect.annotateLogs("mechanism", command.mechanism))

// The next response line of the exchange; never parsed as a command. `undefined` when the
// exchange ends without one: the peer left, went idle (421), or sent a line past the limit.
const continuation = (ctx: ConnectionContext): Effect.Effect<string | undefined> =>
  Effect.map(ctx.nextLine, (item) => {
    if (item === Transport.EOF) {
      ctx.closed = true
      return undefined
    }
    if (item === Transport.TIMEOUT) {
      ctx.reply(Reply.table.timeout)
      return undefined
    }
    if (item === LineFramer.TooLong) {
      ctx.reply(Reply.table.authLineTooLong)
      return undefined
    }
    return item
  })

// Asks the hook; logs the mechanism and user name only, never a password, token or digest.
const verify = (ctx: ConnectionContext, credentials: Sasl.Credentials) =>
  Effect.gen(function*() {
    const session = yield* ctx.snapshot
    // Only an SmtpError is a refusal with a reply of its own; any other failure is the guard's 451.
    const verdict = yield* ctx.guard(
      "onAuth",
      () => Effect.either(Effect.catchIf(ctx.hooks.onAuth(credentials, session), (e) => !(e instanceof SmtpError), Effect.die))
    )
    if (Either.isLeft(verdict)) return yield* refuse(ctx, verdict.left)
    const result = verdict.right
    if (Either.isLeft(result)) {
      const error = result.left
      if (error.challenge !== undefined && credentials.method === "XOAUTH2") {
        // The XOAUTH2 failure dance (as OAUTHBEARER, RFC 7628 §3.2.2): error details as a 334
        // challenge, the client's empty response, then the refusal.
        ctx.reply(Reply.table.authChallenge(Sasl.errorChallenge(error.challenge)))
        if ((yield* continuation(ctx)) === undefined) return
      }
      return yield* refuse(ctx, error.reply)
    }
    const { code, message, user } = result.right
    if (user === undefined || user === null) return yield* refuse(ctx, Reply.table.authFailed)
    yield* Ref.update(ctx.session, Session.authenticate(user))
    ctx.reply(Reply.table.authenticated(message, code !== undefined && code >= 200 && code < 300 ? code : undefined))
    yield* Effect.logInfo("AUTH succeeded")
  }).pipe(Effect.annotateLogs("username", credentials.username))

const refuse = (ctx: ConnectionContext, reply: Reply.Reply) =>
  Effect.zipRight(
    Effect.sync(() => ctx.reply(reply)),
    Effect.logInfo("AUTH refused").pipe(Effect.annotateLogs("code", reply.code))
  )

// 128 random bits in hex: the unpredictable part of the CRAM-MD5 challenge (RFC 2195 §2).
const nonce = (): string => {
  const bytes = new Uint8Array(16)
  globalThis.crypto.getRandomValues(bytes)
  let hex = ""
  for (const b of bytes) hex += b.toString(16).padStart(2, "0")
  return hex
}

/**
 * Logins given on the command line (`--user name:password`) as the server's OnAuth hook. Names
 * and passwords are compared in constant time, and every user is compared on every attempt,
 * so neither the answer's timing nor its text tells whether a name exists.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as crypto from "node:crypto"
import * as Hooks from "../core/Hooks.js"
import { SmtpError } from "../core/SmtpError.js"

/** One login. */
export interface User {
  readonly name: string
  readonly password: string
}

/** Reads `name:password` (the password may contain colons); undefined when either part is empty. */
export const parse = (spec: string): User | undefined => {
  const colon = spec.indexOf(":")
  if (colon <= 0 || colon === spec.length - 1) return undefined
  return { name: spec.slice(0, colon), password: spec.slice(colon + 1) }
}

/** The SASL mechanisms offered with these logins: all that verify a known password. */
export const mechanisms: ReadonlyArray<"PLAIN" | "LOGIN" | "CRAM-MD5"> = ["PLAIN", "LOGIN", "CRAM-MD5"]

// Digests make the inputs equal in length, as timingSafeEqual requires, whatever was sent.
const digest = (value: string): Buffer => crypto.createHash("sha256").update(value, "utf8").digest()

const same = (a: Buffer, b: Buffer): boolean => crypto.timingSafeEqual(a, b)

/** Checks credentials against `users`: the name of the user they prove, or undefined. */
export const verify = (users: ReadonlyArray<User>, credentials: Hooks.Credentials): string | undefined => {
  const name = digest(credentials.username)
  let found: string | undefined = undefined
  for (const user of users) {
    const nameMatches = same(digest(user.name), name)
    let passwordMatches = false
    switch (credentials.method) {
      case "PLAIN":
      case "LOGIN":
        passwordMatches = same(digest(user.password), digest(credentials.password))
        break
      case "CRAM-MD5":
        // Compares the HMAC in constant time (RFC 2195).
        passwordMatches = credentials.validatePassword(user.password)
        break
      default:
        // XOAUTH2 and XCLIENT are not offered: no token or proxy proves a password.
        break
    }
    if (nameMatches && passwordMatches && found === undefined) found = user.name
  }
  return found
}

/** The OnAuth hook for `users`: the user's name becomes `session.user`; anything else is refused with 535 5.7.8. */
export const layer = (users: ReadonlyArray<User>): Layer.Layer<Hooks.OnAuth> =>
  Layer.succeed(Hooks.OnAuth, (credentials) => {
    const user = verify(users, credentials)
    return user === undefined ? Effect.fail(SmtpError.authenticationFailed()) : Effect.succeed({ user })
  })

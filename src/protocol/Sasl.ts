/**
 * SASL mechanisms of SMTP AUTH (RFC 4954) as pure step machines: the AUTH command starts one,
 * each client response line advances it, and it ends with the credentials for the auth hook or
 * the refusal to send. No I/O and no exceptions: hostile input is a `Fail` step.
 */
import { Buffer } from "node:buffer"
import { createHmac, timingSafeEqual } from "node:crypto"
import * as Reply from "./Reply.js"

/** The mechanisms this server implements. */
export type Mechanism = "PLAIN" | "LOGIN" | "CRAM-MD5" | "XOAUTH2"

/** Every implemented mechanism, in the order clients usually prefer them. */
export const mechanisms: ReadonlyArray<Mechanism> = ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]

/** True for a mechanism name (upper case) this module implements. */
export const isMechanism = (name: string): name is Mechanism => (mechanisms as ReadonlyArray<string>).includes(name)

/** What a finished exchange proved, by mechanism; the auth hook decides whether it is enough. */
export type Credentials =
  | {
    readonly method: "PLAIN"
    readonly username: string
    readonly password: string
    /** RFC 4616 §2: the identity the client asks to act as, when it sent a non-empty one. */
    readonly authzid?: string | undefined
  }
  | { readonly method: "LOGIN"; readonly username: string; readonly password: string }
  | {
    readonly method: "CRAM-MD5"
    readonly username: string
    readonly challenge: string
    readonly challengeResponse: string
    /** True when `password` yields the client's digest for the challenge; compares in constant time. */
    readonly validatePassword: (password: string) => boolean
  }
  | { readonly method: "XOAUTH2"; readonly username: string; readonly accessToken: string }

/** Where an unfinished exchange stands: which client response comes next. */
export type State =
  | { readonly _tag: "PlainResponse" }
  | { readonly _tag: "LoginUsername" }
  | { readonly _tag: "LoginPassword"; readonly username: string }
  | { readonly _tag: "CramMd5Response"; readonly challenge: string }
  | { readonly _tag: "XOAuth2Response" }

/** One step of an exchange: send a `334` challenge and wait, or finish with credentials or a refusal. */
export type Step =
  | { readonly _tag: "Challenge"; readonly challenge: string; readonly state: State }
  | { readonly _tag: "Done"; readonly credentials: Credentials }
  | { readonly _tag: "Fail"; readonly reply: Reply.Reply }

// LOGIN's prompts are the base64 of "Username:" and "Password:", as every client expects.
const usernamePrompt = "VXNlcm5hbWU6"
const passwordPrompt = "UGFzc3dvcmQ6"

/**
 * Starts `mechanism` with the AUTH command's initial response, if any. `challenge` makes the
 * CRAM-MD5 server challenge (see `cramMd5Challenge`); only that mechanism calls it.
 */
export const start = (mechanism: Mechanism, initialResponse: string | undefined, challenge: () => string): Step => {
  switch (mechanism) {
    case "PLAIN":
      return initialResponse === undefined ? ask("", { _tag: "PlainResponse" }) : plain(initialBytes(initialResponse))
    case "LOGIN":
      return initialResponse === undefined
        ? ask(usernamePrompt, { _tag: "LoginUsername" })
        : loginUsername(initialBytes(initialResponse))
    case "CRAM-MD5": {
      // RFC 2195 §2: the server speaks first, so an initial response is a syntax error.
      if (initialResponse !== undefined) return fail(Reply.table.syntax("AUTH CRAM-MD5"))
      const text = challenge()
      return ask(Buffer.from(text, "utf8").toString("base64"), { _tag: "CramMd5Response", challenge: text })
    }
    case "XOAUTH2":
      return initialResponse === undefined ? ask("", { _tag: "XOAuth2Response" }) : xoauth2(initialBytes(initialResponse))
  }
}

/** Advances an exchange with one client response line (CRLF stripped). */
export const respond = (state: State, line: string): Step => {
  const text = line.trim()
  // RFC 4954 §4: a lone "*" cancels the exchange, and the server answers 501.
  if (text === "*") return fail(Reply.table.authAborted)
  const bytes = decodeBase64(text)
  switch (state._tag) {
    case "PlainResponse":
      return plain(bytes)
    case "LoginUsername":
      return loginUsername(bytes)
    case "LoginPassword":
      return loginPassword(state.username, bytes)
    case "CramMd5Response":
      return cramMd5(state.challenge, bytes)
    case "XOAuth2Response":
      return xoauth2(bytes)
  }
}

/** The RFC 2195 challenge: a unique message-id-like string, `<nonce.timestamp@hostname>`. */
export const cramMd5Challenge = (nonce: string, unixSeconds: number, hostname: string): string =>
  `<${nonce}.${Math.floor(unixSeconds)}@${hostname}>`

/**
 * The base64 JSON of XOAUTH2 error details, sent as a `334` challenge before the refusal.
 * Never throws: a value JSON cannot encode (a cycle, a bigint) is sent as `{}`.
 */
export const errorChallenge = (data: unknown): string => {
  let json: string | undefined
  try {
    json = JSON.stringify(data)
  } catch {
    json = undefined
  }
  return Buffer.from(typeof json === "string" ? json : "{}", "utf8").toString("base64")
}

/**
 * Strict base64 (RFC 4648 §4) to bytes, or `undefined` when it is not base64. Padding may be
 * left out, as some clients do; characters outside the alphabet or a stray `=` are refused.
 */
export const decodeBase64 = (text: string): Uint8Array | undefined => {
  let end = text.length
  let padding = 0
  while (end > 0 && text.charCodeAt(end - 1) === 61 && padding < 2) {
    end--
    padding++
  }
  for (let i = 0; i < end; i++) {
    if (!isBase64Char(text.charCodeAt(i))) return undefined
  }
  const rest = end % 4
  if (rest === 1) return undefined
  if (padding > 0 && (rest === 0 || rest + padding !== 4)) return undefined
  return Buffer.from(text.slice(0, end), "base64")
}

const isBase64Char = (c: number): boolean =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47

const ask = (challenge: string, state: State): Step => ({ _tag: "Challenge", challenge, state })
const fail = (reply: Reply.Reply): Step => ({ _tag: "Fail", reply })
const done = (credentials: Credentials): Step => ({ _tag: "Done", credentials })

// RFC 4954 §4: an initial response of "=" is a response that is present and empty.
const initialBytes = (text: string): Uint8Array | undefined => (text === "=" ? new Uint8Array(0) : decodeBase64(text))

const utf8 = new TextDecoder("utf-8", { fatal: true })

// SASL strings are UTF-8 (RFC 4616 §2, RFC 4954 §4); invalid UTF-8 is malformed input.
const decodeUtf8 = (bytes: Uint8Array): string | undefined => {
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

// Identities end up in logs, Received headers and replies: control characters (C0, DEL, C1,
// which includes U+0085 NEXT LINE) have no place in them.
const controlChars = /[\x00-\x1f\x7f-\x9f]/

const badIdentity = (name: string): boolean => name === "" || controlChars.test(name)

const badData = fail(Reply.table.saslBadUserdata)

// RFC 4616 §2: message = [authzid] NUL authcid NUL passwd. As in smtp-server, a client that
// leaves authcid empty and puts the user name in authzid is taken at its word.
const plain = (bytes: Uint8Array | undefined): Step => {
  if (bytes === undefined) return fail(Reply.table.saslBadBase64)
  const text = decodeUtf8(bytes)
  if (text === undefined) return badData
  const fields = text.split("\x00")
  if (fields.length !== 3) return badData
  const [authzid, authcid, password] = fields as [string, string, string]
  const username = authcid === "" ? authzid : authcid
  if (badIdentity(username) || controlChars.test(authzid)) return badData
  return done(
    authzid === "" ? { method: "PLAIN", username, password } : { method: "PLAIN", username, password, authzid }
  )
}

const loginUsername = (bytes: Uint8Array | undefined): Step => {
  if (bytes === undefined) return fail(Reply.table.saslBadBase64)
  const username = decodeUtf8(bytes)
  if (username === undefined || username === "") return fail(Reply.table.saslMissingUsername)
  if (badIdentity(username)) return badData
  return ask(passwordPrompt, { _tag: "LoginPassword", username })
}

const loginPassword = (username: string, bytes: Uint8Array | undefined): Step => {
  if (bytes === undefined) return fail(Reply.table.saslBadBase64)
  const password = decodeUtf8(bytes)
  if (password === undefined) return badData
  return done({ method: "LOGIN", username, password })
}

const hexDigest = /^[0-9a-fA-F]{32}$/

// RFC 2195 §2: the response is the user name, a space, and the HMAC-MD5 of the challenge keyed
// with the shared secret, as 32 lower-case hex digits. The name may itself contain spaces.
const cramMd5 = (challenge: string, bytes: Uint8Array | undefined): Step => {
  if (bytes === undefined) return fail(Reply.table.saslBadBase64)
  const text = decodeUtf8(bytes)
  if (text === undefined) return badData
  const space = text.lastIndexOf(" ")
  if (space < 0) return badData
  const username = text.slice(0, space)
  const challengeResponse = text.slice(space + 1).toLowerCase()
  if (badIdentity(username) || !hexDigest.test(challengeResponse)) return badData
  const received = Buffer.from(challengeResponse, "hex")
  return done({
    method: "CRAM-MD5",
    username,
    challenge,
    challengeResponse,
    validatePassword: (password) => {
      // Called from application code, where a non-string may slip through the types.
      if (typeof password !== "string") return false
      const expected = createHmac("md5", password).update(challenge).digest()
      return timingSafeEqual(expected, received)
    }
  })
}

const bearer = /^bearer\s+(\S.*)$/i

// The XOAUTH2 initial client response: "user=" name ^A "auth=Bearer " token ^A ^A. Unknown
// keys (host, port, as OAUTHBEARER clients add) are ignored; a repeated key is malformed.
const xoauth2 = (bytes: Uint8Array | undefined): Step => {
  if (bytes === undefined) return fail(Reply.table.saslBadBase64)
  const text = decodeUtf8(bytes)
  if (text === undefined) return badData
  let username: string | undefined
  let accessToken: string | undefined
  for (const field of text.split("\x01")) {
    if (field === "") continue
    const eq = field.indexOf("=")
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase()
    const value = eq < 0 ? "" : field.slice(eq + 1)
    if (key === "user") {
      if (username !== undefined) return badData
      username = value
    } else if (key === "auth") {
      const match = bearer.exec(value)
      if (accessToken !== undefined || match === null) return badData
      accessToken = match[1]!.trim()
    }
  }
  if (username === undefined || accessToken === undefined || badIdentity(username)) return badData
  return done({ method: "XOAUTH2", username, accessToken })
}

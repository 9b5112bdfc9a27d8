/**
 * The facade's options: every documented option is checked on construction (a bad value
 * throws a `TypeError` naming it), smtp-server's defaults are filled in, and what the core
 * implements is mapped onto its `ServerConfig`. Options the facade does not know are ignored,
 * as smtp-server ignores them.
 */
import * as os from "node:os"
import * as ServerConfig from "../core/ServerConfig.js"
import type * as Types from "./Types.js"

/** The options after validation, with smtp-server's defaults filled in. */
export type Normalized = Types.SMTPServerOptions<Types.StreamType> & {
  readonly name: string
  readonly authMethods: Array<string>
  readonly hideDSN: boolean
  readonly hideENHANCEDSTATUSCODES: boolean
  readonly hideREQUIRETLS: boolean
  readonly disabledCommands: Array<string>
  readonly socketTimeout: number
  readonly closeTimeout: number
  readonly greetingDelay: number
  readonly maxAllowedUnauthenticatedCommands: number | false
  readonly component: string
  readonly streamType: Types.StreamType
}

// smtp-server's defaults where api.md names them.
const defaultSocketTimeout = 60_000
const defaultCloseTimeout = 30_000
const defaultUnauthenticatedCommands = 10
// smtp-server waits this long before greeting, to catch clients that talk first.
const defaultGreetingDelay = 100

const authMethods = new Set(["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"])
const tlsVersions = new Set(["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"])
const loggerLevels = ["trace", "debug", "info", "warn", "error", "fatal", "log"]

const callbackNames = ["onConnect", "onSecure", "onAuth", "onMailFrom", "onRcptTo", "onData", "onClose"] as const

const booleans = [
  "secure",
  "needsUpgrade",
  "lmtp",
  "authOptional",
  "allowInsecureAuth",
  "hideSTARTTLS",
  "hideSize",
  "hidePIPELINING",
  "hideDSN",
  "hideENHANCEDSTATUSCODES",
  "hideREQUIRETLS",
  "hide8BITMIME",
  "hideSMTPUTF8",
  "rejectOversized",
  "disableReverseLookup"
] as const

const fail = (where: string, name: string, expected: string): never => {
  throw new TypeError(`${where} option "${name}" must be ${expected}`)
}

// null counts as unset, as smtp-server reads options with `||`.
const isSet = (value: unknown): boolean => value !== undefined && value !== null

const isBytes = (value: unknown): boolean => typeof value === "string" || value instanceof Uint8Array

const checkTls = (where: string, options: Record<string, unknown>): void => {
  for (const name of ["key", "cert", "ca"]) {
    const value = options[name]
    if (!isSet(value) || isBytes(value)) continue
    const valid = Array.isArray(value) &&
      value.every((item) =>
        isBytes(item) || (typeof item === "object" && item !== null && isBytes((item as { pem?: unknown }).pem))
      )
    if (!valid) fail(where, name, "a string, a Buffer, or an array of them")
  }
  for (const name of ["requestCert", "rejectUnauthorized", "honorCipherOrder"]) {
    if (isSet(options[name]) && typeof options[name] !== "boolean") fail(where, name, "a boolean")
  }
  for (const name of ["minVersion", "maxVersion"]) {
    const value = options[name]
    if (isSet(value) && !(typeof value === "string" && tlsVersions.has(value))) {
      fail(where, name, "one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3")
    }
  }
  if (isSet(options["sessionIdContext"]) && typeof options["sessionIdContext"] !== "string") {
    fail(where, "sessionIdContext", "a string")
  }
}

/** Checks TLS options, for the constructor and `updateSecureContext`; throws a TypeError naming the option. */
export const validateTls = (where: string, options: unknown): Types.TlsOptions => {
  if (typeof options !== "object" || options === null) throw new TypeError(`${where} expects an object of TLS options`)
  checkTls(where, options as Record<string, unknown>)
  return options as Types.TlsOptions
}

const nonNegativeInteger = (options: Record<string, unknown>, name: string, infinity = false): number | undefined => {
  const value = options[name]
  if (!isSet(value)) return undefined
  if (infinity && value === Number.POSITIVE_INFINITY) return 0
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    fail("SMTPServer", name, "a non-negative integer")
  }
  return value as number
}

const stringList = (options: Record<string, unknown>, name: string): Array<string> | undefined => {
  const value = options[name]
  if (!isSet(value)) return undefined
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    fail("SMTPServer", name, "an array of strings")
  }
  return (value as Array<string>).map((item) => item.trim().toUpperCase())
}

const trust = (options: Record<string, unknown>, name: string): void => {
  const value = options[name]
  if (!isSet(value) || typeof value === "boolean") return
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    fail("SMTPServer", name, "a boolean or an array of IP addresses")
  }
}

/** Validates `options` and fills in the defaults; throws a TypeError naming the first bad option. */
export const normalize = (input: unknown): Normalized => {
  if (input === undefined || input === null) input = {}
  if (typeof input !== "object") throw new TypeError("SMTPServer options must be an object")
  const options = input as Record<string, unknown>

  for (const name of booleans) {
    if (isSet(options[name]) && typeof options[name] !== "boolean") fail("SMTPServer", name, "a boolean")
  }
  for (const name of callbackNames) {
    if (isSet(options[name]) && typeof options[name] !== "function") fail("SMTPServer", name, "a function")
  }
  for (const name of ["name", "banner", "heloResponse", "authRequiredMessage", "component"]) {
    if (isSet(options[name]) && typeof options[name] !== "string") fail("SMTPServer", name, "a string")
  }
  if (typeof options["name"] === "string" && /\s/.test(options["name"].trim())) {
    fail("SMTPServer", "name", "a host name without spaces")
  }
  for (const name of ["size", "socketTimeout", "closeTimeout", "greetingDelay", "maxRecipients", "maxCommandLength"]) {
    nonNegativeInteger(options, name)
  }
  nonNegativeInteger(options, "maxClients", true)
  const unauthenticated = options["maxAllowedUnauthenticatedCommands"]
  if (isSet(unauthenticated) && unauthenticated !== false) {
    nonNegativeInteger(options, "maxAllowedUnauthenticatedCommands")
  }
  const disabledCommands = stringList(options, "disabledCommands") ?? []
  const methods = stringList(options, "authMethods")
  if (methods?.some((method) => !authMethods.has(method))) {
    fail("SMTPServer", "authMethods", "a list of PLAIN, LOGIN, CRAM-MD5, XOAUTH2")
  }
  for (const name of ["useXClient", "useXForward", "useProxy"]) trust(options, name)
  const resolver = options["resolver"]
  if (isSet(resolver) && !(typeof resolver === "object" && typeof (resolver as { reverse?: unknown }).reverse === "function")) {
    fail("SMTPServer", "resolver", "an object with a reverse(ip, callback) method")
  }
  checkTls("SMTPServer", options)
  const sni = options["sniOptions"]
  if (isSet(sni)) {
    if (typeof sni !== "object") fail("SMTPServer", "sniOptions", "an object or a Map of host name to TLS options")
    const entries = sni instanceof Map ? [...sni.entries()] : Object.entries(sni as object)
    for (const [host, tls] of entries) {
      if (typeof host !== "string" || typeof tls !== "object" || tls === null) {
        fail("SMTPServer", "sniOptions", "an object or a Map of host name to TLS options")
      }
      checkTls(`SMTPServer sniOptions["${host}"]`, tls as Record<string, unknown>)
    }
  }
  const logger = options["logger"]
  if (isSet(logger) && typeof logger !== "boolean") {
    const valid = typeof logger === "object" &&
      loggerLevels.some((level) => typeof (logger as Record<string, unknown>)[level] === "function")
    if (!valid) fail("SMTPServer", "logger", "true, false, or an object with info/debug/warn/error/trace methods")
  }
  const streamType = options["streamType"]
  if (isSet(streamType) && streamType !== "web" && streamType !== "node") {
    fail("SMTPServer", "streamType", `"web" or "node"`)
  }

  const name = typeof options["name"] === "string" && options["name"].trim() !== "" ? options["name"].trim() : os.hostname()
  return {
    ...(options as Types.SMTPServerOptions<Types.StreamType>),
    name,
    authMethods: methods !== undefined && methods.length > 0 ? methods : ["PLAIN", "LOGIN"],
    // As in smtp-server, these three default to hidden so migrated code sees the replies it expects.
    hideDSN: (options["hideDSN"] as boolean | undefined) ?? true,
    hideENHANCEDSTATUSCODES: (options["hideENHANCEDSTATUSCODES"] as boolean | undefined) ?? true,
    hideREQUIRETLS: (options["hideREQUIRETLS"] as boolean | undefined) ?? true,
    disabledCommands,
    // smtp-server reads these with `||`: 0 means the default, not "no limit".
    socketTimeout: (options["socketTimeout"] as number | undefined) || defaultSocketTimeout,
    closeTimeout: (options["closeTimeout"] as number | undefined) || defaultCloseTimeout,
    greetingDelay: (options["greetingDelay"] as number | undefined) ?? defaultGreetingDelay,
    maxAllowedUnauthenticatedCommands: unauthenticated === false
      ? false
      : (unauthenticated as number | undefined) || defaultUnauthenticatedCommands,
    component: (options["component"] as string | undefined) || "smtp-server",
    streamType: (streamType as Types.StreamType | undefined) ?? "web"
  }
}

/** The core configuration for normalized options; the options the core does not implement yet are left out. */
export const toConfig = (options: Normalized): ServerConfig.Config => {
  const input: ServerConfig.Input = {
    name: options.name,
    lmtp: options.lmtp ?? false,
    size: options.size ?? 0,
    // The facade lets onData decide about an oversized message (stream.sizeExceeded), as smtp-server does by default.
    rejectOversized: options.rejectOversized ?? false,
    maxClients: options.maxClients === undefined || options.maxClients === Number.POSITIVE_INFINITY ? 0 : options.maxClients,
    socketTimeout: options.socketTimeout,
    closeTimeout: options.closeTimeout,
    greetingDelay: options.greetingDelay,
    disabledCommands: options.disabledCommands,
    hidePIPELINING: options.hidePIPELINING ?? false,
    hide8BITMIME: options.hide8BITMIME ?? false,
    hideSMTPUTF8: options.hideSMTPUTF8 ?? false,
    hideENHANCEDSTATUSCODES: options.hideENHANCEDSTATUSCODES,
    hideDSN: options.hideDSN,
    hideSize: options.hideSize ?? false,
    ...(options.banner !== undefined && options.banner !== null ? { banner: options.banner } : {}),
    ...(options.heloResponse ? { heloResponse: options.heloResponse } : {}),
    ...(options.maxRecipients ? { maxRecipients: options.maxRecipients } : {}),
    ...(options.maxCommandLength ? { maxLineLength: options.maxCommandLength } : {}),
    // TLS (the certificates themselves go to the Node listener, see SMTPServer.listen).
    secure: options.secure ?? false,
    needsUpgrade: options.needsUpgrade ?? false,
    hideSTARTTLS: options.hideSTARTTLS ?? false,
    hideREQUIRETLS: options.hideREQUIRETLS,
    // AUTH: the core's Effect API takes mail without login by default; smtp-server requires it.
    authMethods: options.authMethods,
    authOptional: options.authOptional ?? false,
    allowInsecureAuth: options.allowInsecureAuth ?? false,
    ...(typeof options.authRequiredMessage === "string" ? { authRequiredMessage: options.authRequiredMessage } : {}),
    // smtp-server treats 0 as its default; false really means no limit (api.md).
    maxAllowedUnauthenticatedCommands: options.maxAllowedUnauthenticatedCommands === false
      ? false
      : options.maxAllowedUnauthenticatedCommands || 10,
    // Proxying and DNS.
    useProxy: options.useProxy ?? false,
    useXClient: options.useXClient ?? false,
    useXForward: options.useXForward ?? false,
    disableReverseLookup: options.disableReverseLookup ?? false
  }
  try {
    return ServerConfig.decodeSync(input)
  } catch (error) {
    throw new TypeError(`SMTPServer options are invalid: ${error instanceof Error ? error.message : String(error)}`)
  }
}

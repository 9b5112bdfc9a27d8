/**
 * SMTP replies as data: every reply the server sends is built here, from one table of
 * `(code, enhanced status, text)`, and formatted in one place.
 */

/** An RFC 3463 enhanced status code, `class.subject.detail`. */
export type Enhanced = `${2 | 4 | 5}.${number}.${number}`

/** What the client sees: basic code, enhanced status (RFC 3463), text (several lines for a multi-line reply). */
export interface Reply {
  readonly code: number
  readonly enhanced?: Enhanced | undefined
  readonly text: string | ReadonlyArray<string>
}

// Control characters in reply text would let application-supplied text (an error message
// built from client input) split the reply or inject a second one: they become spaces.
const controlChars = /[\x00-\x1f\x7f]/g

const sanitize = (line: string): string => (controlChars.test(line) ? line.replace(controlChars, " ") : line)

/**
 * Renders a reply with its trailing CRLF. The enhanced status is shown only when the
 * session advertised ENHANCEDSTATUSCODES (RFC 2034 §3) and never on 220/HELO/EHLO replies
 * that were built without one.
 */
export const format = (reply: Reply, enhanced = true): string => {
  const prefix = enhanced && reply.enhanced !== undefined ? ` ${reply.enhanced} ` : " "
  if (typeof reply.text === "string") {
    // RFC 4954 §4: an empty server challenge is still "334" SP.
    return reply.text === "" && prefix === " " && reply.code !== 334
      ? `${reply.code}\r\n`
      : `${reply.code}${prefix}${sanitize(reply.text)}\r\n`
  }
  const lines = reply.text
  let out = ""
  for (let i = 0; i < lines.length; i++) {
    const sep = i < lines.length - 1 ? "-" : " "
    const text = sanitize(lines[i]!)
    out += enhanced && reply.enhanced !== undefined
      ? `${reply.code}${sep}${reply.enhanced} ${text}\r\n`
      : `${reply.code}${sep}${text}\r\n`
  }
  return out
}

/** Builds a reply; the one place outside the table where a code literal may appear is a user-supplied code. */
export const make = (code: number, text: string | ReadonlyArray<string>, enhanced?: Enhanced): Reply =>
  enhanced === undefined ? { code, text } : { code, enhanced, text }

/** True when the reply ends the session (RFC 5321 §3.8: 421 closes the channel). */
export const closesConnection = (reply: Reply): boolean => reply.code === 421

/**
 * The enhanced status a bare code gets when the application supplies none, following
 * smtp-server's table so migrated code sees the same replies.
 */
export const defaultEnhanced = (code: number): Enhanced | undefined => enhancedByCode[code]

const enhancedByCode: Record<number, Enhanced> = {
  200: "2.0.0",
  211: "2.0.0",
  214: "2.0.0",
  220: "2.0.0",
  221: "2.0.0",
  235: "2.7.0",
  250: "2.0.0",
  251: "2.1.5",
  252: "2.1.5",
  354: "2.0.0",
  420: "4.4.2",
  421: "4.4.2",
  450: "4.2.1",
  451: "4.3.0",
  452: "4.2.2",
  454: "4.7.0",
  500: "5.5.2",
  501: "5.5.4",
  502: "5.5.1",
  503: "5.5.1",
  504: "5.5.4",
  521: "5.3.2",
  523: "5.3.4",
  530: "5.7.0",
  535: "5.7.8",
  538: "5.7.0",
  550: "5.1.1",
  551: "5.1.6",
  552: "5.2.2",
  553: "5.1.3",
  554: "5.6.0",
  555: "5.5.4",
  556: "5.1.10",
  557: "5.7.1",
  558: "5.2.3"
}

/**
 * The reply table. Texts follow smtp-server's where it has one, so clients and tests written
 * against it see the same lines; the enhanced codes follow RFC 3463.
 */
export const table = {
  // Connection
  /** 220 greeting; carries no enhanced code (RFC 2034 §3). */
  greeting: (name: string, lmtp: boolean, banner?: string): Reply =>
    make(220, `${name} ${lmtp ? "LMTP" : "ESMTP"}${banner ? ` ${banner}` : ""}`),
  tooManyClients: (name: string): Reply => make(421, `${name} Too many connected clients, try again in a moment`, "4.7.0"),
  talkTooSoon: (name: string): Reply => make(421, `${name} You talk too soon`, "4.4.2"),
  httpNotAllowed: make(421, "HTTP requests not allowed", "4.4.2"),
  timeout: make(421, "Timeout - closing connection", "4.4.2"),
  shuttingDown: make(421, "Server shutting down", "4.4.2"),
  tooManyUnrecognized: make(421, "Error: too many unrecognized commands", "4.4.2"),
  tooManyUnauthenticated: make(421, "Error: too many unauthenticated commands", "4.7.0"),
  bye: make(221, "Bye", "2.0.0"),

  // Framing and parsing
  lineTooLong: make(500, "Line too long", "5.5.2"),
  badCharacters: make(500, "Error: command contains control characters", "5.5.2"),
  // RFC 3463 X.5.1 "invalid command": the verb itself is not known.
  unrecognized: make(500, "Error: command not recognized", "5.5.1"),
  notAllowedInLmtp: (verb: string): Reply => make(500, `Error: ${verb} not allowed in LMTP server`, "5.5.1"),
  syntax: (usage: string): Reply => make(501, `Error: syntax: ${usage}`, "5.5.4"),
  badHeloHostname: make(501, "Error: Bad hostname syntax", "5.5.4"),
  badSenderSyntax: make(501, "Error: Bad sender address syntax", "5.1.7"),
  badRecipientSyntax: make(501, "Error: Bad recipient address syntax", "5.1.3"),
  badParameter: (detail: string): Reply => make(501, `Error: ${detail}`, "5.5.4"),
  unknownParameter: (name: string): Reply => make(555, `Error: unsupported parameter ${name}`, "5.5.4"),
  utf8NeedsSmtputf8: make(553, "Error: non-ASCII address requires SMTPUTF8", "5.6.7"),
  // smtp-server capitalises "Syntax" for HELO and VRFY, unlike its other usage replies.
  heloSyntax: make(501, "Error: Syntax: HELO hostname", "5.5.4"),
  vrfySyntax: make(501, "Error: Syntax: VRFY address", "5.5.4"),
  duplicateParameter: (name: string): Reply => make(501, `Error: duplicate ${name} parameter`, "5.5.4"),
  parameterNeedsValue: (name: string): Reply => make(501, `Error: ${name} parameter requires a value`, "5.5.4"),
  flagWithValue: (name: string): Reply =>
    make(501, `Invalid ${name} parameter. This flag does not accept a value`, "5.5.4"),
  badSizeSyntax: make(501, "Error: Bad message size syntax", "5.5.4"),
  badBodyValue: make(501, "Invalid BODY parameter value. Must be 7BIT, 8BITMIME or BINARYMIME", "5.5.4"),
  badRetValue: make(501, "Invalid RET parameter value. Must be FULL or HDRS", "5.5.4"),
  badNotifyValue: make(501, "Error: NOTIFY parameter must be NEVER, SUCCESS, FAILURE, or DELAY", "5.5.4"),
  notifyNeverCombined: make(501, "Error: NOTIFY=NEVER cannot be combined with other values", "5.5.4"),
  badOrcptSyntax: make(501, "Error: Bad ORCPT parameter syntax", "5.5.4"),

  // Greeting and session
  helo: (format: string, name: string, client: string): Reply => make(250, heloLine(format, name, client)),
  ehlo: (format: string, name: string, client: string, capabilities: ReadonlyArray<string>): Reply =>
    make(250, [heloLine(format, name, client), ...capabilities]),
  ok: make(250, "OK", "2.0.0"),
  flushed: make(250, "Flushed", "2.0.0"),
  help: make(214, "See https://tools.ietf.org/html/rfc5321 for details", "2.0.0"),
  vrfy: make(252, "Try to send something. No promises though", "2.1.5"),
  sendHeloFirst: (lmtp: boolean): Reply => make(503, `Error: send ${lmtp ? "LHLO" : "HELO/EHLO"} first`, "5.5.1"),

  // Transaction
  mailOk: make(250, "Accepted", "2.1.0"),
  rcptOk: make(250, "Accepted", "2.1.5"),
  nestedMail: make(503, "Error: nested MAIL command", "5.5.1"),
  needMail: make(503, "Error: need MAIL command", "5.5.1"),
  needRcpt: make(503, "Error: need RCPT command", "5.5.1"),
  tooManyRecipients: make(452, "Error: too many recipients", "4.5.3"),
  tooManyTransactions: make(421, "Error: too many messages in this session", "4.7.0"),
  sizeDeclaredTooBig: (size: number): Reply =>
    make(552, `Error: message exceeds fixed maximum message size ${size}`, "5.3.4"),
  sizeExceeded: (size: number): Reply => make(552, `Error: message exceeds fixed maximum message size ${size}`, "5.3.4"),
  startData: make(354, "End data with <CR><LF>.<CR><LF>"),
  dataOk: make(250, "OK: message queued", "2.6.0"),
  dataAccepted: make(250, "OK: message accepted", "2.6.0"),
  bareLineEnding: make(550, "Error: bare CR or LF in message content is not allowed", "5.6.0"),
  /** RFC 3030 §2: each BDAT chunk but the last is answered once its octets are in. */
  chunkReceived: (octets: number): Reply => make(250, `OK: ${octets} octets received`, "2.0.0"),
  /** RFC 3030 §3: a BINARYMIME body cannot be sent with DATA. */
  binaryNeedsBdat: make(503, "Error: BODY=BINARYMIME requires BDAT", "5.5.1"),
  /** RFC 3030 §2: DATA and BDAT cannot be mixed in one transaction. */
  dataAfterBdat: make(503, "Error: DATA not allowed after BDAT", "5.5.1"),
  /** A command that cannot come between the BDAT chunks of a message. */
  badSequence: make(503, "Error: bad sequence of commands", "5.5.1"),

  // Authentication (RFC 4954)
  /** 334 server challenge: base64 text, or empty; never an enhanced code (RFC 2034 §3 covers 2xx/4xx/5xx only). */
  authChallenge: (base64: string): Reply => make(334, base64),
  authenticated: (text = "Authentication successful", code = 235): Reply => make(code, text, "2.7.0"),
  authFailed: make(535, "Error: Authentication credentials invalid", "5.7.8"),
  // smtp-server's words after the XOAUTH2 error challenge.
  xoauth2Refused: make(535, "Error: Username and Password not accepted", "5.7.8"),
  // RFC 4954 §4: "*" cancels with 501; RFC 3463 X.0.0 as no more specific code applies.
  authAborted: make(501, "Authentication aborted", "5.0.0"),
  // RFC 4954 §4: a response that is not base64 is refused with 501 5.5.2.
  saslBadBase64: make(501, "Error: invalid base64 data", "5.5.2"),
  saslBadUserdata: make(501, "Error: invalid userdata", "5.5.2"),
  saslMissingUsername: make(501, "Error: missing username", "5.5.2"),
  // RFC 4954 §4: an exchange line longer than the server accepts gets 500 5.5.6.
  authLineTooLong: make(500, "Error: authentication exchange line is too long", "5.5.6"),
  alreadyAuthenticated: make(503, "Error: No identity changes permitted", "5.5.1"),
  // RFC 4954 §4: AUTH is not permitted during a mail transaction.
  authInTransaction: make(503, "Error: AUTH not permitted during a mail transaction", "5.5.1"),
  unknownMechanism: make(504, "Error: Unrecognized authentication type", "5.5.4"),
  // smtp-server's text; RFC 4954 §6 gives 538 the enhanced code 5.7.11.
  encryptionRequired: make(538, "Error: Must issue a STARTTLS command first", "5.7.11"),
  authRequired: (text = "Error: authentication Required"): Reply => make(530, text, "5.7.0"),

  // REQUIRETLS (RFC 8689 §4.1: the option is only meaningful on a session that uses TLS)
  requireTlsNotSecure: make(530, "REQUIRETLS not permitted on non-TLS connections", "5.7.0"),

  // XCLIENT / XFORWARD (Postfix): replies in smtp-server's words
  proxyNotAllowed: make(550, "Error: Not allowed", "5.7.0"),
  transactionInProgress: make(503, "Error: Mail transaction in progress", "5.5.1"),
  badProxyParameters: make(501, "Error: Bad command parameter syntax", "5.5.4"),
  badProxyAddress: make(501, "Error: Bad command parameter syntax. Invalid address", "5.5.4"),
  badProxyHostname: make(501, "Error: Bad command parameter syntax. Invalid hostname", "5.5.4"),
  badProxyPort: make(501, "Error: Bad command parameter syntax. Invalid port", "5.5.4"),
  /** XCLIENT LOGIN refused by the auth hook: smtp-server answers 550 with the hook's text and closes. */
  proxyLoginRefused: (text: string | ReadonlyArray<string>): Reply => make(550, text, "5.7.8"),

  // TLS (RFC 3207)
  readyToStartTls: make(220, "Ready to start TLS", "2.0.0"),
  tlsAlreadyActive: make(503, "Error: TLS already active", "5.5.1"),
  mustStartTls: make(530, "Must issue a STARTTLS command first", "5.7.0"),

  // Refusals by hooks without a reply of their own
  /** A hook that failed with something other than SmtpError, or died. */
  internalError: make(451, "Error: internal server error", "4.3.0"),
  hookTimeout: make(451, "Error: timed out while processing the command", "4.3.0"),
  mailboxUnavailable: (text: string): Reply => make(550, text, "5.1.1"),
  connectionRefused: (text: string): Reply => make(554, text, "5.7.1"),
  // smtp-server's defaults for an application error without a code, by stage.
  /** A message the data hook refused without a code of its own: transient, so the client retries. */
  messageRefused: (text: string): Reply => make(450, text, "4.2.1"),
  /** A login the auth hook refused without a code of its own. */
  authRefused: (text: string): Reply => make(535, text, "5.7.8")
} as const

// smtp-server's `heloResponse` format: the first %s is the server name, the second the client name.
const heloLine = (format: string, name: string, client: string): string => {
  let n = 0
  return format.replace(/%s/g, () => (n++ === 0 ? name : client))
}

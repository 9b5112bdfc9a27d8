/**
 * The EHLO capability list (RFC 5321 §4.1.1.1), built from configuration and the state of
 * the connection. Order follows smtp-server so replies compare line for line.
 */

/** What decides which keywords the server advertises. */
export interface Options {
  readonly size: number
  readonly hidePIPELINING: boolean
  readonly hide8BITMIME: boolean
  readonly hideSMTPUTF8: boolean
  readonly hideENHANCEDSTATUSCODES: boolean
  readonly hideDSN: boolean
  readonly hideSize: boolean
  /** Mechanisms to advertise with AUTH; empty when AUTH is not offered right now. */
  readonly authMethods?: ReadonlyArray<string> | undefined
  /** Offer STARTTLS (connection not secure, TLS available, not hidden or disabled). */
  readonly startTls?: boolean | undefined
  /** Offer REQUIRETLS (RFC 8689: only on a secure connection). */
  readonly requireTls?: boolean | undefined
  /** Hide CHUNKING, and with it BINARYMIME (RFC 3030 §3: BINARYMIME needs CHUNKING); BDAT still works. */
  readonly hideCHUNKING?: boolean | undefined
  /** Hide BINARYMIME only. */
  readonly hideBINARYMIME?: boolean | undefined
  /** Hide LIMITS (RFC 9422); the limits still apply. */
  readonly hideLIMITS?: boolean | undefined
  /** Most recipients per transaction, advertised as LIMITS RCPTMAX. */
  readonly maxRecipients?: number | undefined
  /** Most transactions per session, advertised as LIMITS MAILMAX; 0 for none. */
  readonly maxMessages?: number | undefined
  /** Extra keyword lines (e.g. LIMITS, XCLIENT), appended as given. */
  readonly extra?: ReadonlyArray<string> | undefined
}

/** The keyword lines that follow the greeting line of a 250 EHLO reply. */
export const capabilities = (options: Options): Array<string> => {
  const lines: Array<string> = []
  if (!options.hidePIPELINING) lines.push("PIPELINING")
  if (!options.hide8BITMIME) lines.push("8BITMIME")
  if (!options.hideSMTPUTF8) lines.push("SMTPUTF8")
  if (!options.hideENHANCEDSTATUSCODES) lines.push("ENHANCEDSTATUSCODES")
  if (!options.hideDSN) lines.push("DSN")
  if (!options.hideCHUNKING) {
    lines.push("CHUNKING")
    if (!options.hideBINARYMIME) lines.push("BINARYMIME")
  }
  if (options.authMethods !== undefined && options.authMethods.length > 0) {
    lines.push(`AUTH ${options.authMethods.join(" ")}`)
  }
  if (options.startTls) lines.push("STARTTLS")
  if (options.requireTls) lines.push("REQUIRETLS")
  // RFC 1870 §3: SIZE with no number means "no fixed limit"; hideSize keeps the limit private.
  if (options.size > 0) lines.push(options.hideSize ? "SIZE" : `SIZE ${options.size}`)
  if (!options.hideLIMITS) {
    const limits = limitsLine(options.maxRecipients ?? 0, options.maxMessages ?? 0)
    if (limits !== undefined) lines.push(limits)
  }
  if (options.extra) lines.push(...options.extra)
  return lines
}

// RFC 9422 §3: each limit as NAME=value, and a limit the server does not impose is left out.
const limitsLine = (maxRecipients: number, maxMessages: number): string | undefined => {
  const limits: Array<string> = []
  if (maxRecipients > 0) limits.push(`RCPTMAX=${maxRecipients}`)
  if (maxMessages > 0) limits.push(`MAILMAX=${maxMessages}`)
  return limits.length > 0 ? `LIMITS ${limits.join(" ")}` : undefined
}

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
  /** Offer CHUNKING and BINARYMIME (RFC 3030). */
  readonly chunking?: boolean | undefined
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
  if (options.chunking) lines.push("CHUNKING", "BINARYMIME")
  if (options.authMethods !== undefined && options.authMethods.length > 0) {
    lines.push(`AUTH ${options.authMethods.join(" ")}`)
  }
  if (options.startTls) lines.push("STARTTLS")
  if (options.requireTls) lines.push("REQUIRETLS")
  // RFC 1870 §3: SIZE with no number means "no fixed limit"; hideSize keeps the limit private.
  if (options.size > 0) lines.push(options.hideSize ? "SIZE" : `SIZE ${options.size}`)
  if (options.extra) lines.push(...options.extra)
  return lines
}

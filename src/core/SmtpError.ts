/**
 * Typed failures. `SmtpError` is a refusal the client sees as its reply; `MessageError` is why
 * a message body stream stopped early. Neither ever carries a stack trace to the client.
 */
import * as Data from "effect/Data"
import * as Reply from "../protocol/Reply.js"

/** A refusal the client sees as `reply`; the session goes on unless the code is 421. */
export class SmtpError extends Data.TaggedError("SmtpError")<{
  readonly reply: Reply.Reply
  readonly cause?: unknown
  /**
   * XOAUTH2 refusals only: error details the client receives first as a `334` base64-JSON
   * challenge; `reply` follows once it answers with an empty line.
   */
  readonly challenge?: Readonly<Record<string, unknown>> | undefined
}> {
  /** Refuses with a code and text of the application's choosing; the enhanced status follows the code. */
  static readonly make = (code: number, text: string, enhanced?: Reply.Enhanced): SmtpError =>
    new SmtpError({ reply: Reply.make(code, text, enhanced ?? Reply.defaultEnhanced(code)) })

  /** 550 5.1.1: the mailbox does not exist. */
  static readonly noSuchUser = (address: string): SmtpError =>
    new SmtpError({ reply: Reply.make(550, `<${address}>: no such user`, "5.1.1") })

  /** 550 5.7.1: policy forbids this sender or recipient. */
  static readonly notAllowed = (text = "Not allowed"): SmtpError =>
    new SmtpError({ reply: Reply.make(550, text, "5.7.1") })

  /** 451 4.3.0: a temporary local failure; the client retries later. */
  static readonly temporary = (text = "Error: internal server error"): SmtpError =>
    new SmtpError({ reply: Reply.make(451, text, "4.3.0") })

  /** 535 5.7.8: AUTH credentials refused, with smtp-server's text unless given one. */
  static readonly authenticationFailed = (text?: string): SmtpError =>
    new SmtpError({ reply: text === undefined ? Reply.table.authFailed : Reply.make(535, text, "5.7.8") })

  /**
   * Refuses an XOAUTH2 login with error details (e.g. `{ status: "401", schemes: "bearer" }`):
   * the client gets them as a 334 challenge, answers with an empty line, then gets `reply`.
   */
  static readonly xoauth2Refused = (
    data: Readonly<Record<string, unknown>>,
    reply: Reply.Reply = Reply.table.xoauth2Refused
  ): SmtpError => new SmtpError({ reply, challenge: data })

  /** 421: refuse and close the connection. */
  static readonly closing = (text: string): SmtpError =>
    new SmtpError({ reply: Reply.make(421, text, "4.4.2") })

  override get message(): string {
    const text = this.reply.text
    return `${this.reply.code} ${typeof text === "string" ? text : text.join(" ")}`
  }
}

/** Why a message body stream ended before the end of data. */
export class MessageError extends Data.TaggedError("MessageError")<{
  readonly reason: "SizeExceeded" | "BareLineEnding" | "Disconnected" | "Timeout"
}> {}

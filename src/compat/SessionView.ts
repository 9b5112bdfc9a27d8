/**
 * The `session` object the callbacks receive: smtp-server's field names over the core's
 * session snapshot. As in smtp-server there is one object per connection, so properties an
 * application sets in one callback are still there in the next; the facade refreshes the
 * documented fields from the snapshot before each callback, rebuilding only what changed.
 */
import type * as Address from "../protocol/Address.js"
import * as Session from "../core/Session.js"
import type * as Transport from "../core/Transport.js"
import type * as Types from "./Types.js"

/** One connection's session object. */
export class SessionView implements Types.SMTPSession {
  secure = false
  servername: string | undefined = undefined
  localAddress = ""
  localPort = 0
  remoteAddress = ""
  remotePort = 0
  clientHostname = ""
  hostNameAppearsAs: string | false = false
  openingCommand: "HELO" | "EHLO" | "LHLO" | false = false
  transaction = 1
  transmissionType = "SMTP"
  tlsOptions: Types.SMTPTlsOptions | false = false
  user: any = undefined
  xClient: Map<string, string | false> = new Map()
  xForward: Map<string, string | false> = new Map()
  envelope: Types.SMTPEnvelope = { mailFrom: false, rcptTo: [], bodyType: "7bit", smtpUtf8: false, requireTLS: false }
  #controller: AbortController | undefined = undefined
  #ended = false
  #cutOff = false

  constructor(readonly id: string) {}

  // Made on first use: most sessions never ask for it.
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#ended) this.#controller.abort()
      else if (this.#cutOff) this.#controller.abort(cutOffReason())
    }
    return this.#controller.signal
  }

  /** Aborts the session's signal: the connection has ended. */
  static end(view: SessionView): void {
    view.#ended = true
    view.#controller?.abort()
  }

  /**
   * Aborts the session's signal: the callback under way was cut off (hookTimeout, shutdown),
   * so its answer will not be used. The session may go on; the next callback gets a new signal.
   */
  static cutOff(view: SessionView): void {
    if (view.#ended) return
    view.#cutOff = true
    view.#controller?.abort(cutOffReason())
  }

  /** A callback is about to run: after a cut-off, its signal is a fresh one. */
  static renew(view: SessionView): void {
    if (!view.#cutOff || view.#ended) return
    view.#cutOff = false
    view.#controller = undefined
  }
}

// The abort reason of a cut-off callback, so it can tell that from the end of the session (an AbortError).
const cutOffReason = (): Error =>
  Object.assign(new Error("The callback was cut off (hookTimeout or shutdown): its answer will not be used"), {
    code: "ECANCELED"
  })

/** How views render: LMTP changes the transmission type, and DSN fields show only when DSN is. */
export interface Options {
  readonly lmtp: boolean
  readonly hideDSN: boolean
}

// What a view was last built from, so unchanged parts are not rebuilt.
interface Entry {
  readonly view: SessionView
  tls: Transport.TlsInfo | undefined
  xClient: ReadonlyMap<string, string | false> | undefined
  xForward: ReadonlyMap<string, string | false> | undefined
  envelope: Session.Envelope | undefined
}

/** The session objects of a server's open connections. */
export class Registry {
  /** The open sessions, as `server.connections` shows them. */
  readonly connections = new Set<SessionView>()
  private readonly open = new Map<string, Entry>()
  // The same core address always maps to the same object, so the address onRcptTo saw is the one in envelope.rcptTo.
  private readonly addresses = new WeakMap<Address.Address, Types.SMTPAddress>()

  constructor(private readonly options: Options) {}

  /** The session of `state`'s connection, up to date, in a transaction numbered from 1. */
  view(state: Session.SessionState): SessionView {
    const entry = this.entry(state)
    this.sync(entry, state, state.transactions + 1)
    if (entry.envelope !== state.envelope) {
      entry.envelope = state.envelope
      entry.view.envelope = this.envelope(state.envelope, state.envelope.mailFrom ? this.address(state.envelope.mailFrom, false) : false)
    }
    return entry.view
  }

  /** The session for onMailFrom: as in smtp-server, MAIL's parameters are in the envelope already, the sender not yet. */
  viewForMail(state: Session.SessionState, from: Address.Address): SessionView {
    const entry = this.entry(state)
    this.sync(entry, state, state.transactions + 1)
    entry.envelope = undefined
    entry.view.envelope = this.envelope(Session.startTransaction(state, from).envelope, false)
    return entry.view
  }

  /** The final session for onClose: the transactions completed, plus one if it ended mid-transaction. Forgets the connection. */
  end(state: Session.SessionState): SessionView {
    const entry = this.entry(state)
    this.open.delete(state.id)
    this.connections.delete(entry.view)
    this.sync(entry, state, state.transactions + (Session.inTransaction(state) ? 1 : 0))
    if (entry.envelope !== state.envelope) {
      entry.view.envelope = this.envelope(state.envelope, state.envelope.mailFrom ? this.address(state.envelope.mailFrom, false) : false)
    }
    SessionView.end(entry.view)
    return entry.view
  }

  /** The address object a callback receives. */
  address(address: Address.Address, rcpt: boolean): Types.SMTPAddress {
    const known = this.addresses.get(address)
    if (known !== undefined) return known
    const args = address.args
    let hasArgs = false
    for (const _ in args) {
      hasArgs = true
      break
    }
    const result: Types.SMTPAddress = { address: address.address, args: hasArgs ? (args as Types.SMTPAddressArgs) : false }
    if (rcpt && hasArgs && !this.options.hideDSN) {
      // As smtp-server, the parsed RFC 3461 parameters appear only while DSN is shown.
      const { NOTIFY, ORCPT } = args
      if (typeof NOTIFY === "string" || typeof ORCPT === "string") {
        const dsn: Types.SMTPAddressDsn = {}
        if (typeof NOTIFY === "string") dsn.notify = NOTIFY.toUpperCase().split(",")
        if (typeof ORCPT === "string") dsn.orcpt = ORCPT
        result.dsn = dsn
      }
    }
    this.addresses.set(address, result)
    return result
  }

  private entry(state: Session.SessionState): Entry {
    let entry = this.open.get(state.id)
    if (entry === undefined) {
      const view = new SessionView(state.id)
      // A new view's maps are empty already: copy the core's only once it has entries.
      entry = {
        view,
        tls: undefined,
        xClient: state.xClient.size === 0 ? state.xClient : undefined,
        xForward: state.xForward.size === 0 ? state.xForward : undefined,
        envelope: undefined
      }
      this.open.set(state.id, entry)
      this.connections.add(view)
    }
    return entry
  }

  private sync(entry: Entry, state: Session.SessionState, transaction: number): void {
    const view = entry.view
    SessionView.renew(view)
    view.secure = state.tls !== undefined
    view.servername = state.tls?.servername
    view.localAddress = state.localAddress
    view.localPort = state.localPort
    view.remoteAddress = state.remoteAddress
    view.remotePort = state.remotePort
    view.clientHostname = state.clientHostname
    view.hostNameAppearsAs = state.heloName ?? false
    view.openingCommand = state.openingCommand ?? false
    view.transaction = transaction
    view.transmissionType = Session.transmissionType(state, this.options.lmtp)
    view.user = state.user
    if (entry.tls !== state.tls) {
      entry.tls = state.tls
      view.tlsOptions = state.tls === undefined
        ? false
        : { name: state.tls.name, standardName: state.tls.standardName, version: state.tls.version }
    }
    // Copies: the application may change its Map without touching the core's state.
    if (entry.xClient !== state.xClient) {
      entry.xClient = state.xClient
      view.xClient = new Map(state.xClient)
    }
    if (entry.xForward !== state.xForward) {
      entry.xForward = state.xForward
      view.xForward = new Map(state.xForward)
    }
  }

  private envelope(envelope: Session.Envelope, mailFrom: Types.SMTPAddress | false): Types.SMTPEnvelope {
    const result: Types.SMTPEnvelope = {
      mailFrom,
      rcptTo: envelope.rcptTo.map((rcpt) => this.address(rcpt, true)),
      bodyType: envelope.bodyType,
      smtpUtf8: envelope.smtpUtf8,
      requireTLS: envelope.requireTLS
    }
    if (!this.options.hideDSN) result.dsn = { ret: envelope.dsn.ret, envid: envelope.dsn.envid }
    return result
  }
}

import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import nodemailer from "nodemailer"
import type Mail from "nodemailer/lib/mailer/index.js"
import * as Cli from "../support/CliProcess.js"
import * as RawClient from "../support/RawClient.js"

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

// The trace headers the Maildir writes before a body (see src/cli/Maildir.ts).
const traced = (from: string, to: ReadonlyArray<string>, helo: string, protocol: string) =>
  new RegExp(
    "^" + [
      `Return-Path: <${escape(from)}>`,
      ...to.map((r) => `Delivered-To: <${escape(r)}>`),
      `Received: from ${escape(helo)} \\(\\[127\\.0\\.0\\.1\\]\\)`,
      `\tby mx\\.test with ${protocol} id [0-9a-v]{16}\\.1;`,
      `\t\\w{3}, \\d{1,2} \\w{3} \\d{4} \\d{2}:\\d{2}:\\d{2} \\+0000`,
      ""
    ].join("\r\n")
  )

// A stored file split into its trace headers and the message as received.
const readStored = (file: string, body: Buffer) => {
  const bytes = fs.readFileSync(file)
  return { headers: bytes.subarray(0, bytes.length - body.length).toString("utf8"), body: bytes.subarray(bytes.length - body.length) }
}

const listening = (cli: Cli.CliProcess) =>
  Effect.map(cli.line(/^\S+ effect-smtp listening on 127\.0\.0\.1:(\d+)$/), (m) => Number(m[1]))

const curl = (args: ReadonlyArray<string>) =>
  Effect.async<string, Error>((resume) => {
    execFile("curl", ["--silent", "--show-error", "--max-time", "20", ...args], (error, stdout, stderr) =>
      resume(error ? Effect.fail(new Error(`${error.message}\n${stderr}`)) : Effect.succeed(stdout)))
  })

const send = (port: number, mail: Mail.Options, options: Record<string, unknown> = {}) =>
  Effect.tryPromise({
    try: () =>
      nodemailer.createTransport({
        host: "127.0.0.1",
        port,
        secure: false,
        // STARTTLS with the development certificate, which no client can verify.
        tls: { rejectUnauthorized: false },
        ...options
      }).sendMail(mail),
    catch: (error) => error as Error & { responseCode?: number }
  })

// Refused when nothing listens on the port any more.
const refused = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", () => resume(Effect.succeed(true)))
  })

// Waits (on file system events, within a limit) until `dir` holds a file.
const appears = (dir: string) =>
  Effect.async<void>((resume) => {
    const watcher = fs.watch(dir, () => check())
    const check = () => {
      if (fs.readdirSync(dir).length > 0) {
        watcher.close()
        resume(Effect.void)
      }
    }
    check()
    return Effect.sync(() => watcher.close())
  }).pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`nothing appeared in ${dir}`) }))

describe("effect-smtp serve, as a child process", () => {
  it.scopedLive("npm start keeps every message from nodemailer and curl in the Maildir, logs a line each, serves metrics, sums up on SIGTERM", () =>
    Effect.gen(function*() {
      const dir = yield* Cli.tempDir
      const maildir = path.join(dir, "mail")
      const cli = yield* Cli.npmStart(["--port", "0", "--maildir", maildir, "--name", "mx.test", "--metrics-port", "0"])
      const port = yield* listening(cli)
      const metricsUrl = (yield* cli.line(/metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)$/))[1]!

      // nodemailer upgrades with STARTTLS; the body has dot-stuffed and 8-bit lines.
      const first = Buffer.from("From: a@client.test\r\nTo: b@mx.test\r\nSubject: one\r\n\r\n.leading dot\r\n..two\r\n\u00e9t\u00e9\r\n")
      yield* send(port, { envelope: { from: "a@client.test", to: ["b@mx.test"] }, raw: first })
      // curl speaks plain SMTP, to two recipients.
      const second = Buffer.from("Subject: two\r\n\r\nhello from curl\r\n")
      const upload = path.join(dir, "second.eml")
      fs.writeFileSync(upload, second)
      yield* curl([`smtp://127.0.0.1:${port}/client.test`, "--mail-from", "c@client.test", "--mail-rcpt", "d@mx.test", "--mail-rcpt", "e@mx.test", "-T", upload])

      const one = yield* cli.line(/ message from <a@client\.test> to <b@mx\.test>: (\d+) bytes, (\S+)$/)
      const two = yield* cli.line(/ message from <c@client\.test> to <d@mx\.test>, <e@mx\.test>: (\d+) bytes, (\S+)$/)
      assert.deepStrictEqual([Number(one[1]), Number(two[1])], [first.length, second.length])
      assert.deepStrictEqual(fs.readdirSync(path.join(maildir, "new")).sort(), [path.basename(one[2]!), path.basename(two[2]!)].sort())
      assert.deepStrictEqual(fs.readdirSync(path.join(maildir, "tmp")), [])
      const stored1 = readStored(one[2]!, first)
      assert.deepStrictEqual(stored1.body, first)
      assert.match(stored1.headers, traced("a@client.test", ["b@mx.test"], "[127.0.0.1]", "ESMTPS"))
      const stored2 = readStored(two[2]!, second)
      assert.deepStrictEqual(stored2.body, second)
      assert.match(stored2.headers, traced("c@client.test", ["d@mx.test", "e@mx.test"], "client.test", "ESMTP"))

      const response = yield* Effect.promise(() => fetch(metricsUrl))
      assert.strictEqual(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
      const metrics = yield* Effect.promise(() => response.text())
      assert.include(metrics, "# TYPE effect_smtp_transactions_total counter\n")
      assert.include(metrics, "effect_smtp_transactions_total{class=\"2xx\"} 2\n")
      assert.include(metrics, "effect_smtp_connections_total 2\n")
      assert.include(metrics, "effect_smtp_connections_active 0\n")
      assert.match(metrics, /effect_smtp_command_duration_seconds_count\{command="DATA",class="2xx"\} 2\n/)
      assert.strictEqual((yield* Effect.promise(() => fetch(metricsUrl.replace("/metrics", "/other")))).status, 404)

      yield* cli.signal("SIGTERM")
      yield* cli.exit
      const out = cli.stdout()
      assert.match(out.at(-2)!, / effect-smtp shutting down: 0 open session\(s\) get up to 30000 ms to finish$/)
      assert.match(out.at(-1)!, new RegExp(` effect-smtp stopped: 2 connections, 2 messages \\(${first.length + second.length} bytes\\), 0 rejections$`))
      assert.strictEqual(cli.stderr(), "")
    }), 60_000)

  it.scopedLive("SIGTERM mid-transfer: no new connections, the message finishes and is kept, then 421, exit 0", () =>
    Effect.gen(function*() {
      const dir = yield* Cli.tempDir
      const cli = yield* Cli.node(["serve", "--port", "0", "--maildir", dir, "--name", "mx.test", "--close-timeout", "20000"])
      const port = yield* listening(cli)
      const client = yield* RawClient.connect(port)
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      yield* client.command("EHLO client.test")
      yield* client.command("MAIL FROM:<a@client.test>")
      yield* client.command("RCPT TO:<b@mx.test>")
      assert.strictEqual(yield* client.command("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n")
      yield* client.write("Subject: slow\r\n\r\nfirst half\r\n")

      yield* cli.signal("SIGTERM")
      yield* cli.line(/ effect-smtp shutting down: 1 open session\(s\) get up to 20000 ms to finish$/)
      yield* client.write("second half\r\n.\r\n")
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message queued\r\n")
      // The listener closed as the shutdown began: nobody new gets in.
      assert.isTrue(yield* refused(port))
      assert.strictEqual(yield* client.reply, "421 4.4.2 Server shutting down\r\n")
      yield* client.closed

      assert.deepStrictEqual(yield* cli.exit, { code: 0, signal: null })
      const body = "Subject: slow\r\n\r\nfirst half\r\nsecond half\r\n"
      const [file] = fs.readdirSync(path.join(dir, "new"))
      assert.isTrue(fs.readFileSync(path.join(dir, "new", file!), "utf8").endsWith(`+0000\r\n${body}`))
      assert.match(cli.stdout().at(-1)!, new RegExp(` effect-smtp stopped: 1 connection, 1 message \\(${body.length} bytes\\), 0 rejections$`))
    }), 60_000)

  it.scopedLive("SIGTERM mid-transfer past the close timeout: the session gets 421, its partial file is removed, exit 0", () =>
    Effect.gen(function*() {
      const dir = yield* Cli.tempDir
      const cli = yield* Cli.node(["serve", "--port", "0", "--maildir", dir, "--close-timeout", "500"])
      const port = yield* listening(cli)
      const client = yield* RawClient.connect(port)
      yield* client.reply
      yield* client.command("EHLO client.test")
      yield* client.command("MAIL FROM:<a@client.test>")
      yield* client.command("RCPT TO:<b@mx.test>")
      yield* client.command("DATA")
      yield* client.write("Subject: never finished\r\n\r\npartial\r\n")
      // The partial message is in tmp/ before the shutdown starts.
      yield* appears(path.join(dir, "tmp"))

      yield* cli.signal("SIGTERM")
      assert.strictEqual(yield* client.reply, "421 4.4.2 Server shutting down\r\n")
      yield* client.closed
      assert.deepStrictEqual(yield* cli.exit, { code: 0, signal: null })
      assert.deepStrictEqual(fs.readdirSync(path.join(dir, "new")), [])
      assert.deepStrictEqual(fs.readdirSync(path.join(dir, "tmp")), [])
      assert.match(cli.stdout().at(-1)!, / effect-smtp stopped: 1 connection, 0 messages \(0 bytes\), 0 rejections$/)
    }), 60_000)

  it.scopedLive("with --user, mail needs AUTH after STARTTLS; --log-format json writes one object per line", () =>
    Effect.gen(function*() {
      const dir = yield* Cli.tempDir
      const cli = yield* Cli.node([
        "serve", "--port", "0", "--maildir", dir, "--name", "mx.test", "--user", "alice:s3cret", "--log-format", "json"
      ])
      const port = Number((yield* cli.line(/"message":"effect-smtp listening on 127\.0\.0\.1:(\d+)"/))[1])

      // Plaintext: AUTH is not even offered, and mail is refused until a login.
      const plain = yield* RawClient.connect(port)
      yield* plain.reply
      assert.notInclude(yield* plain.command("EHLO client.test"), "AUTH")
      assert.strictEqual(yield* plain.command("MAIL FROM:<a@client.test>"), "530 5.7.0 Error: authentication Required\r\n")
      yield* plain.command("QUIT")

      const mail = { envelope: { from: "a@client.test", to: ["b@mx.test"] }, raw: Buffer.from("Subject: auth\r\n\r\nhi\r\n") }
      const wrong = yield* Effect.flip(send(port, mail, { auth: { user: "alice", pass: "wrong" } }))
      assert.strictEqual(wrong.responseCode, 535)
      yield* send(port, mail, { auth: { user: "alice", pass: "s3cret" } })

      const stored = JSON.parse((yield* cli.line(/"message":"message from <a@client\.test>/)).input!) as {
        annotations: { from: string; to: Array<string>; size: number; file: string; session: string }
        logLevel: string
      }
      assert.deepStrictEqual([stored.logLevel, stored.annotations.from, stored.annotations.to, stored.annotations.size], [
        "INFO", "a@client.test", ["b@mx.test"], mail.raw.length
      ])
      assert.match(readStored(stored.annotations.file, mail.raw).headers, traced("a@client.test", ["b@mx.test"], "[127.0.0.1]", "ESMTPSA"))
      for (const line of cli.stdout()) assert.doesNotThrow(() => JSON.parse(line), line)
      yield* cli.signal("SIGINT")
      assert.deepStrictEqual(yield* cli.exit, { code: 0, signal: null })
      assert.include(cli.stdout().at(-1)!, `effect-smtp stopped: 3 connections, 1 message (${mail.raw.length} bytes), 2 rejections`)
    }), 60_000)

  it.scopedLive("bad values end with one line on stderr and exit code 2 before listening; a port in use, exit code 1", () =>
    Effect.gen(function*() {
      const dir = yield* Cli.tempDir
      const file = path.join(dir, "a-file")
      fs.writeFileSync(file, "")
      const pem = path.join(dir, "not.pem")
      fs.writeFileSync(pem, "not a PEM file\n")
      const busy = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const server = net.createServer().listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.close())
      )
      const busyPort = (busy.address() as net.AddressInfo).port
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, Record<string, string>, RegExp, number]> = [
        [[], { EFFECT_SMTP_PORT: "70000" }, /^effect-smtp: --port \(EFFECT_SMTP_PORT\) must be between 0 and 65535, got 70000$/, 2],
        [["--port", "abc"], {}, /^effect-smtp: 'abc' is not a integer$/, 2],
        [["--maildir", path.join(file, "mail")], {}, /^effect-smtp: --maildir \(EFFECT_SMTP_MAILDIR\): .*a-file\/mail\/tmp is not a writable directory: ENOTDIR/, 2],
        [["--tls-key", path.join(dir, "none.key"), "--tls-cert", path.join(dir, "none.crt")], {}, /^effect-smtp: --tls-key \(EFFECT_SMTP_TLS_KEY\): cannot read .*none\.key: ENOENT/, 2],
        [["--tls-key", pem, "--tls-cert", pem], {}, /^effect-smtp: --tls-key\/--tls-cert: .*no start line/, 2],
        [["--port", String(busyPort)], {}, new RegExp(`^effect-smtp: cannot listen: .*EADDRINUSE`), 1]
      ]
      yield* Effect.forEach(cases, ([args, env, message, code]) =>
        Effect.gen(function*() {
          const maildir = args.includes("--maildir") ? [] : ["--maildir", path.join(dir, "mail")]
          const cli = yield* Cli.node(["serve", ...maildir, ...args], env)
          assert.deepStrictEqual(yield* cli.exit, { code, signal: null }, args.join(" "))
          const lines = cli.stderr().split("\n").filter((l) => l !== "")
          assert.strictEqual(lines.length, 1, cli.stderr())
          assert.match(lines[0]!, message)
          assert.isFalse(cli.stdout().some((l) => l.includes("listening")), args.join(" "))
        }), { concurrency: 2 }) // Five CLI start-ups at once overran the exit limit on a busy 2-core machine.
    }), 90_000)

  it.scopedLive("--help lists every flag with its default and its environment variable", () =>
    Effect.gen(function*() {
      const cli = yield* Cli.node(["serve", "--help"])
      assert.deepStrictEqual(yield* cli.exit, { code: 0, signal: null })
      const help = cli.stdout().join("\n")
      for (
        const [flag, text] of [
          ["--port integer", "Default: 2525. Env: EFFECT_SMTP_PORT."],
          ["--host text", "Default: 127.0.0.1. Env: EFFECT_SMTP_HOST."],
          ["--maildir text", "Default: ./mail. Env: EFFECT_SMTP_MAILDIR."],
          ["--name text", "Default: this host's name. Env: EFFECT_SMTP_NAME."],
          ["--size integer", "Default: 26214400. Env: EFFECT_SMTP_SIZE."],
          ["--max-clients integer", "Default: 100. Env: EFFECT_SMTP_MAX_CLIENTS."],
          ["--close-timeout integer", "Default: 30000. Env: EFFECT_SMTP_CLOSE_TIMEOUT."],
          ["--tls-key text", "Env: EFFECT_SMTP_TLS_KEY."],
          ["--tls-cert text", "Env: EFFECT_SMTP_TLS_CERT."],
          ["--secure", "Default: off. Env: EFFECT_SMTP_SECURE."],
          ["--user text...", "Env: EFFECT_SMTP_USER (comma-separated)."],
          ["--lmtp", "Default: off. Env: EFFECT_SMTP_LMTP."],
          ["--proxy", "Default: off. Env: EFFECT_SMTP_PROXY."],
          ["--log-format pretty | json", "Default: pretty. Env: EFFECT_SMTP_LOG_FORMAT."],
          ["--metrics-port integer", "Env: EFFECT_SMTP_METRICS_PORT."],
          ["--metrics-host text", "Default: 127.0.0.1. Env: EFFECT_SMTP_METRICS_HOST."],
          ["--log-level all | trace | debug | info | warning | error | fatal | none", ""]
        ]
      ) {
        assert.include(help, `\n${flag}\n`, flag)
        assert.include(help.slice(help.indexOf(`\n${flag}\n`)), text, flag)
      }
    }), 60_000)
})

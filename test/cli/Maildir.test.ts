import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Option, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Maildir from "../../src/cli/Maildir.js"
import type * as Hooks from "../../src/core/Hooks.js"
import * as Session from "../../src/core/Session.js"
import { MessageError } from "../../src/core/SmtpError.js"

const encoder = new TextEncoder()

const session: Session.SessionState = {
  ...Session.make("0123456789abcdef", { remoteAddress: "192.0.2.7", remotePort: 40000, localAddress: "127.0.0.1", localPort: 25 }, undefined),
  heloName: "client.test",
  openingCommand: "EHLO",
  transactions: 2
}

const envelope: Session.Envelope = {
  ...Session.emptyEnvelope,
  mailFrom: { address: "alice@client.test", args: {} },
  rcptTo: [{ address: "bob@mx.test", args: {} }, { address: "carol@mx.test", args: {} }]
}

const options: Maildir.Options = { serverName: "mx.test", lmtp: false, hostname: "host/with:odd" }

// A message over `body`, with `pull` reading the same stream as the server's does (never empty pieces).
const message = (body: Stream.Stream<Uint8Array, MessageError>, byteLength: number) =>
  Effect.map(Stream.toPull(body), (next): Hooks.Message => {
    const pull: Hooks.Message["pull"] = Effect.matchEffect(next, {
      onFailure: Option.match({ onNone: () => Effect.succeed(undefined), onSome: Effect.fail }),
      onSuccess: (chunk) => (Chunk.isEmpty(chunk) ? pull : Effect.succeed(Chunk.toReadonlyArray(chunk)))
    })
    return { envelope, body, pull, byteLength, sizeExceeded: false }
  })

// A fresh directory for one test, removed with its scope.
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-smtp-maildir-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const list = (dir: string) => fs.readdirSync(dir).sort()

const traced = [
  "Return-Path: <alice@client.test>",
  "Delivered-To: <bob@mx.test>",
  "Delivered-To: <carol@mx.test>",
  "Received: from client.test ([192.0.2.7])",
  "\tby mx.test with ESMTP id 0123456789abcdef.3;",
  "\tTue, 25 Nov 2025 09:05:03 +0000",
  ""
].join("\r\n")

describe("Maildir", () => {
  it("records the envelope in trace headers: Return-Path, a Delivered-To per recipient, Received", () => {
    assert.strictEqual(Maildir.traceHeaders(session, envelope, options, new Date(Date.UTC(2025, 10, 25, 9, 5, 3))), traced)
  })

  it("writes the null sender as Return-Path: <> and names the protocol after TLS, AUTH and LMTP", () => {
    const secure: Session.SessionState = {
      ...session,
      tls: { name: "x", standardName: "x", version: "TLSv1.3" },
      user: "alice",
      clientHostname: "client.example"
    }
    const headers = Maildir.traceHeaders(secure, { ...envelope, mailFrom: { address: "", args: {} }, rcptTo: [] }, {
      serverName: "mx.test",
      lmtp: true
    }, new Date(Date.UTC(2025, 0, 1, 0, 0, 0)))
    assert.strictEqual(
      headers,
      "Return-Path: <>\r\nReceived: from client.test (client.example [192.0.2.7])\r\n" +
        "\tby mx.test with LMTPSA id 0123456789abcdef.3;\r\n\tWed, 1 Jan 2025 00:00:00 +0000\r\n"
    )
  })

  it("replaces control characters from the client in header values", () => {
    const headers = Maildir.traceHeaders({ ...session, heloName: "evil\r\nX-Injected: yes" }, envelope, options, new Date(0))
    assert.include(headers, "Received: from evil??X-Injected: yes ([192.0.2.7])\r\n")
  })

  it("names files <seconds>.M<micros>P<pid>Q<n>R<random>.<host>, with / and : escaped in the host", () => {
    const host = Maildir.hostPart("host/with:odd")
    assert.strictEqual(host, "host\\057with\\072odd")
    const name = Maildir.uniqueName(1_764_061_503_123_456_789n, host)
    assert.match(name, new RegExp(`^1764061503\\.M123456P${process.pid}Q\\d+R[0-9a-f]{8}\\.host\\\\057with\\\\072odd$`))
    assert.notStrictEqual(Maildir.uniqueName(1n, host), Maildir.uniqueName(1n, host))
  })

  it.scoped("creates tmp/, new/ and cur/, and writes headers then the exact body into new/", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const root = path.join(dir, "mail")
      const maildir = yield* Maildir.make(root, options)
      const body = ["Subject: hi\r\n\r\n", "line one\r\n", "\u00e9t\u00e9\r\n"].map((s) => encoder.encode(s))
      const size = body.reduce((n, b) => n + b.length, 0)
      const delivered = yield* maildir.deliver(yield* message(Stream.fromIterable(body), size), session)
      assert.deepStrictEqual(list(root), ["cur", "new", "tmp"])
      assert.deepStrictEqual(list(path.join(root, "tmp")), [])
      assert.deepStrictEqual(list(path.join(root, "new")), [path.basename(delivered.path)])
      assert.strictEqual(path.dirname(delivered.path), path.join(root, "new"))
      assert.strictEqual(delivered.size, size)
      const bytes = fs.readFileSync(delivered.path)
      const text = bytes.toString("utf8")
      const headerEnd = text.indexOf("Subject:")
      assert.match(text.slice(0, headerEnd), /^Return-Path: <alice@client\.test>\r\nDelivered-To: <bob@mx\.test>\r\n/)
      assert.deepStrictEqual(bytes.subarray(Buffer.byteLength(text.slice(0, headerEnd))), Buffer.concat(body))
      assert.strictEqual((fs.statSync(delivered.path).mode & 0o777).toString(8), "600")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("keeps a message in tmp/ while it streams, and moves it to new/ only when complete", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const maildir = yield* Maildir.make(dir, options)
      const release = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const body = Stream.concat(
        Stream.make(encoder.encode("first\r\n")),
        Stream.fromEffect(Effect.zipRight(Deferred.succeed(started, undefined), Effect.as(Deferred.await(release), encoder.encode("second\r\n"))))
      )
      const fiber = yield* Effect.fork(maildir.deliver(yield* message(body, 15), session))
      yield* Deferred.await(started)
      assert.strictEqual(list(path.join(dir, "tmp")).length, 1)
      assert.deepStrictEqual(list(path.join(dir, "new")), [])
      yield* Deferred.succeed(release, undefined)
      const delivered = yield* Fiber.join(fiber)
      assert.deepStrictEqual(list(path.join(dir, "tmp")), [])
      assert.isTrue(fs.readFileSync(delivered.path, "utf8").endsWith("\r\nfirst\r\nsecond\r\n"))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("removes the partial file and fails with the body's error when the client goes away", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const maildir = yield* Maildir.make(dir, options)
      const body = Stream.concat(Stream.make(encoder.encode("partial\r\n")), Stream.fail(new MessageError({ reason: "Disconnected" })))
      const error = yield* Effect.flip(maildir.deliver(yield* message(body, 9), session))
      assert.deepStrictEqual(error, new MessageError({ reason: "Disconnected" }))
      assert.deepStrictEqual(list(path.join(dir, "tmp")), [])
      assert.deepStrictEqual(list(path.join(dir, "new")), [])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("removes the partial file when the delivery is interrupted", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const maildir = yield* Maildir.make(dir, options)
      const started = yield* Deferred.make<void>()
      const body = Stream.concat(
        Stream.make(encoder.encode("partial\r\n")),
        Stream.fromEffect(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
      )
      const fiber = yield* Effect.fork(maildir.deliver(yield* message(body, 9), session))
      yield* Deferred.await(started)
      assert.strictEqual(list(path.join(dir, "tmp")).length, 1)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(list(path.join(dir, "tmp")), [])
      assert.deepStrictEqual(list(path.join(dir, "new")), [])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("refuses a path that cannot be a directory, naming it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "a-file")
      fs.writeFileSync(file, "")
      const error = yield* Effect.flip(Maildir.make(path.join(file, "mail"), options))
      assert.strictEqual(error._tag, "MaildirError")
      assert.match(error.message, new RegExp(`^${path.join(file, "mail", "tmp")} is not a writable directory: ENOTDIR`))
    }).pipe(Effect.provide(NodeContext.layer)))
})

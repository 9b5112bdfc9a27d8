import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as Flags from "../../src/cli/Flags.js"
import * as Maildir from "../../src/cli/Maildir.js"
import * as Serve from "../../src/cli/Serve.js"
import * as Summary from "../../src/cli/Summary.js"
import { ServerConfig } from "../../src/core/ServerConfig.js"
import * as TestClient from "../../src/testing/TestClient.js"

const base: Flags.Settings = {
  port: 2525,
  host: "127.0.0.1",
  maildir: "./mail",
  name: "mx.test",
  size: 0,
  maxClients: 100,
  closeTimeout: 0,
  tls: undefined,
  secure: false,
  users: [],
  lmtp: false,
  proxy: false,
  logFormat: "pretty",
  metrics: undefined
}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-smtp-serve-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

// The CLI's hooks and Maildir over the in-memory transport, with these settings' server options.
const serverWith = (settings: Flags.Settings) =>
  Effect.gen(function*() {
    const { authMethods, authOptional, lmtp, name, size, useProxy } = Serve.serverOptions(settings)
    const maildir = Maildir.layer(settings.maildir, { serverName: settings.name, lmtp: settings.lmtp, hostname: "host.test" })
    return yield* TestClient.server.pipe(
      Effect.provide(Layer.merge(
        ServerConfig.layer({
          name,
          size,
          lmtp,
          useProxy,
          closeTimeout: 0,
          ...(authMethods === undefined ? {} : { authMethods }),
          ...(authOptional === undefined ? {} : { authOptional })
        }),
        Serve.hooks(settings).pipe(Layer.provide(maildir))
      ))
    )
  })

describe("Serve", () => {
  it("maps the settings to the server's options: no AUTH without users, AUTH required after TLS with them", () => {
    assert.deepStrictEqual(Serve.serverOptions(base), {
      port: 2525,
      host: "127.0.0.1",
      name: "mx.test",
      size: 0,
      maxClients: 100,
      closeTimeout: 0,
      lmtp: false,
      secure: false,
      useProxy: false,
      authMethods: []
    })
    const withUsers = Serve.serverOptions({
      ...base,
      users: [{ name: "a", password: "b" }],
      tls: { key: "KEY", cert: "CERT", keyFile: "k.pem", certFile: "c.pem" },
      secure: true
    })
    assert.deepStrictEqual(
      [withUsers.authMethods, withUsers.authOptional, withUsers.allowInsecureAuth, withUsers.key, withUsers.cert, withUsers.secure],
      [["PLAIN", "LOGIN", "CRAM-MD5"], false, false, "KEY", "CERT", true]
    )
  })

  it("describes what it is set up to do", () => {
    assert.deepStrictEqual(Serve.describe({ ...base, maildir: "/m" }), [
      "storing every message in the Maildir /m (new/)",
      "STARTTLS with the built-in development certificate (clients must not verify it)",
      "no AUTH: mail from anyone is accepted"
    ])
    assert.deepStrictEqual(
      Serve.describe({
        ...base,
        maildir: "/m",
        secure: true,
        tls: { key: "", cert: "", keyFile: "k.pem", certFile: "c.pem" },
        users: [{ name: "a", password: "b" }],
        lmtp: true,
        proxy: true
      }),
      [
        "storing every message in the Maildir /m (new/)",
        "implicit TLS with the certificate in c.pem",
        "AUTH required for mail: 1 user(s), PLAIN LOGIN CRAM-MD5",
        "speaking LMTP (RFC 2033)",
        "every connection must start with a PROXY header"
      ]
    )
  })

  it.scoped("in LMTP, stores one file for all recipients and answers each of them", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const server = yield* serverWith({ ...base, maildir: dir, lmtp: true })
      const client = yield* server.connect()
      assert.strictEqual(yield* client.reply, "220 mx.test LMTP\r\n")
      yield* client.command("LHLO client.test")
      yield* client.command("MAIL FROM:<a@client.test>")
      yield* client.command("RCPT TO:<b@mx.test>")
      yield* client.command("RCPT TO:<c@mx.test>")
      yield* client.command("DATA")
      yield* client.send("Subject: lmtp\r\n\r\nhi\r\n.\r\n")
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message accepted\r\n")
      assert.strictEqual(yield* client.reply, "250 2.6.0 OK: message accepted\r\n")
      const files = fs.readdirSync(path.join(dir, "new"))
      assert.strictEqual(files.length, 1)
      const stored = fs.readFileSync(path.join(dir, "new", files[0]!), "utf8")
      assert.match(stored, /^Return-Path: <a@client\.test>\r\nDelivered-To: <b@mx\.test>\r\nDelivered-To: <c@mx\.test>\r\nReceived: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test with LMTP id /)
      assert.isTrue(stored.endsWith("\r\nSubject: lmtp\r\n\r\nhi\r\n"))
    }).pipe(Effect.provide(Summary.Summary.Default), Effect.provide(NodeContext.layer)))

  it.scoped("behind --proxy, records the client the PROXY header names", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const server = yield* serverWith({ ...base, maildir: dir, proxy: true })
      const client = yield* server.connect()
      yield* client.send("PROXY TCP4 192.0.2.9 127.0.0.1 40000 25\r\n")
      assert.strictEqual(yield* client.reply, "220 mx.test ESMTP\r\n")
      yield* client.command("EHLO client.test")
      yield* client.command("MAIL FROM:<a@client.test>")
      yield* client.command("RCPT TO:<b@mx.test>")
      yield* client.command("DATA")
      assert.strictEqual(yield* client.command("hi\r\n."), "250 2.6.0 OK: message queued\r\n")
      const [file] = fs.readdirSync(path.join(dir, "new"))
      assert.include(fs.readFileSync(path.join(dir, "new", file!), "utf8"), "Received: from client.test ([192.0.2.9])\r\n")
    }).pipe(Effect.provide(Summary.Summary.Default), Effect.provide(NodeContext.layer)))

  it.scoped("answers 451 4.3.0 when the message cannot be written, and keeps nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const server = yield* serverWith({ ...base, maildir: dir })
      // The Maildir was checked at start; its tmp/ disappears afterwards.
      fs.rmSync(path.join(dir, "tmp"), { recursive: true })
      const client = yield* server.connect()
      yield* client.reply
      yield* client.command("EHLO client.test")
      yield* client.command("MAIL FROM:<a@client.test>")
      yield* client.command("RCPT TO:<b@mx.test>")
      yield* client.command("DATA")
      assert.strictEqual(yield* client.command("hi\r\n."), "451 4.3.0 Error: cannot store the message now\r\n")
      assert.deepStrictEqual(fs.readdirSync(path.join(dir, "new")), [])
      const summary = yield* Summary.Summary
      assert.strictEqual((yield* summary.counts).messages, 0)
    }).pipe(Effect.provide(Summary.Summary.Default), Effect.provide(NodeContext.layer)))
})

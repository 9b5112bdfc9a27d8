/**
 * Every example of reference/callbacks.md, its callback bodies copied unchanged, run against a
 * facade on 127.0.0.1 (onSecure and onAuth through their adapters until TLS and AUTH land).
 * The only edits: an underscore on names the examples leave unused, and one expect-error on
 * the unused `body`, which the project's noUnusedParameters/noUnusedLocals would refuse.
 */
import { assert, describe, it, vi } from "@effect/vitest"
import { Effect, Either, Layer, Option } from "effect"
import * as Hooks from "../../src/core/Hooks.js"
import * as Session from "../../src/core/Session.js"
import { SmtpError } from "../../src/core/SmtpError.js"
import { SMTPServer } from "../../src/compat/index.js"
import * as Callbacks from "../../src/compat/Callbacks.js"
import * as Logging from "../../src/compat/Logging.js"
import * as SessionView from "../../src/compat/SessionView.js"
import { connect, deferred, greeted, inTransaction, start } from "./client.js"

const state = Session.make("s1", { remoteAddress: "127.0.0.1", remotePort: 50000, localAddress: "127.0.0.1", localPort: 25 }, undefined)

// A host for calling one adapter directly, with the server's callbacks.
const hostOf = (server: SMTPServer): Callbacks.Host => ({
  callbacks: server as Callbacks.AnyCallbacks,
  sessions: new SessionView.Registry({ lmtp: false, hideDSN: true }),
  log: Logging.silent,
  streamType: "web",
  connected: () => {}
})

describe("callbacks.md: error with responseCode", () => {
  it("refuses with the code and message the error carries", async () => {
    const { port } = await start({
      onRcptTo(_address, _session, callback) {
        const err = new Error("Mailbox does not exist");
        err.responseCode = 550;
        callback(err);
      }
    })
    const client = await inTransaction(port, [])
    assert.strictEqual(await client.command("RCPT TO:<nobody@y.test>"), "550 Mailbox does not exist\r\n")
  })
})

describe("callbacks.md: onConnect", () => {
  it("lets 127.0.0.1 in: the example blocks only 1.2.3.4", async () => {
    const { port } = await start({
      onConnect(session, callback) {
        if (session.remoteAddress === "1.2.3.4") {
          const err = new Error("Blocked");
          err.responseCode = 421;
          return callback(err);
        }
        callback(null);
      },
    })
    const client = await connect(port)
    assert.strictEqual(await client.reply(), "220 mx.test ESMTP\r\n")
  })

  it("refuses the blocked address with 421 and closes the connection", async () => {
    const { port } = await start({
      onConnect(session, callback) {
        if (session.remoteAddress === "127.0.0.1") {
          const err = new Error("Blocked");
          err.responseCode = 421;
          return callback(err);
        }
        callback(null);
      },
    })
    const client = await connect(port)
    assert.strictEqual(await client.reply(), "421 Blocked\r\n")
    await client.closed
  })
})

describe("callbacks.md: onSecure", () => {
  it.effect("prints session.tlsOptions and accepts", () => {
    const server = new SMTPServer({
      requestCert: true,
      onSecure(_socket, session, callback) {
        // Inspect TLS details via session.tlsOptions
        console.log(session.tlsOptions); // { name, standardName, version }
        callback(null);
      },
    })
    return Effect.gen(function*() {
      const log = vi.spyOn(console, "log").mockImplementation(() => {})
      const onSecure = yield* Hooks.OnSecure
      const tls = { name: "TLS_AES_256_GCM_SHA384", standardName: "TLS_AES_256_GCM_SHA384", version: "TLSv1.3", servername: "mx.test" }
      const result = yield* Effect.either(onSecure(tls, state)).pipe(
        Effect.provide(Layer.succeed(Session.Session, { get: Effect.succeed(state), raw: Effect.succeed("the socket") }))
      )
      const printed = [...log.mock.calls]
      log.mockRestore()
      assert.isTrue(Either.isRight(result))
      assert.deepStrictEqual(printed, [[{ name: "TLS_AES_256_GCM_SHA384", standardName: "TLS_AES_256_GCM_SHA384", version: "TLSv1.3" }]])
    }).pipe(Effect.provide(Callbacks.fromOnSecure(hostOf(server))))
  })
})

describe("callbacks.md: onAuth", () => {
  const server = new SMTPServer({
    onAuth(auth, _session, callback) {
      if (auth.method === "CRAM-MD5") {
        if (auth.validatePassword("secret")) {
          return callback(null, { user: auth.username });
        }
      } else {
        if (auth.password === "secret") {
          return callback(null, { user: auth.username });
        }
      }
      callback(new Error("Invalid credentials"));
    },
  })
  const layer = Callbacks.fromOnAuth(hostOf(server))
  const session = Layer.succeed(Session.Session, { get: Effect.succeed(state), raw: Effect.succeed(undefined) })
  const login = (credentials: Hooks.Credentials) =>
    Effect.flatMap(Hooks.OnAuth, (onAuth) => Effect.either(onAuth(credentials, state))).pipe(
      Effect.provide(Layer.merge(layer, session))
    )

  it.effect("logs in with the right password and stores the username as the user", () =>
    Effect.gen(function*() {
      const result = yield* login({ method: "PLAIN", username: "alice", password: "secret" })
      assert.deepStrictEqual(result, Either.right({ user: "alice", message: undefined }))
    }))

  it.effect("refuses a wrong password with 535 and the error's message", () =>
    Effect.gen(function*() {
      const result = yield* login({ method: "LOGIN", username: "alice", password: "guess" })
      assert.deepStrictEqual(Either.getLeft(result).pipe(Option.map((e: SmtpError) => e.reply)), Option.some({ code: 535, enhanced: "5.7.8" as const, text: "Invalid credentials" }))
    }))

  it.effect("checks CRAM-MD5 through validatePassword", () =>
    Effect.gen(function*() {
      const cram = (answer: string): Hooks.Credentials => ({
        method: "CRAM-MD5",
        username: "bob",
        challenge: "<1.2@mx.test>",
        challengeResponse: answer,
        validatePassword: (password) => password === answer
      })
      assert.deepStrictEqual(yield* login(cram("secret")), Either.right({ user: "bob", message: undefined }))
      assert.isTrue(Either.isLeft(yield* login(cram("other"))))
    }))
})

describe("callbacks.md: onMailFrom", () => {
  it("refuses a blocked sender with 550 and accepts the others", async () => {
    const { port } = await start({
      onMailFrom(address, _session, callback) {
        if (address.address.endsWith("@blocked.example")) {
          return callback(new Error("Sender not allowed"));
        }
        callback(null);
      },
    })
    const client = await greeted(port)
    await client.command("EHLO client.test")
    assert.strictEqual(await client.command("MAIL FROM:<eve@blocked.example>"), "550 Sender not allowed\r\n")
    assert.strictEqual(await client.command("MAIL FROM:<alice@example.com>"), "250 Accepted\r\n")
  })

  it("shows the ESMTP parameters in address.args, upper-case, flags as true", async () => {
    const seen = deferred<unknown>()
    const { port } = await start({
      onMailFrom(address, _session, callback) {
        seen.resolve(address.args && [address.args.SIZE, address.args.BODY, address.args.SMTPUTF8])
        callback(null)
      }
    })
    const client = await greeted(port)
    await client.command("EHLO client.test")
    await client.command("MAIL FROM:<a@x.test> size=1048576 BODY=8bitmime SMTPUTF8")
    assert.deepStrictEqual(await seen.promise, ["1048576", "8BITMIME", true])
  })
})

describe("callbacks.md: onRcptTo", () => {
  it("refuses an unknown recipient with 550 and accepts the known ones", async () => {
    const { port } = await start({
      onRcptTo(address, _session, callback) {
        const known = ["alice@example.com", "bob@example.com"];
        if (!known.includes(address.address)) {
          const err = new Error("No such user");
          err.responseCode = 550;
          return callback(err);
        }
        callback(null);
      },
    })
    const client = await inTransaction(port, [])
    assert.strictEqual(await client.command("RCPT TO:<carol@example.com>"), "550 No such user\r\n")
    assert.strictEqual(await client.command("RCPT TO:<bob@example.com>"), "250 Accepted\r\n")
  })
})

const body = "Subject: example\r\n\r\n..a line that starts with a dot\r\nsecond line\r\n"
const wire = "Subject: example\r\n\r\n...a line that starts with a dot\r\nsecond line\r\n.\r\n"

describe("callbacks.md: onData", () => {
  it("reads the whole Web stream before calling back", async () => {
    const consumed = deferred<number>()
    const { port } = await start({
      onData(stream, _session, callback) {
        async function process() {
          const chunks: Uint8Array[] = [];
          for await (const chunk of stream) {
            chunks.push(chunk);
          }
          // @ts-expect-error the example leaves using the body to the reader (noUnusedLocals)
          const body = Buffer.concat(chunks).toString();
          // store or forward the message
          consumed.resolve(stream.byteLength)
          callback(null);
        }
        process().catch(callback);
      },
    })
    const client = await inTransaction(port)
    assert.strictEqual(await client.command("DATA"), "354 End data with <CR><LF>.<CR><LF>\r\n")
    client.send(wire)
    assert.strictEqual(await client.reply(), "250 OK: message queued\r\n")
    // byteLength counts the dot-unstuffed body, all of it read when the callback ran.
    assert.strictEqual(await consumed.promise, Buffer.byteLength(body))
  })

  it("hands on the exact dot-unstuffed bytes, chunk by chunk", async () => {
    const received = deferred<string>()
    const { port } = await start({
      onData(stream, _session, callback) {
        async function process() {
          const chunks: Uint8Array[] = []
          for await (const chunk of stream) chunks.push(chunk)
          received.resolve(Buffer.concat(chunks).toString())
          callback(null)
        }
        process().catch(callback)
      }
    })
    const client = await inTransaction(port)
    await client.command("DATA")
    // Split so the end marker and a dot-stuffed line straddle reads.
    client.send(wire.slice(0, 21))
    client.send(wire.slice(21, wire.length - 3))
    client.send(wire.slice(wire.length - 3))
    assert.strictEqual(await client.reply(), "250 OK: message queued\r\n")
    assert.strictEqual(await received.promise, body)
  })

  describe("size limit", () => {
    const server = () =>
      start({
        size: 100,
        onData(stream, _session, callback) {
          async function process() {
            for await (const _chunk of stream) {
              // drain
            }
            if (stream.sizeExceeded) {
              const err = new Error("Message too large");
              err.responseCode = 552;
              return callback(err);
            }
            callback(null);
          }
          process().catch(callback);
        }
      })

    it("ends the stream early with sizeExceeded and lets onData answer 552", async () => {
      const { port } = await server()
      const client = await inTransaction(port)
      await client.command("DATA")
      client.send(`${"x".repeat(78)}\r\n`.repeat(20) + ".\r\n")
      assert.strictEqual(await client.reply(), "552 Message too large\r\n")
      // The session goes on.
      assert.strictEqual(await client.command("NOOP"), "250 OK\r\n")
    })

    it("accepts a message within the limit", async () => {
      const { port } = await server()
      const client = await inTransaction(port)
      await client.command("DATA")
      client.send("Subject: small\r\n\r\nhi\r\n.\r\n")
      assert.strictEqual(await client.reply(), "250 OK: message queued\r\n")
    })
  })

  it("answers per LMTP recipient: a string accepts, an error with responseCode refuses", async () => {
    const { port } = await start({
      lmtp: true,
      onData(stream, session, callback) {
        async function process() {
          for await (const _chunk of stream) {}
          const responses = session.envelope.rcptTo.map((rcpt) => {
            if (rcpt.address === "bad@example.com") {
              const err = new Error("Mailbox full");
              err.responseCode = 452;
              return err;
            }
            return "Message accepted";
          });
          callback(null, responses);
        }
        process().catch(callback);
      }
    })
    const client = await greeted(port)
    await client.command("LHLO client.test")
    await client.command("MAIL FROM:<a@x.test>")
    await client.command("RCPT TO:<good@example.com>")
    await client.command("RCPT TO:<bad@example.com>")
    await client.command("DATA")
    client.send("Subject: lmtp\r\n\r\nhi\r\n.\r\n")
    assert.strictEqual(await client.reply(), "250 Message accepted\r\n")
    assert.strictEqual(await client.reply(), "452 Mailbox full\r\n")
  })
})

describe("callbacks.md: onClose", () => {
  // Runs the example's server and returns what it printed for one connection driven by `drive`.
  const printed = async (drive: (port: number) => Promise<void>) => {
    const line = deferred<string>()
    const log = vi.spyOn(console, "log").mockImplementation((text: string) => line.resolve(text))
    try {
      const { port } = await start({
        onClose(session) {
          console.log(`Connection ${session.id} closed after ${session.transaction} transactions`);
        },
      })
      await drive(port)
      return await line.promise
    } finally {
      log.mockRestore()
    }
  }

  it("prints the number of transactions completed", async () => {
    const text = await printed(async (port) => {
      const client = await inTransaction(port)
      await client.command("DATA")
      client.send("Subject: one\r\n\r\nhi\r\n.\r\n")
      await client.reply()
      await client.command("QUIT")
    })
    assert.match(text, /^Connection [0-9a-v]{16} closed after 1 transactions$/)
  })

  it("counts a transaction the client left in the middle", async () => {
    const text = await printed(async (port) => {
      const client = await inTransaction(port)
      client.socket.destroy()
    })
    assert.match(text, /closed after 1 transactions$/)
  })

  it("prints 0 for a connection that never started a transaction", async () => {
    const text = await printed(async (port) => {
      const client = await greeted(port)
      await client.command("QUIT")
    })
    assert.match(text, /closed after 0 transactions$/)
  })
})

/**
 * A real HAProxy (the Debian package, installed by the CI script) with `send-proxy-v2` in front
 * of the server on loopback. This test fails, never skips, when haproxy is missing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Queue, Schedule, Stream } from "effect"
import * as childProcess from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import nodemailer from "nodemailer"
import * as Hooks from "../../src/core/Hooks.js"
import type * as Session from "../../src/core/Session.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"

// Debian installs haproxy in /usr/sbin, which is not on every user's PATH.
const haproxyBinary = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/bin/haproxy"].find((p) => fs.existsSync(p)) ??
  "haproxy"

// A port that was free a moment ago, for haproxy's frontend.
const freePort = Effect.async<number>((resume) => {
  const probe = net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const { port } = probe.address() as net.AddressInfo
    probe.close(() => resume(Effect.succeed(port)))
  })
})

// Runs haproxy in the foreground with `config` until the scope closes.
const runHaproxy = (config: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-smtp-haproxy-"))
      const file = path.join(dir, "haproxy.cfg")
      fs.writeFileSync(file, config)
      const child = childProcess.spawn(haproxyBinary, ["-db", "-f", file], { stdio: ["ignore", "ignore", "pipe"] })
      let stderr = ""
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString()
      })
      // Should the test process itself end early, the haproxy it started goes with it.
      const killOnExit = () => child.kill("SIGTERM")
      process.once("exit", killOnExit)
      const exited = new Promise<string>((resolve) => {
        child.on("error", (error) => resolve(`could not start ${haproxyBinary}: ${error.message}`))
        child.on("exit", (code, signal) => resolve(`haproxy exited (${code ?? signal}): ${stderr}`))
      })
      return { child, dir, exited, killOnExit }
    }),
    ({ child, dir, exited, killOnExit }) =>
      Effect.promise(() => {
        process.off("exit", killOnExit)
        // Only the process this test started.
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
        return exited
      }).pipe(
        Effect.timeout("5 seconds"),
        Effect.ignore,
        Effect.zipRight(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      )
  )

// Connects to `port`, retrying while haproxy is still binding: at most 100 tries, 50 ms apart.
const connectWhenUp = (port: number, exited: Promise<string>) =>
  Effect.async<net.Socket, Error>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => resume(Effect.succeed(socket)))
    socket.once("error", (error) => resume(Effect.fail(error)))
  }).pipe(
    Effect.retry(Schedule.intersect(Schedule.spaced("50 millis"), Schedule.recurs(100))),
    Effect.raceFirst(Effect.flatMap(Effect.promise(() => exited), (why) => Effect.fail(new Error(why))))
  )

// Reads from `socket` until `text` has arrived; returns all of it.
const readUntil = (socket: net.Socket, text: string) =>
  Effect.async<string>((resume) => {
    let received = ""
    const onData = (chunk: Buffer) => {
      received += chunk.toString("latin1")
      if (received.includes(text)) {
        socket.off("data", onData)
        resume(Effect.succeed(received))
      }
    }
    socket.on("data", onData)
    return Effect.sync(() => socket.off("data", onData))
  })

describe("HAProxy with send-proxy-v2", () => {
  it.live("hands the server the real client address and port, and nodemailer's mail goes through", () =>
    Effect.gen(function*() {
      const sessions = yield* Queue.unbounded<Session.SessionState>()
      const bodies = yield* Queue.unbounded<number>()
      const hooks = Hooks.layer({
        onConnect: (session) => Queue.offer(sessions, session),
        onData: (message) =>
          Stream.runDrain(message.body).pipe(
            Effect.zipRight(Effect.suspend(() => Queue.offer(bodies, message.byteLength))),
            Effect.asVoid
          )
      })
      const server = Context.get(
        yield* Layer.build(
          NodeSmtpServer.layer({ port: 0, host: "127.0.0.1", name: "mx.test", closeTimeout: 0, useProxy: ["127.0.0.1"] }).pipe(
            Layer.provide(hooks)
          )
        ),
        NodeSmtpServer.SmtpServer
      )
      const frontend = yield* freePort
      const haproxy = yield* runHaproxy([
        "global",
        "  maxconn 32",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 30s",
        "  timeout server 30s",
        "frontend smtp",
        `  bind 127.0.0.1:${frontend}`,
        "  default_backend mx",
        "backend mx",
        `  server mx 127.0.0.1:${server.address.port} send-proxy-v2`,
        ""
      ].join("\n"))

      // Not an acquireRelease: its acquire is uninterruptible, and the race inside must be able to drop the loser.
      const socket = yield* connectWhenUp(frontend, haproxy.exited)
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      assert.strictEqual(yield* readUntil(socket, "\r\n"), "220 mx.test ESMTP\r\n")
      const session = yield* Queue.take(sessions)
      // The session shows this socket's end, not haproxy's connection to the server.
      assert.deepStrictEqual(
        [session.remoteAddress, session.remotePort, session.localAddress, session.localPort],
        ["127.0.0.1", socket.localPort, "127.0.0.1", frontend]
      )
      socket.write("HELO c\r\n")
      assert.strictEqual(yield* readUntil(socket, "\r\n"), "250 mx.test Nice to meet you, [127.0.0.1]\r\n")

      const mailer = nodemailer.createTransport({ host: "127.0.0.1", port: frontend, ignoreTLS: true })
      const info = yield* Effect.promise(() =>
        mailer.sendMail({ envelope: { from: "a@x.test", to: ["b@y.test"] }, raw: "Subject: via haproxy\r\n\r\nhello\r\n" })
      )
      mailer.close()
      assert.strictEqual(info.response, "250 2.6.0 OK: message queued")
      assert.strictEqual(yield* Queue.take(bodies), "Subject: via haproxy\r\n\r\nhello\r\n".length)
      assert.strictEqual((yield* Queue.take(sessions)).remoteAddress, "127.0.0.1")
    }).pipe(Effect.scoped))
})

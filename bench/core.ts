/**
 * The core's own cost per message, without a kernel: one connection in this process runs the
 * benchmark's dialogue (EHLO, then MAIL+RCPT+DATA in one chunk, the 1 KiB body in the next, the
 * 250; QUIT after the last) over a transport that hands out prepared chunks and counts the
 * replies. `sync` reads return at once; `async` reads resume the connection from a microtask,
 * as a socket's data event would. Prints the median µs of CPU per message over nine runs after
 * one untimed. What the loopback socket costs on top is what `npm run bench` adds.
 *
 * With `--connections=N` the messages are shared by N connections at once (async reads only),
 * whose fibers interleave as a busy server's do.
 *
 *   npx tsx bench/core.ts [messages per run, default 20000] [--data=hooks|stream] [--connections=N]
 */
import { Effect, Stream } from "effect"
import * as Connection from "../src/core/Connection.js"
import * as Hooks from "../src/core/Hooks.js"
import * as ServerConfig from "../src/core/ServerConfig.js"
import type * as Transport from "../src/core/Transport.js"
import * as Message from "./lib/message.js"

const messages = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 20_000)
const streamData = process.argv.includes("--data=stream")
const connections = Number(process.argv.find((a) => a.startsWith("--connections="))?.slice("--connections=".length) ?? 1)
const runs = 9

const envelope = Buffer.from("MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n")
const body = Buffer.concat(Message.make(1024).chunks)

const script = (count: number): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = [Buffer.from("EHLO client.example.test\r\n")]
  for (let i = 0; i < count; i++) chunks.push(envelope, body)
  chunks.push(Buffer.from("QUIT\r\n"))
  return chunks
}

const transport = (chunks: Array<Uint8Array>, mode: "sync" | "async"): Transport.Transport & { replies: number } => {
  let next = 0
  const self = {
    replies: 0,
    info: { remoteAddress: "127.0.0.1", remotePort: 40000, localAddress: "127.0.0.1", localPort: 25 },
    tls: undefined,
    read: (): Effect.Effect<Transport.ReadResult> => {
      const chunk = next < chunks.length ? chunks[next++]! : "eof"
      if (mode === "sync") return Effect.succeed(chunk)
      return Effect.async<Transport.ReadResult>((resume) => queueMicrotask(() => resume(Effect.succeed(chunk))))
    },
    hasPendingInput: () => false,
    write: (data: string | Uint8Array): Effect.Effect<void> => {
      self.replies++
      void data
      return Effect.void
    },
    close: Effect.void,
    onClosed: () => {}
  }
  return self
}

const config = ServerConfig.decodeSync({ greetingDelay: 0, disabledCommands: ["STARTTLS"] })
// The default data hook is Hooks.drain itself: --data=stream names the Stream drain explicitly.
const hooks = Effect.runSync(
  Effect.provide(Hooks.resolve, Hooks.layer({ onData: streamData ? (message) => Stream.runDrain(message.body) : Hooks.drain }))
)

const cpuMicros = () => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

const measure = async (mode: "sync" | "async"): Promise<number> => {
  const samples: Array<number> = []
  for (let run = 0; run <= runs; run++) {
    const each = Math.ceil(messages / connections)
    const transports = Array.from({ length: connections }, () => transport(script(each), mode))
    const start = cpuMicros()
    await Effect.runPromise(
      Effect.forEach(transports, (t) => Connection.run(t, config, hooks, { closing: false }), { concurrency: "unbounded", discard: true })
    )
    const perMessage = (cpuMicros() - start) / messages
    if (run > 0) samples.push(perMessage)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]!
}

for (const mode of connections > 1 ? ["async"] as const : ["sync", "async"] as const) {
  const median = await measure(mode)
  console.log(`${mode.padEnd(5)} reads: ${median.toFixed(2)} µs CPU per message (median of ${runs} × ${messages}, data hook: ${streamData ? "Stream.runDrain" : "Hooks.drain"}, ${connections} connection(s))`)
}

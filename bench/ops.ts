/**
 * Effect operations the core runs per message: a steadier measure than time on a shared
 * machine, and the one to watch when changing the hot path. One connection runs EHLO and 1,000
 * of the benchmark's messages (MAIL+RCPT+DATA in one chunk, the 1 KiB body in the next) with the
 * default data hook, reads resuming from a microtask as a socket's would; a Supervisor counts
 * every operation the fiber evaluates, by kind.
 *
 *   npx tsx bench/ops.ts
 */
import { Effect, RuntimeFlags, RuntimeFlagsPatch, Supervisor } from "effect"
import * as Connection from "../src/core/Connection.js"
import * as Hooks from "../src/core/Hooks.js"
import * as ServerConfig from "../src/core/ServerConfig.js"
import type * as Transport from "../src/core/Transport.js"
import * as Message from "./lib/message.js"

const envelope = Buffer.from("MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n")
const body = Buffer.concat(Message.make(1024).chunks)
const n = 1000
const chunks: Array<Uint8Array> = [Buffer.from("EHLO c\r\n")]
for (let i = 0; i < n; i++) chunks.push(envelope, body)
let next = 0
const t: Transport.Transport = {
  info: { remoteAddress: "127.0.0.1", remotePort: 1, localAddress: "127.0.0.1", localPort: 25 },
  tls: undefined,
  read: () => Effect.async<Transport.ReadResult>((resume) => queueMicrotask(() => resume(Effect.succeed(next < chunks.length ? chunks[next++]! : "eof")))),
  hasPendingInput: () => false,
  write: () => Effect.void,
  close: Effect.void,
  onClosed: () => {}
}
class Counter extends Supervisor.AbstractSupervisor<void> {
  ops = 0
  value = Effect.void
  byOp = new Map<string, number>()
  override onEffect(_fiber: unknown, effect: unknown) {
    this.ops++
    const op = (effect as { _op?: string })._op ?? "?"
    this.byOp.set(op, (this.byOp.get(op) ?? 0) + 1)
  }
}
const counter = new Counter()
const config = ServerConfig.decodeSync({ greetingDelay: 0 })
const hooks = Effect.runSync(Effect.provide(Hooks.resolve, Hooks.layer({ onData: Hooks.drain })))
await Effect.runPromise(Effect.supervised(Connection.run(t, config, hooks, { closing: false }), counter).pipe(Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))))
console.log(`${(counter.ops / n).toFixed(1)} Effect ops per message`)
for (const [op, count] of [...counter.byOp].sort((a, b) => b[1] - a[1])) console.log(`  ${op}: ${(count / n).toFixed(1)}`)

/**
 * The load generator: its own process, driven by the runner (bench/run.ts). It reads a
 * `LoadSpec.Spec` as JSON from argv, speaks SMTP over raw sockets as real clients do (EHLO once,
 * then per message MAIL+RCPT+DATA pipelined, the body after 354, wait for the 250; several
 * messages per connection), and prints JSON lines: `ready` when measuring may start (then waits
 * for a line on stdin), `result` at the end. Every loop is bounded by a count and a time cap.
 */
import * as readline from "node:readline"
import type * as LoadSpec from "./lib/loadSpec.js"
import * as Message from "./lib/message.js"
import { SmtpClient } from "./lib/smtpClient.js"

const envelope = Buffer.from("MAIL FROM:<sender@example.test>\r\nRCPT TO:<rcpt@example.test>\r\nDATA\r\n")
const ehlo = "EHLO bench.example.test\r\n"
// Past its cap plus this, the generator reports what it has and exits, whatever the server does.
const watchdogGraceMs = 60_000

const now = (): bigint => process.hrtime.bigint()
const secondsSince = (start: bigint, end: bigint = now()): number => Number(end - start) / 1e9

/** Unexpected replies and failures, counted, the first few kept for the report. */
class Errors {
  count = 0
  readonly samples: Array<string> = []
  add(what: unknown): void {
    this.count++
    if (this.samples.length < 5) this.samples.push(what instanceof Error ? what.message : String(what))
  }
}

const print = (event: LoadSpec.Event): void => {
  process.stdout.write(JSON.stringify(event) + "\n")
}

const input = readline.createInterface({ input: process.stdin })
const lines = input[Symbol.asyncIterator]()

/** Says `ready` and waits for the runner's go-ahead (a line on stdin). */
const ready = async (event: LoadSpec.Ready): Promise<void> => {
  print(event)
  await lines.next()
}

const sendMessage = async (client: SmtpClient, body: Message.Body, errors: Errors): Promise<boolean> => {
  const codes = await client.send(envelope, 3)
  if (codes[0] !== 250 || codes[1] !== 250 || codes[2] !== 354) {
    errors.add(`envelope replies ${codes.join(" ")}`)
    return false
  }
  const code = body.chunks.length === 1 ? (await client.send(body.chunks[0]!, 1))[0] : await client.stream(body.chunks)
  if (code !== 250) {
    errors.add(`end of data reply ${code}`)
    return false
  }
  client.messages++
  return true
}

const open = async (port: number, errors: Errors): Promise<SmtpClient | undefined> => {
  const client = await SmtpClient.connect(port)
  const [code] = await client.send(ehlo, 1)
  if (code === 250) return client
  errors.add(`EHLO reply ${code}`)
  client.destroy()
  return undefined
}

interface Tally {
  messages: number
  bytes: number
  last: bigint
}

/** Runs `workers` loops that together start at most `count` iterations before `capMs` passes. */
const phase = async (
  workers: number,
  count: number,
  capMs: number,
  iteration: (worker: number, tally: Tally) => Promise<void>
): Promise<{ readonly tally: Tally; readonly seconds: number; readonly capped: boolean }> => {
  const start = now()
  const deadline = start + BigInt(capMs) * 1_000_000n
  const tally: Tally = { messages: 0, bytes: 0, last: start }
  let started = 0
  const loop = async (worker: number) => {
    while (started < count && now() < deadline) {
      started++
      await iteration(worker, tally)
    }
  }
  await Promise.all(Array.from({ length: workers }, (_, i) => loop(i)))
  return { tally, seconds: secondsSince(start, tally.last), capped: started < count }
}

const runMessages = async (spec: LoadSpec.MessagesSpec): Promise<LoadSpec.Result> => {
  const body = Message.make(spec.messageBytes)
  const errors = new Errors()
  const slots: Array<SmtpClient | undefined> = new Array(spec.connections)
  const iteration = async (i: number, tally: Tally) => {
    try {
      let client = slots[i]
      if (client !== undefined && client.messages >= spec.perConnection) {
        slots[i] = undefined
        await client.quit()
        client = undefined
      }
      if (client === undefined) {
        client = await open(spec.port, errors)
        if (client === undefined) return
        slots[i] = client
      }
      if (await sendMessage(client, body, errors)) {
        tally.messages++
        tally.bytes += body.bytes
        tally.last = now()
      } else {
        client.destroy()
        slots[i] = undefined
      }
    } catch (error) {
      errors.add(error)
      slots[i]?.destroy()
      slots[i] = undefined
    }
  }
  if (spec.warmup > 0) await phase(spec.connections, spec.warmup, spec.warmupCapMs, iteration)
  await ready({ event: "ready" })
  const errorsBefore = errors.count
  const { capped, seconds, tally } = await phase(spec.connections, spec.count, spec.timeCapMs, iteration)
  await Promise.all(slots.map((client) => client?.quit().catch(() => {})))
  return {
    event: "result",
    messages: tally.messages,
    bytes: tally.bytes,
    seconds,
    errors: errors.count - errorsBefore,
    errorSamples: errors.samples,
    capped
  }
}

const runSessions = async (spec: LoadSpec.SessionsSpec): Promise<LoadSpec.Result> => {
  const body = Message.make(spec.messageBytes)
  const errors = new Errors()
  let latencies: Array<number> = []
  const iteration = async (_: number, tally: Tally) => {
    const start = now()
    let client: SmtpClient | undefined
    try {
      client = await open(spec.port, errors)
      if (client === undefined) return
      if (!(await sendMessage(client, body, errors))) return
      const [code] = await client.send("QUIT\r\n", 1)
      if (code !== 221) return errors.add(`QUIT reply ${code}`)
      tally.last = now()
      latencies.push(Number(tally.last - start) / 1e6)
      tally.messages++
      tally.bytes += body.bytes
    } catch (error) {
      errors.add(error)
    } finally {
      client?.destroy()
    }
  }
  if (spec.warmup > 0) await phase(spec.concurrency, spec.warmup, spec.warmupCapMs, iteration)
  await ready({ event: "ready" })
  const errorsBefore = errors.count
  latencies = []
  const { capped, seconds, tally } = await phase(spec.concurrency, spec.count, spec.timeCapMs, iteration)
  return {
    event: "result",
    messages: tally.messages,
    bytes: tally.bytes,
    seconds,
    latenciesMs: latencies.sort((a, b) => a - b),
    errors: errors.count - errorsBefore,
    errorSamples: errors.samples,
    capped
  }
}

const runIdle = async (spec: LoadSpec.IdleSpec): Promise<LoadSpec.Result> => {
  const errors = new Errors()
  const clients: Array<SmtpClient> = []
  const { capped, seconds } = await phase(spec.parallel, spec.connections, spec.timeCapMs, async (_, tally) => {
    try {
      const client = await open(spec.port, errors)
      if (client === undefined) return
      clients.push(client)
      tally.last = now()
    } catch (error) {
      errors.add(error)
    }
  })
  await ready({ event: "ready", open: clients.length })
  for (const client of clients) client.destroy()
  return {
    event: "result",
    messages: 0,
    bytes: 0,
    seconds,
    open: clients.length,
    errors: errors.count,
    errorSamples: errors.samples,
    capped
  }
}

const main = async (): Promise<void> => {
  const spec = JSON.parse(process.argv[2] ?? "") as LoadSpec.Spec
  // Warm-up is capped at most like measuring; the wait for the runner's go-ahead is short.
  const limitMs = spec.timeCapMs * 2 + watchdogGraceMs
  const watchdog = setTimeout(() => {
    process.stderr.write(`load generator: no result ${limitMs} ms after start\n`)
    process.exit(2)
  }, limitMs)
  watchdog.unref()
  const result = spec.kind === "messages"
    ? await runMessages(spec)
    : spec.kind === "sessions"
    ? await runSessions(spec)
    : await runIdle(spec)
  print(result)
  input.close()
  process.exit(0)
}

main().catch((error: unknown) => {
  process.stderr.write(`load generator failed: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})

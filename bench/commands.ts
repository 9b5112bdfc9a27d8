/**
 * The cost of one command: 20,000 NOOPs over a raw socket on 127.0.0.1, one at a time (each
 * waits for its reply) and pipelined in batches of 100. The server runs in this process with
 * the default hooks; the client runs in a child process so it does not share the server's
 * thread. Nine runs each, after an untimed one; prints the median wall-clock µs per command
 * and the median server CPU µs per command (user + system time of this process, which is
 * steadier than wall time on a busy machine).
 *
 * Run with `npx tsx bench/commands.ts` (no tracer: spans cost nothing), or
 * `npx tsx bench/commands.ts --tracer` (a tracer that records nothing is installed, so every
 * session and command span is built). tsx's transform adds a call per closure created, which
 * inflates every number; for figures to compare, compile first:
 * `npx tsc -p bench/tsconfig.json && node bench/results/build/bench/commands.js [--tracer]`.
 * Gives up after five minutes.
 */
import { Layer, ManagedRuntime, Tracer } from "effect"
import { spawn } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import * as Hooks from "../src/core/Hooks.js"
import * as NodeSmtpServer from "../src/node/NodeSmtpServer.js"

const commands = 20_000
const batch = 100
const runs = 9
const deadline = Date.now() + 300_000

// ---- client (child process) ----

const client = async (port: number, mode: "sequential" | "pipelined"): Promise<number> => {
  const socket = net.connect(port, "127.0.0.1")
  socket.setNoDelay(true)
  let pending = 0
  let wake: (() => void) | undefined
  let tail = ""
  socket.on("data", (data: Buffer) => {
    const text = tail + data.toString("latin1")
    const lines = text.split("\r\n")
    tail = lines.pop()!
    for (const line of lines) if (line.startsWith("250 ") || line.startsWith("220 ")) pending--
    if (pending <= 0 && wake) {
      const done = wake
      wake = undefined
      done()
    }
  })
  const expect = (n: number) =>
    new Promise<void>((resolve, reject) => {
      pending += n
      if (pending <= 0) return resolve()
      const timer = setTimeout(() => reject(new Error("timed out")), Math.max(0, deadline - Date.now()))
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()))
  await expect(1)
  socket.write("EHLO bench\r\n")
  await expect(1)
  const start = process.hrtime.bigint()
  if (mode === "sequential") {
    for (let i = 0; i < commands; i++) {
      socket.write("NOOP\r\n")
      await expect(1)
    }
  } else {
    const payload = "NOOP\r\n".repeat(batch)
    for (let i = 0; i < commands / batch; i++) {
      socket.write(payload)
      await expect(batch)
    }
  }
  const micros = Number(process.hrtime.bigint() - start) / 1e3 / commands
  socket.destroy()
  return micros
}

const runClient = (port: number, mode: string) =>
  new Promise<number>((resolve, reject) => {
    const self = fileURLToPath(import.meta.url)
    // Under tsx the client needs its loader; compiled (bench/tsconfig.json), plain node runs it.
    const loader = self.endsWith(".ts") ? ["--import", "tsx"] : []
    const child = spawn(process.execPath, [...loader, self, "--client", String(port), mode], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    const timer = setTimeout(() => child.kill(), Math.max(0, deadline - Date.now()))
    child.on("exit", (code) => {
      clearTimeout(timer)
      code === 0 ? resolve(Number(out.trim())) : reject(new Error(`client exited with ${code}`))
    })
  })

// ---- server (this process) ----

// A tracer that builds every span and keeps none: the price of spans themselves.
const discardingTracer = Tracer.make({
  span: (name, parent, context, links, startTime, kind) => {
    const attributes = new Map<string, unknown>()
    const span: Tracer.Span = {
      _tag: "Span",
      name,
      spanId: Math.random().toString(16).slice(2),
      traceId: "bench",
      parent,
      context,
      status: { _tag: "Started", startTime },
      attributes,
      links,
      sampled: true,
      kind,
      end: () => {},
      attribute: (key, value) => void attributes.set(key, value),
      event: () => {},
      addLinks: () => {}
    }
    return span
  },
  context: (f) => f()
})

const median = (values: ReadonlyArray<number>): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const main = async () => {
  const withTracer = process.argv.includes("--tracer")
  const server = NodeSmtpServer.layer({ port: 0, host: "127.0.0.1", name: "bench.test" }).pipe(
    Layer.provide(Hooks.Default),
    Layer.provide(withTracer ? Layer.setTracer(discardingTracer) : Layer.empty)
  )
  const runtime = ManagedRuntime.make(server)
  try {
    const { address } = await runtime.runPromise(NodeSmtpServer.SmtpServer)
    const label = withTracer ? "with a tracer" : "no tracer"
    for (const mode of ["sequential", "pipelined"]) {
      await runClient(address.port, mode)
      const wall: Array<number> = []
      const cpu: Array<number> = []
      for (let i = 0; i < runs; i++) {
        const before = process.cpuUsage()
        wall.push(await runClient(address.port, mode))
        const used = process.cpuUsage(before)
        cpu.push((used.user + used.system) / commands)
      }
      console.log(`${label}, ${mode}: ${median(wall).toFixed(2)} µs/command wall, ${median(cpu).toFixed(2)} µs/command server CPU`)
    }
  } finally {
    await runtime.dispose()
  }
}

const clientIndex = process.argv.indexOf("--client")
if (clientIndex >= 0) {
  client(Number(process.argv[clientIndex + 1]), process.argv[clientIndex + 2] as "sequential").then(
    (micros) => {
      console.log(micros)
      process.exit(0)
    },
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
} else {
  main().then(() => process.exit(0), (error) => {
    console.error(error)
    process.exit(1)
  })
}

/**
 * BDAT against DATA for one 100 MiB message: a server in this process on 127.0.0.1 with the
 * default (draining) data hook, and a raw socket client that sends the same body through DATA
 * and through BDAT in 1 MiB chunks, pipelined (plain, then BODY=BINARYMIME). Three runs each, interleaved; prints MiB/s and
 * the ratio of the medians, after one untimed round. Run with `npx tsx bench/bdat.ts`; gives up after two minutes.
 */
import { Layer, ManagedRuntime } from "effect"
import { Buffer } from "node:buffer"
import * as net from "node:net"
import * as Hooks from "../src/core/Hooks.js"
import * as NodeSmtpServer from "../src/node/NodeSmtpServer.js"

const MiB = 1024 * 1024
const messageMiB = 100
const repeats = 3
const deadline = Date.now() + 120_000

// One 1 MiB block of 1024-octet lines: nothing to dot-stuff, so DATA and BDAT carry the same octets.
const block = Buffer.from(`${"x".repeat(1022)}\r\n`.repeat(MiB / 1024))

// A connection that collects what the server writes and waits for a reply ending in `text`.
const connect = (port: number) =>
  new Promise<{ socket: net.Socket; until: (text: string) => Promise<void> }>((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.setNoDelay(true)
    let received = ""
    let waiter: { text: string; done: () => void } | undefined
    socket.on("data", (data) => {
      // Keep only the tail: replies are short, the search needs no more.
      received = (received + data.toString("latin1")).slice(-4096)
      if (waiter !== undefined && received.endsWith(waiter.text)) {
        const done = waiter.done
        waiter = undefined
        received = ""
        done()
      }
    })
    socket.once("error", reject)
    const until = (text: string) =>
      new Promise<void>((done, fail) => {
        if (received.endsWith(text)) {
          received = ""
          return done()
        }
        const timer = setTimeout(() => fail(new Error(`timed out waiting for ${JSON.stringify(text)}`)), deadline - Date.now())
        waiter = {
          text,
          done: () => {
            clearTimeout(timer)
            done()
          }
        }
      })
    socket.once("connect", () => resolve({ socket, until }))
  })

const write = (socket: net.Socket, data: Buffer | string) =>
  socket.write(data) ? Promise.resolve() : new Promise<void>((resolve) => socket.once("drain", () => resolve()))

// Opens a transaction, then times the body alone: first octet written to the final reply.
type Mode = "DATA" | "BDAT" | "BDAT BINARYMIME"
const modes: ReadonlyArray<Mode> = ["DATA", "BDAT", "BDAT BINARYMIME"]

const send = async (port: number, mode: Mode): Promise<number> => {
  const { socket, until } = await connect(port)
  await until(" ESMTP\r\n")
  // BINARYMIME skips the bare-line-ending scan: the octets go to the hook untouched.
  const body = mode === "BDAT BINARYMIME" ? " BODY=BINARYMIME" : ""
  await write(socket, `EHLO bench\r\nMAIL FROM:<a@bench.test>${body}\r\nRCPT TO:<b@bench.test>\r\n`)
  await until("250 2.1.5 Accepted\r\n")
  const start = process.hrtime.bigint()
  if (mode === "DATA") {
    await write(socket, "DATA\r\n")
    await until("354 End data with <CR><LF>.<CR><LF>\r\n")
    for (let i = 0; i < messageMiB; i++) await write(socket, block)
    await write(socket, ".\r\n")
  } else {
    for (let i = 0; i < messageMiB; i++) {
      await write(socket, i === messageMiB - 1 ? `BDAT ${block.length} LAST\r\n` : `BDAT ${block.length}\r\n`)
      await write(socket, block)
    }
  }
  await until("250 2.6.0 OK: message queued\r\n")
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  socket.destroy()
  return messageMiB / seconds
}

const median = (values: ReadonlyArray<number>): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const main = async () => {
  const runtime = ManagedRuntime.make(
    NodeSmtpServer.layer({ port: 0, host: "127.0.0.1", name: "bench.test" }).pipe(Layer.provide(Hooks.Default))
  )
  try {
    const { address } = await runtime.runPromise(NodeSmtpServer.SmtpServer)
    const results: Record<Mode, Array<number>> = { DATA: [], BDAT: [], "BDAT BINARYMIME": [] }
    // One untimed round first, so both paths are compiled before they are measured.
    for (const mode of modes) await send(address.port, mode)
    for (let run = 1; run <= repeats; run++) {
      for (const mode of modes) {
        if (Date.now() > deadline) throw new Error("out of time")
        const rate = await send(address.port, mode)
        results[mode].push(rate)
        console.log(`run ${run} ${mode}: ${rate.toFixed(1)} MiB/s`)
      }
    }
    const data = median(results.DATA)
    for (const mode of modes) {
      const rate = median(results[mode])
      console.log(`median of ${repeats}, ${messageMiB} MiB message, ${mode}: ${rate.toFixed(1)} MiB/s (${(rate / data).toFixed(2)}x DATA)`)
    }
  } finally {
    await runtime.dispose()
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)

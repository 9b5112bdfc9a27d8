/**
 * Runs a server with smtp-server's callback API (smtp-server itself, or the SMTPServer facade)
 * in the benchmark configuration: no TLS, AUTH optional, no reverse DNS, a data hook that drains
 * the body (or reads it at a throttled rate) and accepts. A face supplies how to build its server
 * and how to read its body stream (a Node Readable for smtp-server, a Web ReadableStream for the
 * facade).
 */
import type { Readable } from "node:stream"
import { Pacer } from "./pacer.js"
import * as ServerEnv from "./serverEnv.js"

/** The options every callback-API server gets. */
export interface CallbackOptions<Body> {
  readonly disabledCommands: Array<string>
  readonly authOptional: boolean
  readonly disableReverseLookup: boolean
  readonly logger: false
  readonly onData: (stream: Body, session: unknown, callback: (err?: Error | null) => void) => void
}

/** How a data hook consumes one face's body stream. */
export interface BodyConsumer<Body> {
  /** Reads the whole body as fast as it comes, then calls `done`. */
  readonly drain: (body: Body, done: (error?: Error) => void) => void
  /** Reads the whole body no faster than the pacer allows, then calls `done`. */
  readonly throttle: (body: Body, pacer: Pacer, done: (error?: Error) => void) => void
}

/** A server with `listen(port, host, callback)`, as both smtp-server and the facade have. */
export interface Listenable {
  listen(port: number, host: string, callback: () => void): unknown
}

/** One callback-API face of the benchmark. */
export interface CallbackFace<Body> {
  /** Display name in the tables. */
  readonly name: string
  readonly body: BodyConsumer<Body>
  /** Builds the server; returns it with the greeting delay it actually uses (the runner asked for `greetingDelay`). */
  readonly create: (
    options: CallbackOptions<Body>,
    greetingDelay: number
  ) => { readonly server: Listenable; readonly greetingDelay: number }
}

/** Smtp-server's body: a Node Readable, read through its 'data' events (its fastest path). */
export const nodeReadable: BodyConsumer<Readable> = {
  drain: (body, done) => {
    body.on("data", () => {})
    body.once("end", () => done())
    body.once("error", done)
  },
  throttle: (body, pacer, done) => {
    body.on("data", (chunk: Buffer) => {
      const wait = pacer.take(chunk.length)
      if (wait > 0) {
        body.pause()
        setTimeout(() => body.resume(), wait)
      }
    })
    body.once("end", () => done())
    body.once("error", done)
  }
}

const readAll = async (body: ReadableStream<Uint8Array>, pacer: Pacer | undefined): Promise<void> => {
  const reader = body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    const wait = pacer === undefined ? 0 : pacer.take(value.length)
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  }
}

/** The facade's body: a Web ReadableStream, read with one reader. */
export const webReadable: BodyConsumer<ReadableStream<Uint8Array>> = {
  drain: (body, done) => {
    readAll(body, undefined).then(() => done(), done)
  },
  throttle: (body, pacer, done) => {
    readAll(body, pacer).then(() => done(), done)
  }
}

/** Starts `face` on 127.0.0.1 as the environment says and announces it. */
export const serve = <Body>(face: CallbackFace<Body>): void => {
  const env = ServerEnv.read()
  const rate = env.throttleBytesPerSecond
  const { server, greetingDelay } = face.create({
    disabledCommands: ["STARTTLS"],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onData: (stream, _session, callback) => {
      const done = (error?: Error) => callback(error ?? null)
      if (rate === undefined) face.body.drain(stream, done)
      else face.body.throttle(stream, new Pacer(rate), done)
    }
  }, env.greetingDelay)
  server.listen(env.port, "127.0.0.1", () => ServerEnv.announce({ name: face.name, port: env.port, greetingDelay }))
  // Exit normally on the runner's SIGTERM, so `node --cpu-prof` writes its profile.
  process.once("SIGTERM", () => process.exit(0))
}

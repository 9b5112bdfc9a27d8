/**
 * The development mail server `npm start` runs: accepts all mail on 127.0.0.1:2525 and logs
 * one line per message. (The full CLI with Maildir storage and flags is built on this.)
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Stream } from "effect"
import * as Hooks from "../core/Hooks.js"
import * as NodeSmtpServer from "../node/NodeSmtpServer.js"

const hooks = Hooks.layer({
  onData: (message) =>
    Stream.runDrain(message.body).pipe(
      Effect.zipRight(Effect.suspend(() =>
        Effect.log(
          `message from <${message.envelope.mailFrom?.address}> to ${
            message.envelope.rcptTo.map((r) => `<${r.address}>`).join(", ")
          } (${message.byteLength} bytes)`
        )
      ))
    )
})

const main = Effect.gen(function*() {
  const server = yield* NodeSmtpServer.SmtpServer
  yield* Effect.log(`effect-smtp listening on ${server.address.address}:${server.address.port}`)
  return yield* Effect.never
})

main.pipe(
  Effect.provide(NodeSmtpServer.layer({ port: 2525, host: "127.0.0.1" }).pipe(Layer.provide(hooks))),
  NodeRuntime.runMain
)

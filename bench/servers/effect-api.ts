/**
 * effect-smtp through the Effect API: NodeSmtpServer.layer with a data hook that drains the body
 * through Message.pull (`Hooks.drain`) and accepts, or one that reads it at the throttled rate
 * (`Hooks.runForEach`). No TLS is configured, AUTH is not required,
 * and no reverse DNS lookup is made (the Effect API's default, set here explicitly).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { Hooks, NodeSmtpServer } from "../../src/index.js"
import { Pacer } from "../lib/pacer.js"
import * as ServerEnv from "../lib/serverEnv.js"

const env = ServerEnv.read()
const rate = env.throttleBytesPerSecond

const onData: NonNullable<Hooks.Implementations["onData"]> = rate === undefined
  ? Hooks.drain
  : (message) => {
    const pacer = new Pacer(rate)
    // As the README recommends for reading a body; Stream.runForEach(message.body, …) works the
    // same, at a higher cost per piece (see bench/README.md, "throttled-200m").
    return Hooks.runForEach(message, (chunk) => {
      const wait = pacer.take(chunk.length)
      return wait > 0 ? Effect.sleep(wait) : Effect.void
    })
  }

const announce = Layer.effectDiscard(Effect.gen(function*() {
  const server = yield* NodeSmtpServer.SmtpServer
  ServerEnv.announce({ name: "effect-smtp (Effect API)", port: server.address.port, greetingDelay: env.greetingDelay })
}))

announce.pipe(
  Layer.provide(NodeSmtpServer.layer({
    port: env.port,
    host: "127.0.0.1",
    greetingDelay: env.greetingDelay,
    disabledCommands: ["STARTTLS"],
    disableReverseLookup: true
  })),
  Layer.provide(Hooks.layer({ onData })),
  Layer.launch,
  NodeRuntime.runMain
)

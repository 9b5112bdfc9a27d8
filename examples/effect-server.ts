/**
 * A minimal Effect server composed from layers: a recipient allow-list, and a data hook that
 * writes each message to a folder. Run: `npx tsx examples/effect-server.ts` and send mail to
 * alice@example.test on 127.0.0.1:2526.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Hooks, NodeSmtpServer, SmtpError } from "effect-smtp"

// Refuses every recipient not on the list, with 550 5.1.1.
const allowList = (known: ReadonlyArray<string>) =>
  Layer.succeed(Hooks.OnRcptTo, (rcpt) =>
    known.includes(rcpt.address.toLowerCase()) ? Effect.void : SmtpError.noSuchUser(rcpt.address))

// Writes each body into `<folder>/<session>-<n>.eml`; the file is complete before the 250 goes out.
const writeToFolder = (folder: string) =>
  Layer.succeed(Hooks.OnData, (message, session) =>
    Effect.gen(function*() {
      yield* Effect.promise(() => fs.promises.mkdir(folder, { recursive: true }))
      const file = path.join(folder, `${session.id}-${session.transactions + 1}.eml`)
      const out = fs.createWriteStream(file)
      yield* Hooks.runForEach(message, (chunk) =>
        Effect.async<void>((resume) => {
          if (out.write(chunk)) resume(Effect.void)
          else out.once("drain", () => resume(Effect.void))
        }))
      yield* Effect.async<void>((resume) => {
        out.end(() => resume(Effect.void))
      })
      yield* Effect.log(`stored ${file} (${message.byteLength} bytes)`)
    }))

const hooks = Layer.mergeAll(
  allowList(["alice@example.test", "bob@example.test"]),
  writeToFolder("./mail-example"),
  Hooks.OnConnect.Default,
  Hooks.OnSecure.Default,
  Hooks.OnAuth.Default,
  Hooks.OnMailFrom.Default,
  Hooks.OnClose.Default
)

const server = NodeSmtpServer.layer({ port: 2526, host: "127.0.0.1", size: 10 * 1024 * 1024 }).pipe(
  Layer.provide(hooks)
)

Layer.launch(server).pipe(NodeRuntime.runMain)

/** effect-smtp through the SMTPServer facade, in the benchmark configuration. */
import { SMTPServer } from "../../src/compat/index.js"
import * as CallbackServer from "../lib/callbackServer.js"

CallbackServer.serve<ReadableStream<Uint8Array>>({
  name: "effect-smtp (facade)",
  body: CallbackServer.webReadable,
  create: (options, greetingDelay) => ({ server: new SMTPServer({ ...options, greetingDelay } as never), greetingDelay })
})

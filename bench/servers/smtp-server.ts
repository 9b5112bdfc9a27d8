/**
 * The incumbent: smtp-server (pinned dev dependency) in the benchmark configuration. It always
 * waits 100 ms before its greeting (hard-coded, no option turns it off), so it announces 100
 * whatever the runner asks for.
 */
import type { Readable } from "node:stream"
import { SMTPServer } from "smtp-server"
import * as CallbackServer from "../lib/callbackServer.js"

const fixedGreetingDelay = 100

CallbackServer.serve<Readable>({
  name: "smtp-server",
  body: CallbackServer.nodeReadable,
  create: (options) => ({ server: new SMTPServer(options), greetingDelay: fixedGreetingDelay })
})

/**
 * The floor (`npm run bench -- --floor`): a bare `net` server that answers the load generator's
 * dialogue without parsing anything, checking anything or calling any hook, replies batched per
 * chunk. No SMTP server can be correct and cost less, so its ratio says how much of a target the
 * kernel and Node leave to win: on the 2-core machine, where the generator shares the cores, it
 * is the ceiling of messages/s and the least CPU per message. Not a server to use: it ignores
 * the throttle, every limit and every error.
 */
import * as net from "node:net"
import * as ServerEnv from "../lib/serverEnv.js"

const env = ServerEnv.read()
const endOfData = Buffer.from("\r\n.\r\n")

const server = net.createServer((socket) => {
  socket.setNoDelay(true)
  let inData = false
  let held: Buffer | undefined
  socket.on("error", () => {})
  socket.write("220 floor ESMTP\r\n")
  socket.on("data", (data: Buffer) => {
    let chunk = data
    if (held !== undefined) {
      chunk = Buffer.concat([held, chunk])
      held = undefined
    }
    let out = ""
    let pos = 0
    while (pos < chunk.length) {
      if (inData) {
        const end = chunk.indexOf(endOfData, pos)
        if (end < 0) {
          // Keep only what could be the start of the end marker.
          held = chunk.subarray(Math.max(pos, chunk.length - 4))
          break
        }
        inData = false
        pos = end + endOfData.length
        out += "250 2.0.0 Ok: queued\r\n"
        continue
      }
      const lf = chunk.indexOf(10, pos)
      if (lf < 0) {
        held = chunk.subarray(pos)
        break
      }
      const verb = chunk.toString("latin1", pos, Math.min(pos + 4, lf)).toUpperCase()
      pos = lf + 1
      if (verb === "EHLO") out += "250-floor\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
      else if (verb === "MAIL" || verb === "RCPT") out += "250 2.1.0 Accepted\r\n"
      else if (verb === "DATA") {
        out += "354 End data with <CR><LF>.<CR><LF>\r\n"
        inData = true
      } else if (verb === "QUIT") return void socket.end(out + "221 2.0.0 Bye\r\n")
      else out += "502 5.5.2 Error: command not recognized\r\n"
    }
    if (out !== "") socket.write(out)
  })
})

server.listen(env.port, "127.0.0.1", () => ServerEnv.announce({ name: "floor (bare net)", port: env.port, greetingDelay: 0 }))

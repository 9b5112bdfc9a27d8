// A client in a process of its own, so its buffers stay out of the server's memory samples:
// node send-body.mjs <port> <MiB>. Sends one message of <MiB> MiB of 1024-byte lines, reusing
// one 1 MiB block and waiting for drain, then prints the server's replies as JSON and exits.
import * as net from "node:net"

const [port, mib] = process.argv.slice(2).map(Number)
const socket = net.connect(port, "127.0.0.1")
const block = Buffer.from(`${"z".repeat(1022)}\r\n`.repeat(1024))
let text = ""
let stage = "greeting"
const replies = []

const sendBody = () => {
  let sent = 0
  const pump = () => {
    while (sent < mib) {
      sent++
      if (!socket.write(block)) return void socket.once("drain", pump)
    }
    stage = "end"
    socket.write(".\r\nQUIT\r\n")
  }
  pump()
}

socket.on("data", (chunk) => {
  text += chunk.toString("latin1")
  for (let eol = text.indexOf("\r\n"); eol >= 0; eol = text.indexOf("\r\n")) {
    const line = text.slice(0, eol + 2)
    text = text.slice(eol + 2)
    if (line[3] === "-") continue
    replies.push(line)
    if (stage === "greeting") {
      stage = "envelope"
      socket.write("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
    } else if (line.startsWith("354 ")) sendBody()
  }
})
socket.on("close", () => {
  process.stdout.write(JSON.stringify(replies))
  process.exit(0)
})

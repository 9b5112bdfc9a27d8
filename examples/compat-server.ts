/**
 * The callback face: smtp-server code on effect-smtp. Run: `npx tsx examples/compat-server.ts`
 * and send mail to alice@example.test on 127.0.0.1:2527.
 */
import { SMTPServer } from "effect-smtp/compat"

const known = ["alice@example.test", "bob@example.test"]

const server = new SMTPServer({
  name: "mx.example.test",
  size: 10 * 1024 * 1024,
  onRcptTo(address, _session, callback) {
    if (!known.includes(address.address.toLowerCase())) {
      const err = new Error("No such user")
      err.responseCode = 550
      return callback(err)
    }
    callback(null)
  },
  onData(stream, session, callback) {
    // The body is a Web ReadableStream: read it to the end before answering.
    new Response(stream).text().then((body) => {
      if (stream.sizeExceeded) return callback(Object.assign(new Error("Message too large"), { responseCode: 552 }))
      console.log(`message ${session.transaction} of ${session.id}: ${body.length} characters`)
      callback(null, "Queued")
    }, callback)
  }
})

server.on("error", (error) => console.error("server error:", error))
await server.listen(2527, "127.0.0.1")
console.log("listening on 127.0.0.1:2527")

import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RawClient from "../support/RawClient.js"
import * as Harness from "./Harness.js"

// SMTP smuggling (SEC Consult, December 2023; CVE-2023-51764, CVE-2023-51765, CVE-2023-51766):
// a message ended by something other than CRLF.CRLF, followed in the same write by a second
// transaction, which a vulnerable server accepts as a message of its own.
const second = "MAIL FROM:<smuggled@x.test>\r\nRCPT TO:<victim@y.test>\r\nDATA\r\nsmuggled\r\n"

// [vector, what "pass" delivers for it, what "normalize" delivers for it, whether it has a bare CR or LF].
// A dot right after CRLF is dot-stuffing (RFC 5321 §4.5.2) and is removed under every policy.
const vectors: ReadonlyArray<readonly [string, string, string, boolean]> = [
  ["\n.\n", "\n.\n", "\r\n.\r\n", true],
  ["\n.\r", "\n.\r", "\r\n.\r\n", true],
  ["\r.\n", "\r.\n", "\r\n.\r\n", true],
  ["\r.\r", "\r.\r", "\r\n.\r\n", true],
  ["\n.\r\n", "\n.\r\n", "\r\n.\r\n", true],
  ["\r.\r\n", "\r.\r\n", "\r\n.\r\n", true],
  ["\r\n.\n", "\r\n\n", "\r\n\r\n", true],
  ["\r\n.\r", "\r\n\r", "\r\n\r\n", true],
  ["\r\n\x00.\r\n", "\r\n\x00.\r\n", "\r\n\x00.\r\n", false],
  ["\r\n.\r\r\n", "\r\n\r\r\n", "\r\n\r\n\r\n", true],
  ["\r\r\n.\r\r\n", "\r\r\n\r\r\n", "\r\n\r\n\r\n\r\n", true]
]

const policies = ["normalize", "reject", "pass"] as const

const queued = "250 2.6.0 OK: message queued\r\n"
const refused = "550 5.6.0 Error: bare CR or LF in message content is not allowed\r\n"

describe("SMTP smuggling over real sockets: only CRLF.CRLF ends DATA", () => {
  for (const policy of policies) {
    describe(`bareLineEndings: ${policy}`, () => {
      for (const [vector, verbatim, normalized, bare] of vectors) {
        it.live(`${JSON.stringify(vector)} then a second transaction in the same write: one message, exact bytes`, () =>
          Effect.gen(function*() {
            const log = Harness.journal()
            const server = yield* Harness.nodeServer({ bareLineEndings: policy }, Harness.recordingHooks(log))
            const client = yield* RawClient.connect(server.address.port)
            yield* client.reply
            yield* client.command("EHLO client.test")
            yield* client.write("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
            assert.strictEqual(yield* client.reply, "250 2.1.0 Accepted\r\n")
            assert.strictEqual(yield* client.reply, "250 2.1.5 Accepted\r\n")
            assert.strictEqual(yield* client.reply, "354 End data with <CR><LF>.<CR><LF>\r\n")

            yield* client.write(Buffer.from(`Subject: t\r\n\r\nhello${vector}${second}.\r\n`, "latin1"))
            const rejected = policy === "reject" && bare
            assert.strictEqual(yield* client.reply, rejected ? refused : queued)
            // Nothing else was answered: the second transaction was body, never commands.
            yield* client.write("QUIT\r\n")
            yield* client.closed
            assert.strictEqual(yield* client.reply, "221 2.0.0 Bye\r\n")
            assert.strictEqual(yield* client.reply, "")

            // One DATA, one call of the data hook.
            assert.strictEqual(log.deliveries.length, 1)
            const [delivery] = log.deliveries
            assert.strictEqual(delivery!.from, "a@x.test")
            assert.deepStrictEqual(delivery!.to, ["b@y.test"])
            if (rejected) {
              // Refused: the hook's stream failed, so no message was accepted at all.
              assert.strictEqual(delivery!.error, "BareLineEnding")
            } else {
              assert.strictEqual(delivery!.error, undefined)
              const expected = `Subject: t\r\n\r\nhello${policy === "normalize" ? normalized : verbatim}${second}`
              assert.strictEqual(delivery!.body.toString("latin1"), expected)
            }
          }).pipe(Effect.scoped))
      }
    })
  }
})

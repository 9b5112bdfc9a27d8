import { assert, describe, it } from "@effect/vitest"
import * as Reply from "../../src/protocol/Reply.js"

describe("Reply.format", () => {
  it.each([
    [Reply.make(250, "OK", "2.0.0"), true, "250 2.0.0 OK\r\n"],
    [Reply.make(250, "OK", "2.0.0"), false, "250 OK\r\n"],
    [Reply.make(354, "Go ahead"), true, "354 Go ahead\r\n"],
    [Reply.make(250, ["mx Hello", "PIPELINING", "SIZE 10"]), true, "250-mx Hello\r\n250-PIPELINING\r\n250 SIZE 10\r\n"],
    [Reply.make(550, ["one", "two"], "5.1.1"), true, "550-5.1.1 one\r\n550 5.1.1 two\r\n"],
    [Reply.make(550, "bad\r\n250 injected", "5.1.1"), true, "550 5.1.1 bad  250 injected\r\n"],
    // RFC 4954 §4: an empty challenge still has the space after the code.
    [Reply.make(334, ""), true, "334 \r\n"]
  ])("formats %j (enhanced %s) as %j", (reply, enhanced, expected) => {
    assert.strictEqual(Reply.format(reply, enhanced), expected)
  })

  it("gives a 421 the power to close the connection", () => {
    assert.isTrue(Reply.closesConnection(Reply.table.timeout))
    assert.isFalse(Reply.closesConnection(Reply.table.ok))
  })

  it.each([[250, "2.0.0"], [451, "4.3.0"], [550, "5.1.1"], [552, "5.2.2"], [999, undefined]])(
    "maps code %i to enhanced %s by default",
    (code, enhanced) => {
      assert.strictEqual(Reply.defaultEnhanced(code), enhanced)
    }
  )

  it("formats the greeting without an enhanced code", () => {
    assert.strictEqual(Reply.format(Reply.table.greeting("mx.test", false, "hi")), "220 mx.test ESMTP hi\r\n")
    assert.strictEqual(Reply.format(Reply.table.greeting("mx.test", true)), "220 mx.test LMTP\r\n")
  })

  it("fills heloResponse's %s with the server then the client name", () => {
    assert.strictEqual(Reply.format(Reply.table.helo("%s hi %s", "mx", "[1.2.3.4]")), "250 mx hi [1.2.3.4]\r\n")
  })
})

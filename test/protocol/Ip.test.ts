import { assert, describe, it } from "@effect/vitest"
import * as Ip from "../../src/protocol/Ip.js"

describe("Ip", () => {
  it.each([
    ["192.0.2.1", "192.0.2.1"],
    [" 10.0.0.1 ", "10.0.0.1"],
    ["::ffff:10.0.0.1", "10.0.0.1"],
    ["::FFFF:a00:1", "10.0.0.1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0000:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:db8:1:1:1:1:1:0", "2001:db8:1:1:1:1:1:0"],
    ["::192.0.2.1", "::c000:201"],
    ["fe80::0001%eth0", "fe80::1%eth0"],
    ["not an address", "not an address"]
  ])("normalizes %j to %j (RFC 5952)", (input, expected) => {
    assert.strictEqual(Ip.normalize(input), expected)
  })

  it.each(["192.0.2.1", "::", "::1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::ffff:1.2.3.4", "64:ff9b::192.0.2.33"])(
    "accepts %j",
    (text) => assert.isTrue(Ip.isIP(text))
  )

  it.each(["", "192.0.2", "192.0.2.01", "256.0.0.1", "1:2:3:4:5:6:7:8:9", "1::2::3", ":::", "1.2.3.4::", "::1:", "g::1", "fe80::1%eth0", "[::1]"])(
    "refuses %j",
    (text) => assert.isFalse(Ip.isIP(text))
  )

  it("reads 4- and 16-byte addresses", () => {
    assert.strictEqual(Ip.fromBytes(new Uint8Array([9, 192, 0, 2, 1]), 1, 4), "192.0.2.1")
    const v6 = new Uint8Array(16)
    v6[0] = 0x20
    v6[1] = 0x01
    v6[15] = 1
    assert.strictEqual(Ip.fromBytes(v6, 0, 16), "2001::1")
  })

  it.each<[Ip.Trust, string, boolean]>([
    [false, "192.0.2.1", false],
    [true, "192.0.2.1", true],
    [[], "192.0.2.1", false],
    [["*"], "192.0.2.1", true],
    [["192.0.2.1"], "192.0.2.1", true],
    [["192.0.2.1"], "192.0.2.10", false],
    // A dual-stack listener reports an IPv4 peer as ::ffff:a.b.c.d.
    [["192.0.2.1"], "::ffff:192.0.2.1", true],
    [["::ffff:192.0.2.1"], "192.0.2.1", true],
    [["2001:DB8::0:1"], "2001:db8:0:0:0:0:0:1", true]
  ])("trust %j admits %j: %s", (option, address, expected) => {
    assert.strictEqual(Ip.isAllowed(option, address), expected)
  })
})

import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { createHmac } from "node:crypto"
import * as Reply from "../../src/protocol/Reply.js"
import * as Sasl from "../../src/protocol/Sasl.js"

const b64 = (text: string | Uint8Array) => Buffer.from(text).toString("base64")
const challenge = "<0123456789abcdef.1700000000@mx.test>"
const makeChallenge = () => challenge
const hmac = (password: string, text = challenge) => createHmac("md5", password).update(text).digest("hex")

// The reply line of a Fail step, or the step's tag.
const outcome = (step: Sasl.Step): string => (step._tag === "Fail" ? Reply.format(step.reply) : step._tag)

const aborted = "501 5.0.0 Authentication aborted\r\n"
const badBase64 = "501 5.5.2 Error: invalid base64 data\r\n"
const badUserdata = "501 5.5.2 Error: invalid userdata\r\n"
const missingUsername = "501 5.5.2 Error: missing username\r\n"

// Runs an exchange: the AUTH command's initial response, then each line as a response.
const run = (mechanism: Sasl.Mechanism, initial: string | undefined, ...lines: Array<string>) => {
  let step = Sasl.start(mechanism, initial, makeChallenge)
  const challenges: Array<string> = []
  for (const line of lines) {
    if (step._tag !== "Challenge") throw new Error(`exchange ended before ${JSON.stringify(line)}`)
    challenges.push(step.challenge)
    step = Sasl.respond(step.state, line)
  }
  return { step, challenges }
}

describe("Sasl.decodeBase64", () => {
  it.each<[string, string | undefined]>([
    ["", ""],
    ["QQ==", "A"],
    ["QUI=", "AB"],
    ["QUJD", "ABC"],
    ["QQ", "A"],
    ["QUI", "AB"],
    ["dXNlcg==", "user"],
    ["Q", undefined],
    ["QQ=", undefined],
    ["QQ===", undefined],
    ["QUJD=", undefined],
    ["Q=Q=", undefined],
    ["QU I=", undefined],
    ["QUI*", undefined],
    ["dXNl-g==", undefined],
    ["dXNl_g==", undefined],
    ["=", undefined]
  ])("decodes %j as %j", (text, expected) => {
    const bytes = Sasl.decodeBase64(text)
    expect(bytes === undefined ? undefined : Buffer.from(bytes).toString("latin1")).toBe(expected)
  })

  it("round-trips any bytes, padded or not (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const padded = b64(bytes)
        const hex = Buffer.from(bytes).toString("hex")
        expect(Buffer.from(Sasl.decodeBase64(padded)!).toString("hex")).toBe(hex)
        expect(Buffer.from(Sasl.decodeBase64(padded.replace(/=+$/, ""))!).toString("hex")).toBe(hex)
      }),
      { numRuns: 2_000 }
    )
  })
})

describe("Sasl PLAIN (RFC 4616)", () => {
  it.each<[string, string | undefined, Array<string>, Sasl.Credentials]>([
    ["an initial response", b64("\0alice\0s3cret"), [], { method: "PLAIN", username: "alice", password: "s3cret" }],
    ["an empty challenge, then the response", undefined, [b64("\0alice\0s3cret")], {
      method: "PLAIN",
      username: "alice",
      password: "s3cret"
    }],
    ["an authzid", b64("admin\0alice\0s3cret"), [], {
      method: "PLAIN",
      username: "alice",
      password: "s3cret",
      authzid: "admin"
    }],
    ["the user name in authzid only, as some clients send it", b64("alice\0\0s3cret"), [], {
      method: "PLAIN",
      username: "alice",
      password: "s3cret",
      authzid: "alice"
    }],
    ["UTF-8 and an empty password", b64("\0jürgen\0"), [], { method: "PLAIN", username: "jürgen", password: "" }],
    ["spaces around the response", undefined, [`  ${b64("\0a\0b")} `], { method: "PLAIN", username: "a", password: "b" }],
    ["a password with spaces and a tab", b64("\0a\0p w\td"), [], { method: "PLAIN", username: "a", password: "p w\td" }]
  ])("accepts %s", (_, initial, lines, credentials) => {
    const { challenges, step } = run("PLAIN", initial, ...lines)
    expect(step).toEqual({ _tag: "Done", credentials })
    expect(challenges).toEqual(lines.map(() => ""))
  })

  it.each<[string, string | undefined, Array<string>, string]>([
    ["* as the response", undefined, ["*"], aborted],
    ["* as the initial response (not base64)", "*", [], badBase64],
    ["bad base64", "%%%%", [], badBase64],
    ["bad base64 as the response", undefined, ["abc!"], badBase64],
    ["= (empty) as the initial response", "=", [], badUserdata],
    ["an empty response line", undefined, [""], badUserdata],
    ["two fields", b64("alice\0s3cret"), [], badUserdata],
    ["four fields", b64("\0alice\0s3cret\0x"), [], badUserdata],
    ["no user name at all", b64("\0\0s3cret"), [], badUserdata],
    ["a control character in the user name", b64("\0ali\rce\0s3cret"), [], badUserdata],
    ["a C1 control in the user name", b64("\0ali\u0085ce\0s3cret"), [], badUserdata],
    ["a control character in authzid", b64("ad\nmin\0alice\0s3cret"), [], badUserdata],
    ["invalid UTF-8", b64(new Uint8Array([0, 0xff, 0xfe, 0, 0x41])), [], badUserdata]
  ])("refuses %s", (_, initial, lines, reply) => {
    expect(outcome(run("PLAIN", initial, ...lines).step)).toBe(reply)
  })
})

describe("Sasl LOGIN", () => {
  it("asks for the user name, then the password", () => {
    const { challenges, step } = run("LOGIN", undefined, b64("alice"), b64("s3cret"))
    expect(challenges).toEqual(["VXNlcm5hbWU6", "UGFzc3dvcmQ6"])
    expect(step).toEqual({ _tag: "Done", credentials: { method: "LOGIN", username: "alice", password: "s3cret" } })
  })

  it("takes the user name from an initial response", () => {
    const { challenges, step } = run("LOGIN", b64("alice"), b64("s3cret"))
    expect(challenges).toEqual(["UGFzc3dvcmQ6"])
    expect(step).toEqual({ _tag: "Done", credentials: { method: "LOGIN", username: "alice", password: "s3cret" } })
  })

  it("accepts an empty password line: the hook decides", () => {
    expect(run("LOGIN", undefined, b64("alice"), "").step).toEqual({
      _tag: "Done",
      credentials: { method: "LOGIN", username: "alice", password: "" }
    })
  })

  it.each<[string, string | undefined, Array<string>, string]>([
    ["* for the user name", undefined, ["*"], aborted],
    ["* for the password", undefined, [b64("alice"), "*"], aborted],
    ["an empty user name", undefined, [""], missingUsername],
    ["= (empty) as the initial response", "=", [], missingUsername],
    ["bad base64 for the user name", undefined, ["not base64!"], badBase64],
    ["bad base64 for the password", undefined, [b64("alice"), "p@ss"], badBase64],
    ["a control character in the user name", undefined, [b64("al\x00ice")], badUserdata],
    ["invalid UTF-8 in the password", undefined, [b64("alice"), b64(new Uint8Array([0xc3]))], badUserdata]
  ])("refuses %s", (_, initial, lines, reply) => {
    expect(outcome(run("LOGIN", initial, ...lines).step)).toBe(reply)
  })
})

describe("Sasl CRAM-MD5 (RFC 2195)", () => {
  it("sends the challenge in base64 and validates the password in the digest", () => {
    const { challenges, step } = run("CRAM-MD5", undefined, b64(`alice ${hmac("tanstaaftanstaaf")}`))
    expect(challenges).toEqual([b64(challenge)])
    if (step._tag !== "Done" || step.credentials.method !== "CRAM-MD5") throw new Error(outcome(step))
    const { validatePassword, ...rest } = step.credentials
    expect(rest).toEqual({
      method: "CRAM-MD5",
      username: "alice",
      challenge,
      challengeResponse: hmac("tanstaaftanstaaf")
    })
    expect(validatePassword("tanstaaftanstaaf")).toBe(true)
    expect(validatePassword("tanstaaftanstaaF")).toBe(false)
    expect(validatePassword("")).toBe(false)
    expect(validatePassword(undefined as unknown as string)).toBe(false)
  })

  it("matches RFC 2195's worked example", () => {
    const rfcChallenge = "<1896.697170952@postoffice.reston.mci.net>"
    const step = Sasl.respond(
      { _tag: "CramMd5Response", challenge: rfcChallenge },
      b64("tim b913a602c7eda7a495b4e6e7334d3890")
    )
    if (step._tag !== "Done" || step.credentials.method !== "CRAM-MD5") throw new Error(outcome(step))
    expect(step.credentials.validatePassword("tanstaaftanstaaf")).toBe(true)
  })

  it("accepts an upper-case digest and a user name with spaces", () => {
    const step = run("CRAM-MD5", undefined, b64(`Alice Smith ${hmac("pw").toUpperCase()}`)).step
    if (step._tag !== "Done" || step.credentials.method !== "CRAM-MD5") throw new Error(outcome(step))
    expect(step.credentials.username).toBe("Alice Smith")
    expect(step.credentials.validatePassword("pw")).toBe(true)
  })

  it("builds the challenge as <nonce.timestamp@hostname>", () => {
    expect(Sasl.cramMd5Challenge("abc123", 1_700_000_000.9, "mx.test")).toBe("<abc123.1700000000@mx.test>")
  })

  it.each<[string, string | undefined, Array<string>, string]>([
    ["an initial response", b64("alice"), [], "501 5.5.4 Error: syntax: AUTH CRAM-MD5\r\n"],
    ["* as the response", undefined, ["*"], aborted],
    ["bad base64", undefined, ["@@"], badBase64],
    ["no space", undefined, [b64(hmac("pw"))], badUserdata],
    ["no user name", undefined, [b64(` ${hmac("pw")}`)], badUserdata],
    ["a short digest", undefined, [b64(`alice ${hmac("pw").slice(1)}`)], badUserdata],
    ["a digest that is not hex", undefined, [b64(`alice ${"g".repeat(32)}`)], badUserdata],
    ["a control character in the user name", undefined, [b64(`al\tice ${hmac("pw")}`)], badUserdata]
  ])("refuses %s", (_, initial, lines, reply) => {
    expect(outcome(run("CRAM-MD5", initial, ...lines).step)).toBe(reply)
  })
})

describe("Sasl XOAUTH2", () => {
  const token = (user: string, auth: string) => b64(`user=${user}\x01auth=${auth}\x01\x01`)

  it.each<[string, string | undefined, Array<string>, Sasl.Credentials]>([
    ["an initial response", token("alice@example.test", "Bearer ya29.token"), [], {
      method: "XOAUTH2",
      username: "alice@example.test",
      accessToken: "ya29.token"
    }],
    ["an empty challenge, then the response", undefined, [token("alice", "Bearer t")], {
      method: "XOAUTH2",
      username: "alice",
      accessToken: "t"
    }],
    ["keys and scheme in any case, extra keys", b64("USER=alice\x01host=mx\x01Auth=bearer  t=1 \x01\x01"), [], {
      method: "XOAUTH2",
      username: "alice",
      accessToken: "t=1"
    }]
  ])("accepts %s", (_, initial, lines, credentials) => {
    expect(run("XOAUTH2", initial, ...lines).step).toEqual({ _tag: "Done", credentials })
  })

  it.each<[string, string | undefined, Array<string>, string]>([
    ["* as the response", undefined, ["*"], aborted],
    ["bad base64", "a=b", [], badBase64],
    ["no auth field", b64("user=alice\x01\x01"), [], badUserdata],
    ["no user field", b64("auth=Bearer t\x01\x01"), [], badUserdata],
    ["an empty user", token("", "Bearer t"), [], badUserdata],
    ["a scheme other than Bearer", token("alice", "Basic dXNlcg=="), [], badUserdata],
    ["an empty token", token("alice", "Bearer "), [], badUserdata],
    ["a repeated user", b64("user=a\x01user=b\x01auth=Bearer t\x01\x01"), [], badUserdata],
    ["a control character in the user", token("ali\x7fce", "Bearer t"), [], badUserdata]
  ])("refuses %s", (_, initial, lines, reply) => {
    expect(outcome(run("XOAUTH2", initial, ...lines).step)).toBe(reply)
  })

  it.each<[string, unknown, string]>([
    ["error details", { status: "401", schemes: "bearer" }, '{"status":"401","schemes":"bearer"}'],
    ["a cycle, as {}", (() => {
      const o: Record<string, unknown> = {}
      o.self = o
      return o
    })(), "{}"],
    ["a bigint, as {}", { n: 1n }, "{}"],
    ["undefined, as {}", undefined, "{}"]
  ])("encodes %s for the error challenge", (_, data, json) => {
    expect(Buffer.from(Sasl.errorChallenge(data), "base64").toString()).toBe(json)
  })
})

describe("Sasl replies", () => {
  it("sends an empty challenge as '334 ' with no enhanced code", () => {
    expect(Reply.format(Reply.table.authChallenge(""), true)).toBe("334 \r\n")
    expect(Reply.format(Reply.table.authChallenge("VXNlcm5hbWU6"), true)).toBe("334 VXNlcm5hbWU6\r\n")
  })
})

describe("Sasl on arbitrary input", () => {
  // Base64 of NUL/^A-separated fields, raw garbage, and the special lines.
  const field = fc.string({ unit: fc.constantFrom("a", "é", " ", "=", "\x00", "\x01", "\x85", "Bearer", "user=", "auth="), maxLength: 12 })
  const line = fc.oneof(
    fc.tuple(fc.array(field, { maxLength: 5 }), fc.constantFrom("\x00", "\x01", " "))
      .map(([fields, separator]) => b64(fields.join(separator))),
    fc.uint8Array({ maxLength: 40 }).map((bytes) => b64(bytes)),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.constantFrom("*", "=", "", " * ", "====")
  )
  const mechanism = fc.constantFrom(...Sasl.mechanisms)

  it("never throws, and every refusal is a single 501 line (property)", () => {
    fc.assert(
      fc.property(mechanism, fc.option(line, { nil: undefined }), fc.array(line, { maxLength: 4 }), (mech, initial, lines) => {
        let step = Sasl.start(mech, initial, makeChallenge)
        for (const l of lines) {
          if (step._tag !== "Challenge") break
          step = Sasl.respond(step.state, l)
        }
        if (step._tag === "Fail") expect(Reply.format(step.reply)).toMatch(/^501 5\.\d\.\d [^\r\n]*\r\n$/)
        if (step._tag === "Done") {
          expect(step.credentials.username).not.toBe("")
          expect(step.credentials.username).not.toMatch(/[\x00-\x1f\x7f-\x9f]/)
        }
      }),
      { numRuns: 10_000 }
    )
  })
})

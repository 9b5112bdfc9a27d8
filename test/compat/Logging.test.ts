/**
 * The logger option: console, silent, bunyan-style.
 */
import { assert, describe, it, vi } from "@effect/vitest"
import { Effect, Fiber, FiberSet } from "effect"
import * as Logging from "../../src/compat/Logging.js"
import { greeted, inTransaction, start } from "./client.js"

describe("logger", () => {
  it("true logs lines to the console, with the component", async () => {
    const lines: Array<string> = []
    const log = vi.spyOn(console, "log").mockImplementation((line: string) => lines.push(line))
    try {
      const { port, server } = await start({ logger: true, component: "mx" })
      await greeted(port)
      await server.close()
    } finally {
      log.mockRestore()
    }
    assert.match(lines[0]!, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] INFO  \[mx\] SMTP Server listening on 127\.0\.0\.1:\d+$/)
    assert.isTrue(lines.some((line) => /INFO  \[mx\] \[#[0-9a-v]{16}\] Connection from \[127\.0\.0\.1\]$/.test(line)))
  })

  it("false (the default) logs nothing", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {})
    try {
      const { port, server } = await start({ onRcptTo: () => {
        throw new Error("x")
      } })
      const client = await inTransaction(port, [])
      await client.command("RCPT TO:<r@y.test>")
      await server.close()
      assert.strictEqual(log.mock.calls.length, 0)
    } finally {
      log.mockRestore()
    }
  })

  it("a bunyan-style object gets (fields, message) with the component and the session id", async () => {
    const calls: Array<[string, Record<string, unknown>, string]> = []
    const logger = Object.fromEntries(
      ["trace", "debug", "info", "warn", "error"].map((level) => [
        level,
        (fields: Record<string, unknown>, message: string) => calls.push([level, fields, message])
      ])
    )
    const { port } = await start({ logger, component: "edge" })
    const client = await greeted(port)
    await client.command("QUIT")
    await client.closed
    const connection = calls.find(([, , message]) => message === "Connection from [127.0.0.1]")
    assert.isDefined(connection)
    assert.strictEqual(connection![0], "info")
    assert.strictEqual(connection![1]["component"], "edge")
    assert.match(String(connection![1]["cid"]), /^[0-9a-v]{16}$/)
  })
})

describe("Logging.layer", () => {
  it.scoped("routes the core's Effect logs, annotations and causes, also from fibers started under it", () =>
    Effect.gen(function*() {
      const calls: Array<[string, Record<string, unknown>, string]> = []
      const log = Logging.make({
        debug: (fields: Record<string, unknown>, message: string) => calls.push(["debug", fields, message]),
        error: (fields: Record<string, unknown>, message: string) => calls.push(["error", fields, message])
      }, "mx")
      // As Server.serve does: a runtime captured under the layer forks the sessions later.
      const set = yield* FiberSet.make()
      const runFork = yield* FiberSet.runtime(set)<never>().pipe(Effect.provide(Logging.layer(log)))
      const fiber = runFork(
        Effect.logDebug("detail").pipe(
          Effect.zipRight(Effect.logError("hook failed", new Error("boom"))),
          Effect.annotateLogs({ session: "abc" })
        )
      )
      yield* Fiber.await(fiber)
      assert.deepStrictEqual(calls.map(([level, fields, message]) => [level, fields["component"], fields["cid"], message]), [
        ["debug", "mx", "abc", "detail"],
        ["error", "mx", "abc", "hook failed Error: boom"]
      ])
    }))

  it.effect("silent logs nothing and sets the minimum level to None", () =>
    Effect.gen(function*() {
      const spy = vi.spyOn(console, "log").mockImplementation(() => {})
      yield* Effect.logError("nobody hears this").pipe(Effect.provide(Logging.layer(Logging.silent)))
      const calls = spy.mock.calls.length
      spy.mockRestore()
      assert.strictEqual(calls, 0)
    }))
})

import { assert, beforeAll, describe, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

// Another project that installed this folder: node_modules/effect-smtp points at the package.
const root = path.resolve(import.meta.dirname, "..")
let project = ""

const run = (args: Array<string>) => execFileSync(process.execPath, args, { cwd: project, encoding: "utf8" }).trim()

describe("the built package", () => {
  beforeAll(() => {
    execFileSync("npm", ["run", "build"], { cwd: root, stdio: "ignore" })
    project = fs.mkdtempSync(path.join(os.tmpdir(), "effect-smtp-consumer-"))
    fs.mkdirSync(path.join(project, "node_modules"))
    fs.symlinkSync(root, path.join(project, "node_modules", "effect-smtp"), "dir")
  }, 120_000)

  it("loads with require() on this Node", () => {
    assert.strictEqual(
      run(["-e", "const m = require('effect-smtp'); console.log(typeof m.Hooks.layer, typeof m.NodeSmtpServer.layer)"]),
      "function function"
    )
  })

  it("loads with import, including the testing entry", () => {
    assert.strictEqual(
      run([
        "--input-type=module",
        "-e",
        "const m = await import('effect-smtp'); const t = await import('effect-smtp/testing'); const c = await import('effect-smtp/compat'); console.log(typeof m.Reply.format, typeof t.TestClient.fromPeer, typeof c.SMTPServer)"
      ]),
      "function function function"
    )
  })

  it("ships the effect-smtp command, which runs the built CLI", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { bin: Record<string, string> }
    const bin = path.join(project, "node_modules", "effect-smtp", pkg.bin["effect-smtp"]!)
    const help = run([bin, "serve", "--help"]).replace(/\x1b\[[0-9;]*m/g, "")
    assert.include(help, "--maildir text")
    assert.include(help, "Default: ./mail. Env: EFFECT_SMTP_MAILDIR.")
  })

  it("ships type declarations for every export", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
      exports: Record<string, { types?: string; default?: string } | string>
    }
    for (const [entry, target] of Object.entries(pkg.exports)) {
      if (typeof target === "string") continue
      assert.isTrue(fs.existsSync(path.join(root, target.types!)), `${entry} types`)
      assert.isTrue(fs.existsSync(path.join(root, target.default!)), `${entry} code`)
    }
  })
  // Loading all of effect (its index) or Schema costs every user, the facade's included, 10–25 MB
  // of heap and up to half a second of start-up; the library imports effect's modules one by one.
  it("loads only the effect modules it uses: neither effect's index nor Schema", () => {
    fs.writeFileSync(
      path.join(project, "log-loads.mjs"),
      "export const load = (url, context, next) => {\n" +
        "  if (url.includes('/node_modules/effect/')) process.stderr.write('loaded ' + url + '\\n')\n" +
        "  return next(url, context)\n}\n"
    )
    fs.writeFileSync(
      path.join(project, "register.mjs"),
      "import { register } from 'node:module'\nregister('./log-loads.mjs', import.meta.url)\n"
    )
    const result = spawnSync(process.execPath, [
      "--import",
      "./register.mjs",
      "--input-type=module",
      "-e",
      "await import('effect-smtp'); await import('effect-smtp/compat')"
    ], { cwd: project, encoding: "utf8" })
    assert.strictEqual(result.status, 0, result.stderr)
    const loaded = result.stderr.split("\n").filter((line) => line.startsWith("loaded "))
    // The hook sees every module: an empty list would mean it saw none, not that none loaded.
    assert.isAbove(loaded.length, 50)
    assert.deepStrictEqual(loaded.filter((line) => /\/dist\/esm\/(index|Schema|ParseResult)\.js$/.test(line)), [])
  })
})

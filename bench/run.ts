/**
 * `npm run bench`: runs every scenario against every server in bench/servers/ (each its own
 * process on 127.0.0.1), with the load generator as another process. Servers run interleaved
 * (A B C, B C A, C A B), three repeats, a fresh server process per run; the tables give medians
 * and each effect-smtp face's ratio to smtp-server measured in the same repeat.
 *
 * The servers and the generator run as plain `node` on JavaScript that tsc emits at the start
 * (bench/tsconfig.json): through tsx's loader an Effect server takes 5–7 s to start on a busy
 * 2-core machine, and there are 54–81 starts. `--tsx` runs the sources through tsx instead.
 *
 *   npm run bench                       the whole benchmark (about 10 minutes on 2 cores)
 *   npm run bench -- --quick            one repeat, smaller counts
 *   npm run bench -- --only small-100   some scenarios (comma-separated keys; "bdat" for bench/bdat.ts,
 *                                       "footprint" for bench/footprint.ts: what loading each face costs)
 *   npm run bench -- --tsx              no compile step: every process runs `node --import tsx`
 *   npm run bench -- --cpu-prof         run the servers under `node --cpu-prof` (compiled: readable names
 *                                       and lines), one folder per run in bench/results/profiles/;
 *                                       `npx tsx bench/profileTop.ts <folder>` lists the top self times
 *                                       while the load generator measured
 *   npm run bench -- --floor            also bench/reference/floor.ts, a bare net server: the ceiling
 *
 * Results: stdout, bench/results/latest.json and bench/results/latest.md (git-ignored).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Child, fdLimit } from "./lib/child.js"
import type * as LoadSpec from "./lib/loadSpec.js"
import * as Proc from "./lib/proc.js"
import { describe, format, median, type ScenarioResult, summarise, summaryLines, tableLines } from "./lib/report.js"
import type { Listening } from "./lib/serverEnv.js"
import * as Scenarios from "./scenarios.js"

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const serversDir = path.join(benchDir, "servers")
const resultsDir = path.join(benchDir, "results")
const profilesDir = path.join(resultsDir, "profiles")
// Inside the package, so compiled code still finds node_modules; bench/tsconfig.json says so too.
const buildDir = path.join(resultsDir, "build")
const packageRoot = path.dirname(benchDir)

/** The file to run for a bench/ source file: itself under tsx, else what tsc emitted for it. */
const runnable = (options: Options, source: string): string =>
  options.tsx ? source : path.join(buildDir, path.relative(packageRoot, source).replace(/\.ts$/, ".js"))
const bdatScript = path.join(benchDir, "bdat.ts")
const footprintScript = path.join(benchDir, "footprint.ts")
/** The incumbent every ratio is taken against. */
const baselineFile = "smtp-server.ts"
const scriptCapMs = 5 * 60_000
const require = createRequire(import.meta.url)

interface Options {
  readonly quick: boolean
  readonly only: ReadonlySet<string> | undefined
  readonly cpuProf: boolean
  readonly tsx: boolean
  /** Also run bench/reference/floor.ts: a bare net server that answers without parsing, the most this machine allows. */
  readonly floor: boolean
}

const parseArgs = (argv: ReadonlyArray<string>): Options => {
  let quick = false
  let cpuProf = false
  let tsx = false
  let floor = false
  let only: Set<string> | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--quick") quick = true
    else if (arg === "--cpu-prof") cpuProf = true
    else if (arg === "--tsx") tsx = true
    else if (arg === "--floor") floor = true
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg === "--only" ? argv[++i] : arg.slice("--only=".length)
      if (value === undefined || value === "") throw new Error("--only needs scenario keys")
      only = new Set([...(only ?? []), ...value.split(",")])
    } else throw new Error(`unknown argument ${arg}; use --quick, --only <keys>, --cpu-prof, --tsx, --floor`)
  }
  if (cpuProf && tsx) throw new Error("--cpu-prof profiles the compiled code: leave out --tsx")
  return { quick, only, cpuProf, tsx, floor }
}

/** A server file of bench/servers/: the incumbent first, then the others by name. */
interface ServerFile {
  readonly file: string
  readonly path: string
  name: string
}

const discoverServers = (floor: boolean): Array<ServerFile> => [
  ...fs.readdirSync(serversDir)
    .filter((file) => file.endsWith(".ts"))
    .sort((a, b) => (a === baselineFile ? -1 : b === baselineFile ? 1 : a.localeCompare(b)))
    .map((file) => ({ file, path: path.join(serversDir, file), name: file.replace(/\.ts$/, "") })),
  ...(floor ? [{ file: "floor.ts", path: path.join(benchDir, "reference", "floor.ts"), name: "floor" }] : [])
]

const monotonicMicros = (): number => Number(process.hrtime.bigint() / 1000n)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

// Each idle connection holds a descriptor in the generator and one in the server.
const fitDescriptors = (spec: LoadSpec.Spec): LoadSpec.Spec => {
  if (spec.kind !== "idle") return spec
  const fits = fdLimit - 200
  if (spec.connections <= fits) return spec
  console.log(`    ! descriptor limit ${fdLimit}: ${fits} idle connections instead of ${spec.connections}`)
  return { ...spec, connections: fits }
}

/** One run: a fresh server, the load generator against it, the server's resources around the measured part. */
const runOnce = async (scenario: Scenarios.Scenario, server: ServerFile, options: Options): Promise<Scenarios.Sample> => {
  const port = await freePort()
  const env: Record<string, string> = {
    BENCH_PORT: String(port),
    BENCH_GREETING_DELAY: String(scenario.greetingDelay)
  }
  if (scenario.throttleMiBps !== undefined) env.BENCH_THROTTLE_MIBPS = String(scenario.throttleMiBps)
  // One folder per run: Node names the files itself, one per thread (tsx's loader has its own);
  // the main thread's is the one whose name has thread id 0.
  const profileDir = options.cpuProf
    ? path.join(profilesDir, `${scenario.key}-${server.file.replace(/\.ts$/, "")}-${Date.now()}`)
    : undefined
  const nodeArgs = profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]
  const child = new Child(runnable(options, server.path), [], env, { nodeArgs, tsx: options.tsx })
  try {
    const listening = await child.next<Listening>(30_000, `${server.file}: listening`)
    server.name = listening.name
    const pid = child.pid
    // Let start-up garbage settle so the baseline is the idle server.
    await sleep(500)
    const baselineRss = Proc.rss(pid)
    const spec = fitDescriptors(scenario.load(port, options.quick))
    const load = new Child(runnable(options, path.join(benchDir, "load.ts")), [JSON.stringify(spec)], {}, { tsx: options.tsx })
    try {
      const limit = spec.timeCapMs * 2 + 60_000
      await load.next<LoadSpec.Ready>(limit, "load generator: ready")
      let loadedRss: number | undefined
      if (spec.kind === "idle") {
        const samples: Array<number> = []
        for (let i = 0; i < 5; i++) {
          await sleep(100)
          samples.push(Proc.rss(pid))
        }
        loadedRss = median(samples)
      }
      const throttled = scenario.throttleMiBps !== undefined
      const peakReset = throttled && Proc.resetPeak(pid)
      const poll = throttled ? Proc.pollPeak(pid, 20) : undefined
      const cpuBefore = Proc.cpuSeconds(pid)
      const loadCpuBefore = Proc.cpuSeconds(load.pid)
      const machineBefore = Proc.machineSeconds()
      const goMicros = monotonicMicros()
      load.send("go")
      const result = await load.next<LoadSpec.Result>(limit, "load generator: result")
      if (profileDir !== undefined) {
        // V8 profiles time samples on the same monotonic clock: profileTop keeps this window.
        fs.mkdirSync(profileDir, { recursive: true })
        const window = { fromMicros: goMicros, toMicros: monotonicMicros() }
        fs.writeFileSync(path.join(profileDir, "window.json"), JSON.stringify(window) + "\n")
      }
      const cpuSeconds = Proc.cpuSeconds(pid) - cpuBefore
      const loadCpuSeconds = Proc.cpuSeconds(load.pid) - loadCpuBefore
      const loadAverage = os.loadavg()[0]!
      const machineAfter = Proc.machineSeconds()
      const othersCpuSeconds = Math.max(0, machineAfter.busy - machineBefore.busy - cpuSeconds - loadCpuSeconds)
      const stealSeconds = machineAfter.steal - machineBefore.steal
      const polled = poll?.stop()
      const peakRss = polled === undefined ? undefined : Math.max(polled, peakReset ? Proc.peakRss(pid) : 0)
      if (result.errors > 0) {
        console.log(`    ! ${server.name}: ${result.errors} errors, e.g. ${result.errorSamples.join("; ")}`)
      }
      return {
        result,
        cpuSeconds,
        loadCpuSeconds,
        loadAverage,
        othersCpuSeconds,
        stealSeconds,
        baselineRss,
        greetingDelay: listening.greetingDelay,
        ...(loadedRss === undefined ? {} : { loadedRss }),
        ...(peakRss === undefined ? {} : { peakRss })
      }
    } finally {
      await load.stop()
    }
  } finally {
    // Writing a CPU profile at exit takes a while.
    await child.stop(options.cpuProf ? 15_000 : 2_000)
  }
}

const machine = () => {
  const model = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? os.cpus()[0]?.model ?? "?"
  return {
    nproc: os.availableParallelism(),
    cpu: model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel: os.release(),
    fdLimit
  }
}

// A bench script that prints its own report (bench/bdat.ts, bench/footprint.ts), stopped past `scriptCapMs`.
const runScript = async (heading: string, script: string, args: ReadonlyArray<string>): Promise<number | null> => {
  const name = path.relative(packageRoot, script)
  console.log(`\n== ${heading} (${name}) ==`)
  const child = new Child(script, [...args], {}, { inheritStdout: true })
  const timer = setTimeout(() => {
    console.log(`${name} still running after ${scriptCapMs / 1000} s: stopping it`)
    void child.stop()
  }, scriptCapMs)
  const code = await child.exited()
  clearTimeout(timer)
  if (code !== 0) console.log(`${name} exited with ${code}\n${child.errorOutput}`)
  return code
}

const main = async (): Promise<void> => {
  const options = parseArgs(process.argv.slice(2))
  const started = process.hrtime.bigint()
  const servers = discoverServers(options.floor)
  if (servers[0]?.file !== baselineFile) throw new Error(`bench/servers/${baselineFile} is missing`)
  const known = new Set([...Scenarios.all.map((s) => s.key), "bdat", "footprint"])
  for (const key of options.only ?? []) if (!known.has(key)) throw new Error(`unknown scenario ${key}; known: ${[...known].join(", ")}`)
  const scenarios = Scenarios.all.filter((s) => options.only === undefined || options.only.has(s.key))
  const repeats = options.quick ? 1 : 3
  const info = machine()
  console.log(
    `effect-smtp benchmark: ${servers.map((s) => s.file).join(", ")}; ${repeats} repeat(s)${options.quick ? ", quick" : ""}\n` +
      `machine: ${info.nproc} × ${info.cpu}, ${info.memoryGiB} GiB, node ${info.node}, fd limit ${info.fdLimit}\n`
  )

  if (!options.tsx) {
    const compileStart = process.hrtime.bigint()
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(benchDir, "tsconfig.json")], {
      cwd: packageRoot,
      stdio: "inherit"
    })
    console.log(`compiled src/ and bench/ to ${path.relative(packageRoot, buildDir)}/ in ${format(Number(process.hrtime.bigint() - compileStart) / 1e9)} s\n`)
  }

  const results: Array<ScenarioResult> = []
  for (const scenario of scenarios) {
    console.log(`== ${scenario.key}: ${scenario.title} ==`)
    const runs = new Map<string, Array<Scenarios.Sample | undefined>>(servers.map((s) => [s.file, []]))
    for (let repeat = 0; repeat < repeats; repeat++) {
      // Rotate the order each repeat (A B C, B C A, C A B) so drift hits every server alike.
      const order = servers.map((_, i) => servers[(i + repeat) % servers.length]!)
      for (const server of order) {
        let sample: Scenarios.Sample | undefined
        try {
          sample = await runOnce(scenario, server, options)
        } catch (error) {
          console.log(`    ! ${server.file} failed: ${error instanceof Error ? error.message : String(error)}`)
        }
        runs.get(server.file)!.push(sample)
        console.log(`  repeat ${repeat + 1}  ${server.name.padEnd(26)} ${describe(scenario, sample)}`)
      }
    }
    const result = summarise(scenario, servers, runs)
    results.push(result)
    console.log("\n" + tableLines(result, false).join("\n"))
  }

  let bdat: { readonly exitCode: number | null } | undefined
  const wantsBdat = options.only === undefined || options.only.has("bdat")
  if (wantsBdat && fs.existsSync(bdatScript)) bdat = { exitCode: await runScript("BDAT vs DATA", bdatScript, options.quick ? ["--quick"] : []) }
  // Measures the compiled build, which --tsx does not make.
  const wantsFootprint = (options.only === undefined || options.only.has("footprint")) && !options.tsx
  const footprint = wantsFootprint ? { exitCode: await runScript("footprint: loading each face", footprintScript, []) } : undefined

  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (results.length > 0) console.log(`\n== summary ==\n${summaryLines(results, false).join("\n")}`)
  console.log(`finished in ${format(seconds)} s`)
  const report = {
    date: new Date().toISOString(),
    machine: info,
    quick: options.quick,
    repeats,
    seconds,
    servers: servers.map((s) => s.name),
    scenarios: results,
    ...(bdat === undefined ? {} : { bdat }),
    ...(footprint === undefined ? {} : { footprint })
  }
  fs.mkdirSync(resultsDir, { recursive: true })
  fs.writeFileSync(path.join(resultsDir, "latest.json"), JSON.stringify(report, null, 2) + "\n")
  const heading = `${report.date}, ${info.nproc} × ${info.cpu}, node ${info.node}, ${repeats} repeat(s)${
    options.quick ? " (quick)" : ""
  }, ${format(seconds)} s`
  fs.writeFileSync(
    path.join(resultsDir, "latest.md"),
    [heading, "", ...summaryLines(results, true), ...results.flatMap((r) => tableLines(r, true))].join("\n")
  )
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 1
})

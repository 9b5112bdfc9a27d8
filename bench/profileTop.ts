/**
 * Summarises a server's V8 CPU profile from `npm run bench -- --cpu-prof`: the functions with the
 * most self time while the load generator measured (the window the runner saved beside the
 * profile; the whole profile when there is none), merged by name and source location; then self
 * time by package, and the project's own functions (src/, bench/) by total time (callees included).
 * The profiler samples wall time: a process preempted inside a syscall (a socket write that wakes
 * the client on loopback) shows that time as the syscall's (writeUtf8String), CPU or not.
 *
 *   npx tsx bench/profileTop.ts bench/results/profiles/<run folder or .cpuprofile> [count]
 */
import * as fs from "node:fs"
import * as path from "node:path"

interface ProfileNode {
  readonly id: number
  readonly children?: ReadonlyArray<number>
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

// Piped into `head`: stop quietly when the reader goes away.
process.stdout.on("error", () => process.exit(0))

const [target, countArg] = process.argv.slice(2)
if (target === undefined) throw new Error("usage: profileTop.ts <run folder | file.cpuprofile> [count]")
const isFolder = fs.statSync(target).isDirectory()
// Node names profiles CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
const file = isFolder
  ? path.join(target, fs.readdirSync(target).find((name) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(name)) ?? "")
  : target
const windowFile = path.join(path.dirname(file), "window.json")
const window = fs.existsSync(windowFile)
  ? JSON.parse(fs.readFileSync(windowFile, "utf8")) as { fromMicros: number; toMicros: number }
  : undefined

const profile = JSON.parse(fs.readFileSync(file, "utf8")) as Profile
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const parent = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

const shortUrl = (url: string): string => url.replace(/^.*\/(node_modules|src|bench)\//, "$1/")
const keyOf = (node: ProfileNode): string => {
  const frame = node.callFrame
  const where = frame.url === "" ? "" : ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
  return `${frame.functionName || "(anonymous)"}${where}`
}
// Where self time goes, coarsely: a package, the project's code, Node's own JavaScript, or V8.
const packageOf = (node: ProfileNode): string => {
  const url = shortUrl(node.callFrame.url)
  if (url === "") return node.callFrame.functionName.startsWith("(") ? node.callFrame.functionName : "(native)"
  if (url.startsWith("node:")) return "node internals"
  const match = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (match !== null) return match[1]!
  return url.startsWith("src/") ? "effect-smtp src/" : url.startsWith("bench/") ? "bench/" : url
}
const isOwn = (node: ProfileNode): boolean => /^(src|bench)\//.test(shortUrl(node.callFrame.url))

const selfMicros = new Map<string, number>()
const packageMicros = new Map<string, number>()
const ownTotalMicros = new Map<string, number>()
let total = 0
let time = profile.startTime
profile.samples.forEach((id, i) => {
  const delta = profile.timeDeltas[i] ?? 0
  time += delta
  if (window !== undefined && (time < window.fromMicros || time > window.toMicros)) return
  const node = byId.get(id)!
  const key = keyOf(node)
  selfMicros.set(key, (selfMicros.get(key) ?? 0) + delta)
  const pkg = packageOf(node)
  packageMicros.set(pkg, (packageMicros.get(pkg) ?? 0) + delta)
  const seen = new Set<string>()
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const frame = byId.get(at)!
    if (!isOwn(frame)) continue
    const own = keyOf(frame)
    if (seen.has(own)) continue
    seen.add(own)
    ownTotalMicros.set(own, (ownTotalMicros.get(own) ?? 0) + delta)
  }
  total += delta
})
const busy = total - (selfMicros.get("(idle)") ?? 0)
const show = (entries: Map<string, number>, count: number) => {
  const rows = [...entries].filter(([key]) => key !== "(idle)").sort((a, b) => b[1] - a[1])
  for (const [key, micros] of rows.slice(0, count)) {
    console.log(`${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(6)} ms  ${key}`)
  }
}
console.log(
  `${window === undefined ? "whole profile" : "measured window"}: ${(total / 1e6).toFixed(2)} s, not idle ${
    (busy / 1e6).toFixed(2)
  } s; self time as % of not idle:`
)
const count = Number(countArg ?? 25)
show(selfMicros, count)
console.log("\nself time by package:")
show(packageMicros, 12)
console.log("\nthe project's functions by total time (callees included):")
show(ownTotalMicros, count)

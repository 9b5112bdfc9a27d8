/**
 * What loading each face costs a process before it serves anything: the time to import it, the
 * JS heap it leaves after a full garbage collection, and the process's RSS. Each measurement is
 * a fresh `node` process that imports one entry point; five runs each, interleaved, medians,
 * with the ratio to smtp-server. effect-smtp's entries are the compiled ones under
 * bench/results/build/ (`npm run bench` compiles them first), so no TypeScript loader is counted.
 *
 *   npx tsx bench/footprint.ts            (after `npm run bench` compiled, or `npx tsc -p bench/tsconfig.json`)
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as url from "node:url"

const packageRoot = path.resolve(import.meta.dirname, "..")
const build = path.join(packageRoot, "bench", "results", "build", "src")
const runs = 5

interface Face {
  readonly name: string
  readonly specifier: string
}

const faces: ReadonlyArray<Face> = [
  { name: "smtp-server", specifier: "smtp-server" },
  { name: "effect-smtp (Effect API)", specifier: path.join(build, "index.js") },
  { name: "effect-smtp (facade)", specifier: path.join(build, "compat", "index.js") }
]

interface Sample {
  readonly importMs: number
  readonly heapMiB: number
  readonly rssMiB: number
}

// Runs in the child: import, then a full collection so the heap is what the library keeps.
const probe = (specifier: string): string =>
  `const start = performance.now(); await import(${JSON.stringify(specifier)}); const importMs = performance.now() - start;` +
  `globalThis.gc(); const m = process.memoryUsage();` +
  `console.log(JSON.stringify({ importMs, heapMiB: m.heapUsed / 1048576, rssMiB: m.rss / 1048576 }))`

const measure = (face: Face): Sample => {
  const specifier = path.isAbsolute(face.specifier) ? url.pathToFileURL(face.specifier).href : face.specifier
  const result = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", probe(specifier)], {
    cwd: packageRoot,
    encoding: "utf8",
    timeout: 30_000
  })
  if (result.status !== 0) throw new Error(`${face.name}: exit ${result.status}\n${result.stderr}`)
  return JSON.parse(result.stdout.trim().split("\n").pop()!) as Sample
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

if (!fs.existsSync(path.join(build, "index.js"))) {
  console.log("bench/footprint.ts: no compiled build; run `npx tsc -p bench/tsconfig.json` (npm run bench does)")
  process.exit(1)
}

const samples = new Map<string, Array<Sample>>(faces.map((f) => [f.name, []]))
// One untimed round so the file system cache is warm for every face alike.
for (const face of faces) measure(face)
for (let run = 0; run < runs; run++) {
  for (let i = 0; i < faces.length; i++) {
    const face = faces[(i + run) % faces.length]!
    samples.get(face.name)!.push(measure(face))
  }
}

const metrics: ReadonlyArray<{ readonly key: keyof Sample; readonly title: string; readonly unit: string }> = [
  { key: "importMs", title: "import", unit: "ms" },
  { key: "heapMiB", title: "heap after a full GC", unit: "MiB" },
  { key: "rssMiB", title: "RSS", unit: "MiB" }
]

console.log(`loading cost per face, medians of ${runs} fresh processes (lower is better)`)
console.log(`${"server".padEnd(26)}${metrics.map((m) => `${m.title} (${m.unit})`.padStart(30)).join("")}`)
const baseline = samples.get(faces[0]!.name)!
for (const face of faces) {
  const mine = samples.get(face.name)!
  const cells = metrics.map((m) => {
    const value = median(mine.map((s) => s[m.key]))
    const ratio = value / median(baseline.map((s) => s[m.key]))
    return `${value.toFixed(1)}  ${ratio.toFixed(2)}×`.padStart(30)
  })
  console.log(`${face.name.padEnd(26)}${cells.join("")}`)
}

/**
 * Reads a server process's resources from /proc (Linux): resident memory, its peak, and CPU time.
 * Reading these is measuring, not synchronising: the runner samples them around each run.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"

const clockTicks = (() => {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
  } catch {
    return 100
  }
})()

const statusField = (pid: number, field: string): number => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)
  if (match === null) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(match[1]) * 1024
}

/** Resident set size in bytes (VmRSS). */
export const rss = (pid: number): number => statusField(pid, "VmRSS")

/** Peak resident set size in bytes since start or the last `resetPeak` (VmHWM). */
export const peakRss = (pid: number): number => statusField(pid, "VmHWM")

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, own processes); false when the kernel refuses. */
export const resetPeak = (pid: number): boolean => {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5")
    return true
  } catch {
    return false
  }
}

/** User plus system CPU seconds of the whole process (all threads), from /proc/<pid>/stat. */
export const cpuSeconds = (pid: number): number => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  // The command name (field 2) may contain spaces; fields after it are counted from its ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}

/** CPU seconds the whole machine spent busy (all cores, steal excluded), and stolen by the hypervisor, from /proc/stat. */
export const machineSeconds = (): { readonly busy: number; readonly steal: number } => {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
  const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number)
  return { busy: (user! + nice! + system! + irq! + softirq!) / clockTicks, steal: (steal ?? 0) / clockTicks }
}

/** Polls RSS every `everyMs` and keeps the highest value until stopped. */
export const pollPeak = (pid: number, everyMs: number): { readonly stop: () => number } => {
  let peak = 0
  const sample = () => {
    try {
      peak = Math.max(peak, rss(pid))
    } catch {
      // The process ended between two samples: keep what was seen.
    }
  }
  sample()
  const timer = setInterval(sample, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      return peak
    }
  }
}

import { readFileSync } from "node:fs";

const tenths = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : x);

/** VmRSS and VmHWM (peak RSS) of a process in MiB, from /proc/<pid>/status (Linux); NaN elsewhere. */
export function rssOf(pid: number = process.pid): { rssMb: number; peakMb: number } {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) =>
      Number(/\s(\d+)\s*kB/.exec(text.split("\n").find((l) => l.startsWith(field + ":")) ?? "")?.[1] ?? NaN);
    return { rssMb: tenths(kb("VmRSS") / 1024), peakMb: tenths(kb("VmHWM") / 1024) };
  } catch {
    return { rssMb: NaN, peakMb: NaN };
  }
}

// The C layer unpackers (polis-layer) a process has running, from /proc: a test kills one by pid
// half-way, or checks that none is left behind.
import { readdirSync, readFileSync } from "node:fs";

/** pids of the polis-layer processes whose parent is `ppid` */
export function unpackersOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
    if (m && m[1] === "polis-layer" && m[2] !== "Z" && Number(m[3]) === ppid) out.push(Number(d));
  }
  return out;
}

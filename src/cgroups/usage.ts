// The few counters a monitor samples (CPU, memory, block I/O, pids, OOM kills), read from
// cgroupfs with the same meaning as readStats (stats.ts) but from ~9 files instead of runc's ~40
// (per-CPU usage, cpuset, memsw/kmem, every CFQ blkio file, hugetlb). `polis monitor` scrapes
// every container each time: at 100 containers the full reading cost ~2 ms a container.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { num, parseBlkio, parseFlatKeyed } from "./stats.js";

const NS_PER_TICK = 1e9 / 100; // cpuacct.stat counts USER_HZ ticks

export interface CgroupUsage {
  cpuTotalNs: number;
  cpuUserNs: number;
  cpuSystemNs: number;
  /** memory.usage_in_bytes / memory.current */
  memUsage: number;
  /** memory.limit_in_bytes / memory.max (UNLIMITED for "max") */
  memLimit: number;
  memFailcnt: number;
  /** memory.stat, v1 or v2 keys as the kernel names them */
  memStat: Record<string, number>;
  /** v1 `cache`, v2 `file` */
  memCache: number;
  blkRead: number;
  blkWrite: number;
  pids: number;
  oomKills: number;
}

/** A file's text; undefined when it (or the cgroup) is gone, or the kernel lacks it. */
function read(dir: string | undefined, file: string): string | undefined {
  if (!dir) return undefined;
  try {
    return readFileSync(join(dir, file), "utf8");
  } catch {
    return undefined;
  }
}

/** The usage of the cgroup whose directories are `paths` (controller or "unified" -> dir). */
export function readUsage(paths: Record<string, string>): CgroupUsage {
  const uni = paths.unified;
  const u: CgroupUsage = { cpuTotalNs: 0, cpuUserNs: 0, cpuSystemNs: 0, memUsage: 0, memLimit: 0, memFailcnt: 0, memStat: {}, memCache: 0, blkRead: 0, blkWrite: 0, pids: 0, oomKills: 0 };

  if (paths.cpuacct || paths.cpu) {
    const ticks = parseFlatKeyed(read(paths.cpuacct, "cpuacct.stat"));
    u.cpuTotalNs = num(read(paths.cpuacct, "cpuacct.usage"));
    u.cpuUserNs = (ticks.user ?? 0) * NS_PER_TICK;
    u.cpuSystemNs = (ticks.system ?? 0) * NS_PER_TICK;
  } else {
    const s = parseFlatKeyed(read(uni, "cpu.stat"));
    u.cpuTotalNs = (s.usage_usec ?? 0) * 1000;
    u.cpuUserNs = (s.user_usec ?? 0) * 1000;
    u.cpuSystemNs = (s.system_usec ?? 0) * 1000;
  }

  if (paths.memory) {
    u.memStat = parseFlatKeyed(read(paths.memory, "memory.stat"));
    u.memUsage = num(read(paths.memory, "memory.usage_in_bytes"));
    u.memLimit = num(read(paths.memory, "memory.limit_in_bytes"));
    u.memFailcnt = num(read(paths.memory, "memory.failcnt"));
    u.memCache = u.memStat.cache ?? 0;
    u.oomKills = parseFlatKeyed(read(paths.memory, "memory.oom_control")).oom_kill ?? 0;
  } else {
    const events = parseFlatKeyed(read(uni, "memory.events"));
    u.memStat = parseFlatKeyed(read(uni, "memory.stat"));
    u.memUsage = num(read(uni, "memory.current"));
    u.memLimit = num(read(uni, "memory.max"));
    u.memFailcnt = events.max ?? 0;
    u.memCache = u.memStat.file ?? 0;
    u.oomKills = events.oom_kill ?? 0;
  }

  if (paths.blkio) {
    // CFQ's file where the kernel still has it (runc's preference), else the throttle one
    let entries = parseBlkio(read(paths.blkio, "blkio.io_service_bytes_recursive"));
    if (!entries.length) entries = parseBlkio(read(paths.blkio, "blkio.throttle.io_service_bytes_recursive"));
    for (const e of entries) {
      if (e.op === "Read") u.blkRead += e.value;
      else if (e.op === "Write") u.blkWrite += e.value;
    }
  } else {
    for (const line of (read(uni, "io.stat") ?? "").split("\n")) {
      u.blkRead += num(/\brbytes=(\d+)/.exec(line)?.[1]);
      u.blkWrite += num(/\bwbytes=(\d+)/.exec(line)?.[1]);
    }
  }

  u.pids = num(read(paths.pids ?? uni, "pids.current"));
  return u;
}

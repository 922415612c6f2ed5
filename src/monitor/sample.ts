// One reading of a container's resource counters: its cgroup (v1, v2 or hybrid: each controller
// from its v1 hierarchy when the container has one, else from cgroup2, as src/cgroups/stats.ts
// does) plus the network counters of its network namespace, read through its init's
// /proc/<pid>/net/dev. Pure counters only; rates and percentages are made in usage.ts.
import { closeSync, existsSync, openSync, readFileSync, readSync } from "node:fs";
import type { ContainerRecord } from "../state/types.js";

export interface NetCounters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
}

export interface Sample {
  id: string;
  /** Wall clock of the reading, nanoseconds (process.hrtime). */
  atNs: bigint;
  cpuTotalNs: number;
  cpuUserNs: number;
  cpuSystemNs: number;
  /** The cgroup's charge, as the kernel reports it (page cache included). */
  memUsage: number;
  /** What docker and podman show: usage minus inactive file pages (reclaimable cache). */
  memWorkingSet: number;
  memRss: number;
  memCache: number;
  memFailcnt: number;
  /** The cgroup's limit, or the host's memory when unlimited (as docker shows it). */
  memLimit: number;
  /** True when memLimit is a real cgroup limit, not the host's memory. */
  memLimited: boolean;
  /** undefined when the container shares the host's network namespace (no counters of its own). */
  net: NetCounters | undefined;
  blkRead: number;
  blkWrite: number;
  pids: number;
  oomKills: number;
  /** CFS bandwidth: periods, periods throttled and time throttled (ns); 0 without a CPU quota. */
  cfsPeriods: number;
  cfsThrottledPeriods: number;
  cfsThrottledNs: number;
}

/**
 * Read every counter of a running container: about ten files (the full runc statistics of
 * src/cgroups/stats.ts read fifty, too many for a scrape of a hundred containers).
 */
export function sampleContainer(rec: ContainerRecord): Sample {
  const p = rec.cgroupPaths;
  const cpu = p.cpuacct ?? p.cpu;
  const v1cpu = cpu !== undefined && exists(cpu, "cpuacct.usage");
  let cpuTotalNs = 0;
  let cpuUserNs = 0;
  let cpuSystemNs = 0;
  if (v1cpu) {
    cpuTotalNs = num(read(cpu, "cpuacct.usage"));
    const t = flat(read(cpu, "cpuacct.stat"));
    cpuUserNs = (t.user ?? 0) * NS_PER_TICK;
    cpuSystemNs = (t.system ?? 0) * NS_PER_TICK;
  }
  const cfs = { periods: 0, throttled: 0, throttledNs: 0 };
  if (v1cpu) {
    const t = p.cpu ? flat(read(p.cpu, "cpu.stat")) : {};
    cfs.periods = t.nr_periods ?? 0;
    cfs.throttled = t.nr_throttled ?? 0;
    cfs.throttledNs = t.throttled_time ?? 0;
  } else if (p.unified) {
    const t = flat(read(p.unified, "cpu.stat"));
    cpuTotalNs = (t.usage_usec ?? 0) * 1000;
    cpuUserNs = (t.user_usec ?? 0) * 1000;
    cpuSystemNs = (t.system_usec ?? 0) * 1000;
    cfs.periods = t.nr_periods ?? 0;
    cfs.throttled = t.nr_throttled ?? 0;
    cfs.throttledNs = (t.throttled_usec ?? 0) * 1000;
  }
  const mem = p.memory ? memoryV1(p.memory) : p.unified ? memoryV2(p.unified) : undefined;
  const hostMem = hostMemoryBytes();
  const limited = mem !== undefined && mem.limit > 0 && mem.limit < hostMem;
  const io = p.blkio ? blkioV1(p.blkio) : p.unified ? blkioV2(p.unified) : { read: 0, write: 0 };
  const pidsDir = p.pids ?? p.unified;
  return {
    id: rec.id,
    atNs: process.hrtime.bigint(),
    cpuTotalNs,
    cpuUserNs,
    cpuSystemNs,
    memUsage: mem?.usage ?? 0,
    memWorkingSet: mem ? Math.max(0, mem.usage - mem.inactiveFile) : 0,
    memRss: mem?.rss ?? 0,
    memCache: mem?.cache ?? 0,
    memFailcnt: mem?.failcnt ?? 0,
    memLimit: limited ? mem!.limit : hostMem,
    memLimited: limited,
    net: ownNetns(rec) && rec.pid ? netCounters(rec.pid) : undefined,
    blkRead: io.read,
    blkWrite: io.write,
    pids: pidsDir ? num(read(pidsDir, "pids.current")) : 0,
    oomKills: mem?.oomKills ?? 0,
    cfsPeriods: cfs.periods,
    cfsThrottledPeriods: cfs.throttled,
    cfsThrottledNs: cfs.throttledNs,
  };
}

/** USER_HZ: cpuacct.stat counts in clock ticks (always 100 on Linux). */
const NS_PER_TICK = 1e7;

interface Memory {
  usage: number;
  limit: number;
  inactiveFile: number;
  rss: number;
  cache: number;
  failcnt: number;
  oomKills: number;
}

function memoryV1(dir: string): Memory {
  const stat = flat(read(dir, "memory.stat"));
  return {
    usage: num(read(dir, "memory.usage_in_bytes")),
    limit: num(read(dir, "memory.limit_in_bytes")),
    // the hierarchical total_* counters include child cgroups, as usage does
    inactiveFile: stat.total_inactive_file ?? stat.inactive_file ?? 0,
    rss: stat.total_rss ?? stat.rss ?? 0,
    cache: stat.total_cache ?? stat.cache ?? 0,
    failcnt: num(read(dir, "memory.failcnt")),
    oomKills: flat(read(dir, "memory.oom_control")).oom_kill ?? 0,
  };
}

function memoryV2(dir: string): Memory {
  const stat = flat(read(dir, "memory.stat"));
  const events = flat(read(dir, "memory.events"));
  const max = read(dir, "memory.max")?.trim();
  return {
    usage: num(read(dir, "memory.current")),
    limit: max === undefined || max === "max" ? 0 : num(max),
    inactiveFile: stat.inactive_file ?? 0,
    rss: stat.anon ?? 0,
    cache: stat.file ?? 0,
    failcnt: events.max ?? 0,
    oomKills: events.oom_kill ?? 0,
  };
}

/** v1: the throttle counters (always there), else CFQ's. "8:0 Read 4096" lines; totals skipped. */
function blkioV1(dir: string): { read: number; write: number } {
  const text = read(dir, "blkio.throttle.io_service_bytes_recursive") ?? read(dir, "blkio.io_service_bytes_recursive");
  const out = { read: 0, write: 0 };
  for (const line of (text ?? "").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (!/^\d+:\d+$/.test(f[0] ?? "")) continue;
    if (f[1] === "Read") out.read += num(f[2]);
    else if (f[1] === "Write") out.write += num(f[2]);
  }
  return out;
}

/** v2 io.stat: "8:0 rbytes=1 wbytes=2 …" per device. */
function blkioV2(dir: string): { read: number; write: number } {
  const out = { read: 0, write: 0 };
  for (const line of (read(dir, "io.stat") ?? "").split("\n")) {
    out.read += num(/rbytes=(\d+)/.exec(line)?.[1]);
    out.write += num(/wbytes=(\d+)/.exec(line)?.[1]);
  }
  return out;
}

function read(dir: string, file: string): string | undefined {
  return readSmall(`${dir}/${file}`);
}

const BUF = Buffer.allocUnsafe(64 * 1024);

/**
 * A small kernel file's text, undefined when it is absent (the kernel lacks it, the cgroup went
 * with its container). open + read + close into one reused buffer: readFileSync also stats the
 * file and reads in a loop, which makes a scrape of a hundred containers about twice as slow.
 */
export function readSmall(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    let n = 0;
    for (let k; n < BUF.length && (k = readSync(fd, BUF, n, BUF.length - n, null)) > 0; ) n += k;
    return BUF.toString("latin1", 0, n);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

const exists = (dir: string, file: string) => existsSync(`${dir}/${file}`);

function num(text: string | undefined): number {
  const n = Number(text?.trim());
  return Number.isFinite(n) ? n : 0;
}

/** "key value" lines as a map. */
function flat(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? "").split("\n")) {
    const sp = line.indexOf(" ");
    if (sp > 0) out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}

/** Does the container have a network namespace of its own (not the host's)? */
export function ownNetns(rec: ContainerRecord): boolean {
  return (rec.config.linux?.namespaces ?? []).some((n) => n.type === "network");
}

/** The summed counters of every interface but loopback in `pid`'s network namespace. */
export function netCounters(pid: number): NetCounters | undefined {
  const text = readSmall(`/proc/${pid}/net/dev`);
  return text === undefined ? undefined : parseNetDev(text); // undefined: the init just exited
}

/**
 * /proc/net/dev: two header lines, then `iface: rx_bytes rx_packets rx_errs rx_drop rx_fifo
 * rx_frame rx_compressed rx_multicast tx_bytes tx_packets tx_errs …` per interface.
 */
export function parseNetDev(text: string): NetCounters {
  const sum: NetCounters = { rxBytes: 0, rxPackets: 0, rxErrors: 0, txBytes: 0, txPackets: 0, txErrors: 0 };
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    if (iface === "lo" || iface.includes("|")) continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (f.length < 16 || f.some((n) => !Number.isFinite(n))) continue;
    sum.rxBytes += f[0];
    sum.rxPackets += f[1];
    sum.rxErrors += f[2];
    sum.txBytes += f[8];
    sum.txPackets += f[9];
    sum.txErrors += f[10];
  }
  return sum;
}

let hostMem: number | undefined;
/** MemTotal from /proc/meminfo, in bytes. */
export function hostMemoryBytes(): number {
  if (hostMem !== undefined) return hostMem;
  const m = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
  return (hostMem = m ? Number(m[1]) * 1024 : Number.MAX_SAFE_INTEGER);
}

// One reading of a container's resource counters: its cgroup (v1, v2 or hybrid: each controller
// from its v1 hierarchy when the container has one, else from cgroup2, as src/cgroups/stats.ts
// does) plus the network counters of its network namespace, read through its init's
// /proc/<pid>/net/dev. Pure counters only; rates and percentages are made in usage.ts.
import { readFileSync } from "node:fs";
import type { ContainerRecord } from "../state/types.js";
import { CounterFile, fieldKey } from "./counter-file.js";

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
  const v1cpu = cpu !== undefined && file.read(`${cpu}/cpuacct.usage`, CGROUP);
  let cpuTotalNs = 0;
  let cpuUserNs = 0;
  let cpuSystemNs = 0;
  if (v1cpu) {
    cpuTotalNs = file.number();
    file.read(`${cpu}/cpuacct.stat`, CGROUP);
    cpuUserNs = (file.field(K.user) ?? 0) * NS_PER_TICK;
    cpuSystemNs = (file.field(K.system) ?? 0) * NS_PER_TICK;
  }
  const cfs = { periods: 0, throttled: 0, throttledNs: 0 };
  if (v1cpu) {
    if (p.cpu) {
      file.read(`${p.cpu}/cpu.stat`, CGROUP);
      cfs.periods = file.field(K.nr_periods) ?? 0;
      cfs.throttled = file.field(K.nr_throttled) ?? 0;
      cfs.throttledNs = file.field(K.throttled_time) ?? 0;
    }
  } else if (p.unified) {
    file.read(`${p.unified}/cpu.stat`, CGROUP);
    cpuTotalNs = (file.field(K.usage_usec) ?? 0) * 1000;
    cpuUserNs = (file.field(K.user_usec) ?? 0) * 1000;
    cpuSystemNs = (file.field(K.system_usec) ?? 0) * 1000;
    cfs.periods = file.field(K.nr_periods) ?? 0;
    cfs.throttled = file.field(K.nr_throttled) ?? 0;
    cfs.throttledNs = (file.field(K.throttled_usec) ?? 0) * 1000;
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
    pids: pidsDir ? numberIn(pidsDir, "pids.current") : 0,
    oomKills: mem?.oomKills ?? 0,
    cfsPeriods: cfs.periods,
    cfsThrottledPeriods: cfs.throttled,
    cfsThrottledNs: cfs.throttledNs,
  };
}

/** The counter files are read one at a time into this one buffer. */
const file = new CounterFile();
/** A cgroup interface file: one seq_file record, all of it in the first read (CounterFile.read). */
const CGROUP = true;

/** The keys read from "key value" files (cpu.stat, memory.stat, memory.events …). */
const K = Object.fromEntries(
  [
    "user",
    "system",
    "nr_periods",
    "nr_throttled",
    "throttled_time",
    "usage_usec",
    "user_usec",
    "system_usec",
    "throttled_usec",
    "total_inactive_file",
    "inactive_file",
    "total_rss",
    "rss",
    "total_cache",
    "cache",
    "anon",
    "file",
    "max",
    "oom_kill",
  ].map((k) => [k, fieldKey(k)]),
);

/** A file of one number (memory.usage_in_bytes, pids.current …): 0 when absent. */
function numberIn(dir: string, name: string): number {
  return file.read(`${dir}/${name}`, CGROUP) ? file.number() : 0;
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
  file.read(`${dir}/memory.stat`, CGROUP);
  // the hierarchical total_* counters include child cgroups, as usage does
  const inactiveFile = file.field(K.total_inactive_file) ?? file.field(K.inactive_file) ?? 0;
  const rss = file.field(K.total_rss) ?? file.field(K.rss) ?? 0;
  const cache = file.field(K.total_cache) ?? file.field(K.cache) ?? 0;
  const usage = numberIn(dir, "memory.usage_in_bytes");
  const limit = numberIn(dir, "memory.limit_in_bytes");
  const failcnt = numberIn(dir, "memory.failcnt");
  file.read(`${dir}/memory.oom_control`, CGROUP);
  return { usage, limit, inactiveFile, rss, cache, failcnt, oomKills: file.field(K.oom_kill) ?? 0 };
}

function memoryV2(dir: string): Memory {
  file.read(`${dir}/memory.stat`, CGROUP);
  const inactiveFile = file.field(K.inactive_file) ?? 0;
  const rss = file.field(K.anon) ?? 0;
  const cache = file.field(K.file) ?? 0;
  file.read(`${dir}/memory.events`, CGROUP);
  const failcnt = file.field(K.max) ?? 0;
  const oomKills = file.field(K.oom_kill) ?? 0;
  const max = read(dir, "memory.max")?.trim();
  return {
    usage: numberIn(dir, "memory.current"),
    limit: max === undefined || max === "max" ? 0 : num(max),
    inactiveFile,
    rss,
    cache,
    failcnt,
    oomKills,
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

/** A cgroup file's text, undefined when it is absent. */
function read(dir: string, name: string): string | undefined {
  return file.read(`${dir}/${name}`, CGROUP) ? file.text() : undefined;
}

/** A small kernel file's text, undefined when it is absent. */
export function readSmall(path: string): string | undefined {
  return file.read(path) ? file.text() : undefined;
}

function num(text: string | undefined): number {
  const n = Number(text?.trim());
  return Number.isFinite(n) ? n : 0;
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

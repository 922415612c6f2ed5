// Resource usage of a container's cgroup, read from cgroupfs, in runc's shape (libcontainer's
// cgroups.Stats as runc's types/events.go prints it), for `polis events`.
//
// Each controller is read from its v1 hierarchy when the container has one, else from the cgroup2
// directory ("unified"): on a hybrid host that gives v1 cpu/memory/pids/blkio and v2 hugetlb.
// A missing file reads as zero, like runc (kernels drop files: kmem, CFQ blkio…).
import { readdirSync } from "node:fs";
import { readCgOptional } from "./fs.js";

export interface CpuUsage {
  /** nanoseconds */
  total: number;
  percpu: number[];
  percpu_kernel: number[];
  percpu_user: number[];
  kernel: number;
  user: number;
}

export interface Throttling {
  periods: number;
  throttledPeriods: number;
  /** nanoseconds */
  throttledTime: number;
}

export interface CpuSetStats {
  cpus: number[];
  cpu_exclusive: number;
  mems: number[];
  mem_hardwall: number;
  mem_exclusive: number;
  memory_migrate: number;
  memory_spread_page: number;
  memory_spread_slab: number;
  memory_pressure: number;
  sched_load_balance: number;
  sched_relax_domain_level: number;
}

export interface MemoryEntry {
  limit: number;
  usage: number;
  max: number;
  failcnt: number;
}

export interface MemoryStats {
  cache: number;
  usage: MemoryEntry;
  swap: MemoryEntry;
  kernel: MemoryEntry;
  kernelTCP: MemoryEntry;
  raw: Record<string, number>;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface BlkioStats {
  ioServiceBytesRecursive: BlkioEntry[];
  ioServicedRecursive: BlkioEntry[];
  ioQueueRecursive: BlkioEntry[];
  ioServiceTimeRecursive: BlkioEntry[];
  ioWaitTimeRecursive: BlkioEntry[];
  ioMergedRecursive: BlkioEntry[];
  ioTimeRecursive: BlkioEntry[];
  sectorsRecursive: BlkioEntry[];
}

export interface HugetlbStats {
  usage: number;
  max: number;
  failcnt: number;
}

export interface CgroupStats {
  cpu: { usage: CpuUsage; throttling: Throttling };
  cpuset?: CpuSetStats;
  memory: MemoryStats;
  pids: { current: number; limit: number };
  blkio: BlkioStats;
  /** page size ("2MB") -> usage */
  hugetlb: Record<string, HugetlbStats>;
}

/**
 * "max" (no limit). runc reports math.MaxUint64; that does not fit a JS number, and 2^64 (what it
 * would round to) overflows a Go uint64 in any client decoding our JSON, so we report the largest
 * double below 2^64.
 */
export const UNLIMITED = 2 ** 64 - 2048;

/** USER_HZ: cpuacct.stat counts in clock ticks (always 100 on Linux, whatever CONFIG_HZ is). */
const NS_PER_TICK = 1e9 / 100;

/** The statistics of the cgroup whose directories are `paths` (controller or "unified" -> dir). */
export function readStats(paths: Record<string, string>): CgroupStats {
  const uni = paths.unified;
  const v2 = (file: string) => read(uni, file) !== undefined;
  const stats: CgroupStats = {
    cpu: paths.cpuacct || paths.cpu ? cpuV1(paths.cpuacct, paths.cpu) : v2("cpu.stat") ? cpuV2(uni) : cpuV1(undefined, undefined),
    memory: paths.memory ? memoryV1(paths.memory) : v2("memory.current") ? memoryV2(uni) : emptyMemory(),
    pids: paths.pids ? pidsOf(paths.pids) : v2("pids.current") ? pidsOf(uni) : { current: 0, limit: 0 },
    blkio: paths.blkio ? blkioV1(paths.blkio) : v2("io.stat") ? blkioV2(uni) : emptyBlkio(),
    hugetlb: paths.hugetlb ? hugetlbOf(paths.hugetlb, false) : uni ? hugetlbOf(uni, true) : {},
  };
  if (paths.cpuset) stats.cpuset = cpusetV1(paths.cpuset);
  return stats;
}

// ---- parsing helpers (exported for unit tests) ----

/** A cgroupfs number: "max" is UNLIMITED, anything unparsable 0. */
export function num(text: string | undefined): number {
  if (text === undefined) return 0;
  const t = text.trim();
  if (t === "max") return UNLIMITED;
  const n = Number(t);
  return Number.isFinite(n) ? n : 0;
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, oom_control) as a map. */
export function parseFlatKeyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? "").split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) out[key] = num(value);
  }
  return out;
}

/** "0-3,5" (cpuset lists) as [0,1,2,3,5]. */
export function parseList(text: string | undefined): number[] {
  const out: number[] = [];
  for (const part of (text ?? "").trim().split(",")) {
    if (part === "") continue;
    const [a, b] = part.split("-").map(Number);
    if (!Number.isInteger(a)) continue;
    const end = Number.isInteger(b) ? b : a;
    for (let i = a; i <= end; i++) out.push(i);
  }
  return out;
}

/** v1 blkio files: "8:0 Read 4096" lines ("Total N" summaries skipped; "8:0 N" has no op). */
export function parseBlkio(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? "");
    if (!dev) continue;
    if (f.length === 2) out.push({ major: +dev[1], minor: +dev[2], op: "", value: num(f[1]) });
    else if (f.length >= 3) out.push({ major: +dev[1], minor: +dev[2], op: f[1], value: num(f[2]) });
  }
  return out;
}

/** The OOM-kill counter: v1 memory.oom_control / v2 memory.events `oom_kill` (0 if unknown). */
export function oomKillCount(paths: Record<string, string>): number {
  if (paths.memory) return parseFlatKeyed(read(paths.memory, "memory.oom_control")).oom_kill ?? 0;
  if (paths.unified) return parseFlatKeyed(read(paths.unified, "memory.events")).oom_kill ?? 0;
  return 0;
}

// ---- controllers ----

/** A file's text, undefined when absent or unreadable: one odd file must not cost all the stats. */
function read(dir: string | undefined, file: string): string | undefined {
  if (!dir) return undefined;
  try {
    return readCgOptional(dir, file);
  } catch {
    return undefined;
  }
}
const perCpu = (text: string | undefined): number[] => (text ?? "").trim().split(/\s+/).filter(Boolean).map(num);

function cpuV1(cpuacct: string | undefined, cpu: string | undefined): CgroupStats["cpu"] {
  const ticks = parseFlatKeyed(read(cpuacct, "cpuacct.stat"));
  const stat = parseFlatKeyed(read(cpu, "cpu.stat"));
  return {
    usage: {
      total: num(read(cpuacct, "cpuacct.usage")),
      percpu: perCpu(read(cpuacct, "cpuacct.usage_percpu")),
      percpu_kernel: perCpu(read(cpuacct, "cpuacct.usage_percpu_sys")),
      percpu_user: perCpu(read(cpuacct, "cpuacct.usage_percpu_user")),
      kernel: (ticks.system ?? 0) * NS_PER_TICK,
      user: (ticks.user ?? 0) * NS_PER_TICK,
    },
    throttling: {
      periods: stat.nr_periods ?? 0,
      throttledPeriods: stat.nr_throttled ?? 0,
      throttledTime: stat.throttled_time ?? 0,
    },
  };
}

function cpuV2(dir: string): CgroupStats["cpu"] {
  const s = parseFlatKeyed(read(dir, "cpu.stat"));
  return {
    usage: {
      total: (s.usage_usec ?? 0) * 1000,
      percpu: [],
      percpu_kernel: [],
      percpu_user: [],
      kernel: (s.system_usec ?? 0) * 1000,
      user: (s.user_usec ?? 0) * 1000,
    },
    throttling: {
      periods: s.nr_periods ?? 0,
      throttledPeriods: s.nr_throttled ?? 0,
      throttledTime: (s.throttled_usec ?? 0) * 1000,
    },
  };
}

function cpusetV1(dir: string): CpuSetStats {
  const n = (f: string) => num(read(dir, `cpuset.${f}`));
  return {
    cpus: parseList(read(dir, "cpuset.cpus")),
    cpu_exclusive: n("cpu_exclusive"),
    mems: parseList(read(dir, "cpuset.mems")),
    mem_hardwall: n("mem_hardwall"),
    mem_exclusive: n("mem_exclusive"),
    memory_migrate: n("memory_migrate"),
    memory_spread_page: n("memory_spread_page"),
    memory_spread_slab: n("memory_spread_slab"),
    memory_pressure: n("memory_pressure"),
    sched_load_balance: n("sched_load_balance"),
    sched_relax_domain_level: n("sched_relax_domain_level"),
  };
}

const zeroEntry = (): MemoryEntry => ({ limit: 0, usage: 0, max: 0, failcnt: 0 });

function emptyMemory(): MemoryStats {
  return { cache: 0, usage: zeroEntry(), swap: zeroEntry(), kernel: zeroEntry(), kernelTCP: zeroEntry(), raw: {} };
}

/** memory.<prefix>{limit_in_bytes,usage_in_bytes,max_usage_in_bytes,failcnt} */
function v1Entry(dir: string, prefix: string): MemoryEntry {
  return {
    limit: num(read(dir, `${prefix}limit_in_bytes`)),
    usage: num(read(dir, `${prefix}usage_in_bytes`)),
    max: num(read(dir, `${prefix}max_usage_in_bytes`)),
    failcnt: num(read(dir, `${prefix}failcnt`)),
  };
}

function memoryV1(dir: string): MemoryStats {
  const raw = parseFlatKeyed(read(dir, "memory.stat"));
  return {
    cache: raw.cache ?? 0,
    usage: v1Entry(dir, "memory."),
    swap: v1Entry(dir, "memory.memsw."),
    kernel: v1Entry(dir, "memory.kmem."),
    kernelTCP: v1Entry(dir, "memory.kmem.tcp."),
    raw,
  };
}

function memoryV2(dir: string): MemoryStats {
  const raw = parseFlatKeyed(read(dir, "memory.stat"));
  const usage = num(read(dir, "memory.current"));
  const events = parseFlatKeyed(read(dir, "memory.events"));
  const swapUsage = num(read(dir, "memory.swap.current"));
  const swapMax = read(dir, "memory.swap.max");
  return {
    cache: raw.file ?? 0,
    // memory.peak only exists on kernels >= 5.19
    usage: { limit: num(read(dir, "memory.max")), usage, max: num(read(dir, "memory.peak")), failcnt: events.max ?? 0 },
    // runc reports swap as v1's memsw did: memory plus swap
    swap: {
      limit: swapMax === undefined ? 0 : num(swapMax),
      usage: swapUsage + usage,
      max: num(read(dir, "memory.swap.peak")),
      failcnt: parseFlatKeyed(read(dir, "memory.swap.events")).max ?? 0,
    },
    kernel: zeroEntry(),
    kernelTCP: zeroEntry(),
    raw,
  };
}

function pidsOf(dir: string): CgroupStats["pids"] {
  const max = read(dir, "pids.max");
  // runc: no limit ("max") is reported as 0
  return { current: num(read(dir, "pids.current")), limit: max === undefined || max.trim() === "max" ? 0 : num(max) };
}

function emptyBlkio(): BlkioStats {
  return {
    ioServiceBytesRecursive: [],
    ioServicedRecursive: [],
    ioQueueRecursive: [],
    ioServiceTimeRecursive: [],
    ioWaitTimeRecursive: [],
    ioMergedRecursive: [],
    ioTimeRecursive: [],
    sectorsRecursive: [],
  };
}

function blkioV1(dir: string): BlkioStats {
  const b = emptyBlkio();
  const f = (name: string) => parseBlkio(read(dir, `blkio.${name}`));
  // CFQ's files where the kernel still has them (runc's preference), else the throttle ones.
  const cfq = f("io_service_bytes_recursive");
  if (cfq.length) {
    b.ioServiceBytesRecursive = cfq;
    b.ioServicedRecursive = f("io_serviced_recursive");
    b.ioQueueRecursive = f("io_queued_recursive");
    b.ioServiceTimeRecursive = f("io_service_time_recursive");
    b.ioWaitTimeRecursive = f("io_wait_time_recursive");
    b.ioMergedRecursive = f("io_merged_recursive");
    b.ioTimeRecursive = f("time_recursive");
    b.sectorsRecursive = f("sectors_recursive");
    return b;
  }
  b.ioServiceBytesRecursive = f("throttle.io_service_bytes_recursive");
  b.ioServicedRecursive = f("throttle.io_serviced_recursive");
  return b;
}

/** io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device. */
function blkioV2(dir: string): BlkioStats {
  const b = emptyBlkio();
  for (const line of (read(dir, "io.stat") ?? "").split("\n")) {
    const [devText, ...pairs] = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(devText ?? "");
    if (!dev) continue;
    const kv = Object.fromEntries(pairs.map((p) => p.split("=")));
    const entry = (op: string, v: string | undefined) => ({ major: +dev[1], minor: +dev[2], op, value: num(v) });
    b.ioServiceBytesRecursive.push(entry("Read", kv.rbytes), entry("Write", kv.wbytes));
    b.ioServicedRecursive.push(entry("Read", kv.rios), entry("Write", kv.wios));
  }
  return b;
}

/** One entry per page size the cgroup has files for. */
function hugetlbOf(dir: string, v2: boolean): Record<string, HugetlbStats> {
  const out: Record<string, HugetlbStats> = {};
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  const suffix = v2 ? ".current" : ".usage_in_bytes";
  for (const name of names) {
    const m = /^hugetlb\.([^.]+)(\.[a-z_]+)$/.exec(name);
    if (!m || m[2] !== suffix) continue;
    const size = m[1];
    out[size] = v2
      ? {
          usage: num(read(dir, `hugetlb.${size}.current`)),
          max: 0, // cgroup2 keeps no high-water mark
          failcnt: parseFlatKeyed(read(dir, `hugetlb.${size}.events`)).max ?? 0,
        }
      : {
          usage: num(read(dir, `hugetlb.${size}.usage_in_bytes`)),
          max: num(read(dir, `hugetlb.${size}.max_usage_in_bytes`)),
          failcnt: num(read(dir, `hugetlb.${size}.failcnt`)),
        };
  }
  return out;
}

// ---- runc's JSON ----

/**
 * The stats as runc prints them: its Go structs drop zero/empty fields tagged `omitempty`
 * (e.g. `pids.limit` when unlimited, `throttling` counters never hit), and keep the others.
 */
export function runcStatsJson(s: CgroupStats): Record<string, unknown> {
  const entry = (e: MemoryEntry) => omit({ limit: e.limit, usage: e.usage, max: e.max, failcnt: e.failcnt }, ["usage", "max"]);
  const blk = (list: BlkioEntry[]) => list.map((e) => omit({ ...e }, ["major", "minor", "op", "value"]));
  const blkio: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.blkio)) if (v.length) blkio[k] = blk(v);
  const hugetlb: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.hugetlb)) hugetlb[k] = omit({ ...v }, ["usage", "max"]);
  const out: Record<string, unknown> = {
    cpu: {
      usage: omit({ ...s.cpu.usage }, ["total", "percpu", "percpu_kernel", "percpu_user"]),
      throttling: omit({ ...s.cpu.throttling }, ["periods", "throttledPeriods", "throttledTime"]),
    },
  };
  if (s.cpuset) out.cpuset = omit({ ...s.cpuset }, ["cpus", "mems"]);
  const memory: Record<string, unknown> = omit(
    {
      cache: s.memory.cache,
      usage: entry(s.memory.usage),
      swap: entry(s.memory.swap),
      kernel: entry(s.memory.kernel),
      kernelTCP: entry(s.memory.kernelTCP),
      raw: s.memory.raw,
    },
    ["cache", "raw"],
  );
  out.memory = memory;
  out.pids = omit({ ...s.pids }, ["current", "limit"]);
  out.blkio = blkio;
  out.hugetlb = hugetlb;
  out.intel_rdt = {};
  out.network_interfaces = null;
  return out;
}

/** Drop the listed keys whose value is 0, "" or an empty array/object. */
function omit<T extends object>(obj: T, keys: (keyof T & string)[]): Record<string, unknown> {
  const out = { ...obj } as Record<string, unknown>;
  for (const k of keys) {
    const v = out[k];
    if (
      v === 0 ||
      v === "" ||
      (Array.isArray(v) && v.length === 0) ||
      (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0)
    )
      delete out[k];
  }
  return out;
}

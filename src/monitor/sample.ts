// One reading of a container's resource counters: its cgroup (src/cgroups/stats.ts, v1, v2 or
// hybrid) plus the network counters of its network namespace, read through its init's
// /proc/<pid>/net/dev. Pure counters only; rates and percentages are made in usage.ts.
import { readFileSync } from "node:fs";
import { readUsage } from "../cgroups/usage.js";
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
}

/** Read every counter of a running container. */
export function sampleContainer(rec: ContainerRecord): Sample {
  const u = readUsage(rec.cgroupPaths);
  const raw = u.memStat;
  // v1 names the hierarchical counters total_*; v2's memory.stat is hierarchical already.
  const inactiveFile = raw.total_inactive_file ?? raw.inactive_file ?? 0;
  const hostMem = hostMemoryBytes();
  const limited = u.memLimit > 0 && u.memLimit < hostMem;
  return {
    id: rec.id,
    atNs: process.hrtime.bigint(),
    cpuTotalNs: u.cpuTotalNs,
    cpuUserNs: u.cpuUserNs,
    cpuSystemNs: u.cpuSystemNs,
    memUsage: u.memUsage,
    memWorkingSet: inactiveFile < u.memUsage ? u.memUsage - inactiveFile : 0,
    memRss: raw.total_rss ?? raw.anon ?? raw.rss ?? 0,
    memCache: u.memCache,
    memFailcnt: u.memFailcnt,
    memLimit: limited ? u.memLimit : hostMem,
    memLimited: limited,
    net: ownNetns(rec) && rec.pid ? netCounters(rec.pid) : undefined,
    blkRead: u.blkRead,
    blkWrite: u.blkWrite,
    pids: u.pids,
    oomKills: u.oomKills,
  };
}

/** Does the container have a network namespace of its own (not the host's)? */
export function ownNetns(rec: ContainerRecord): boolean {
  return (rec.config.linux?.namespaces ?? []).some((n) => n.type === "network");
}

/** The summed counters of every interface but loopback in `pid`'s network namespace. */
export function netCounters(pid: number): NetCounters | undefined {
  try {
    return parseNetDev(readFileSync(`/proc/${pid}/net/dev`, "utf8"));
  } catch {
    return undefined; // the init exited between the listing and this read
  }
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
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
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

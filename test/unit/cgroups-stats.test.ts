// cgroupfs -> runc's Stats, against fake v1 and v2 trees in a temp dir.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cgroupManagerFromPaths } from "../../src/cgroups/index.js";
import {
  UNLIMITED,
  num,
  oomKillCount,
  parseBlkio,
  parseFlatKeyed,
  parseList,
  readStats,
  runcStatsJson,
} from "../../src/cgroups/stats.js";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "polis-fakecg-stats-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function files(dir: string, content: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [f, v] of Object.entries(content)) writeFileSync(join(dir, f), v);
  return dir;
}

function v1Tree(): Record<string, string> {
  const cpuacct = files(join(root, "cpuacct", "c1"), {
    "cpuacct.usage": "123456789\n",
    "cpuacct.usage_percpu": "100000000 23456789 \n",
    "cpuacct.usage_percpu_sys": "5 6\n",
    "cpuacct.usage_percpu_user": "7 8\n",
    "cpuacct.stat": "user 12\nsystem 3\n",
  });
  const cpu = files(join(root, "cpu", "c1"), { "cpu.stat": "nr_periods 10\nnr_throttled 4\nthrottled_time 9999\n" });
  const memory = files(join(root, "memory", "c1"), {
    "memory.usage_in_bytes": "4096000\n",
    "memory.max_usage_in_bytes": "8192000\n",
    "memory.limit_in_bytes": "104857600\n",
    "memory.failcnt": "2\n",
    "memory.memsw.usage_in_bytes": "5000000\n",
    "memory.memsw.limit_in_bytes": "9223372036854771712\n",
    "memory.memsw.max_usage_in_bytes": "9000000\n",
    "memory.memsw.failcnt": "0\n",
    "memory.kmem.usage_in_bytes": "1000\n",
    "memory.stat": "cache 40960\nrss 12288\ntotal_cache 40960\n",
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
  });
  const pids = files(join(root, "pids", "c1"), { "pids.current": "4\n", "pids.max": "max\n" });
  const blkio = files(join(root, "blkio", "c1"), {
    "blkio.io_service_bytes_recursive": "", // CFQ files present but empty (no CFQ scheduler): use throttle
    "blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
    "blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
  });
  const cpuset = files(join(root, "cpuset", "c1"), {
    "cpuset.cpus": "0-2,5\n",
    "cpuset.mems": "0\n",
    "cpuset.sched_load_balance": "1\n",
    "cpuset.sched_relax_domain_level": "-1\n",
  });
  const hugetlb = files(join(root, "hugetlb", "c1"), {
    "hugetlb.2MB.usage_in_bytes": "2097152\n",
    "hugetlb.2MB.max_usage_in_bytes": "4194304\n",
    "hugetlb.2MB.failcnt": "1\n",
    "hugetlb.2MB.limit_in_bytes": "9223372036854771712\n",
  });
  return { cpuacct, cpu, memory, pids, blkio, cpuset, hugetlb };
}

describe("parsers", () => {
  it("reads numbers, with max as unlimited", () => {
    expect(num("42\n")).toBe(42);
    expect(num("max")).toBe(UNLIMITED);
    expect(num(undefined)).toBe(0);
    expect(num("garbage")).toBe(0);
    // a Go client must be able to decode it into a uint64
    expect(BigInt(JSON.stringify(UNLIMITED))).toBeLessThanOrEqual(2n ** 64n - 1n);
  });
  it("reads flat keyed files and cpu lists", () => {
    expect(parseFlatKeyed("a 1\nb 2\n\n")).toEqual({ a: 1, b: 2 });
    expect(parseList("0-2,5,7-8")).toEqual([0, 1, 2, 5, 7, 8]);
    expect(parseList("")).toEqual([]);
  });
  it("reads v1 blkio lines, skipping the Total summary", () => {
    expect(parseBlkio("8:0 Read 10\n8:16 Write 20\nTotal 30\n252:1 7\n")).toEqual([
      { major: 8, minor: 0, op: "Read", value: 10 },
      { major: 8, minor: 16, op: "Write", value: 20 },
      { major: 252, minor: 1, op: "", value: 7 },
    ]);
  });
});

describe("cgroup v1", () => {
  it("reads every controller into runc's Stats", () => {
    const s = readStats(v1Tree());
    expect(s.cpu.usage).toEqual({
      total: 123456789,
      percpu: [100000000, 23456789],
      percpu_kernel: [5, 6],
      percpu_user: [7, 8],
      kernel: 30_000_000, // 3 ticks of 10 ms
      user: 120_000_000,
    });
    expect(s.cpu.throttling).toEqual({ periods: 10, throttledPeriods: 4, throttledTime: 9999 });
    expect(s.memory.usage).toEqual({ limit: 104857600, usage: 4096000, max: 8192000, failcnt: 2 });
    expect(s.memory.swap).toMatchObject({ usage: 5000000, max: 9000000 });
    expect(s.memory.kernel.usage).toBe(1000);
    expect(s.memory.cache).toBe(40960);
    expect(s.memory.raw).toMatchObject({ cache: 40960, rss: 12288 });
    expect(s.pids).toEqual({ current: 4, limit: 0 });
    expect(s.blkio.ioServiceBytesRecursive).toEqual([
      { major: 8, minor: 0, op: "Read", value: 4096 },
      { major: 8, minor: 0, op: "Write", value: 8192 },
      { major: 8, minor: 0, op: "Total", value: 12288 },
    ]);
    expect(s.blkio.ioServicedRecursive).toHaveLength(2);
    expect(s.cpuset).toMatchObject({ cpus: [0, 1, 2, 5], mems: [0], sched_load_balance: 1, sched_relax_domain_level: -1 });
    expect(s.hugetlb).toEqual({ "2MB": { usage: 2097152, max: 4194304, failcnt: 1 } });
  });

  it("reads the OOM-kill counter from memory.oom_control", () => {
    expect(oomKillCount(v1Tree())).toBe(3);
  });

  it("is what the manager's stats() returns", () => {
    const paths = v1Tree();
    expect(cgroupManagerFromPaths(paths).stats()).toEqual(readStats(paths));
  });

  it("treats missing files and directories as zero", () => {
    const s = readStats({ memory: join(root, "gone"), cpuacct: join(root, "gone") });
    expect(s.memory.usage).toEqual({ limit: 0, usage: 0, max: 0, failcnt: 0 });
    expect(s.cpu.usage.total).toBe(0);
    expect(s.hugetlb).toEqual({});
  });
});

describe("cgroup v2", () => {
  function v2Tree(): Record<string, string> {
    const unified = files(join(root, "unified", "c2"), {
      "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 6\nnr_throttled 1\nthrottled_usec 20\n",
      "memory.current": "2048000\n",
      "memory.max": "max\n",
      "memory.peak": "4096000\n",
      "memory.events": "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n",
      "memory.swap.current": "1000\n",
      "memory.swap.max": "max\n",
      "memory.stat": "anon 1000\nfile 5000\n",
      "pids.current": "3\n",
      "pids.max": "100\n",
      "io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
      "hugetlb.2MB.current": "0\n",
      "hugetlb.2MB.max": "max\n",
      "hugetlb.2MB.events": "max 5\n",
    });
    return { unified };
  }

  it("reads the unified files into the same shape", () => {
    const s = readStats(v2Tree());
    expect(s.cpu.usage).toMatchObject({ total: 1_500_000, user: 1_000_000, kernel: 500_000, percpu: [] });
    expect(s.cpu.throttling).toEqual({ periods: 6, throttledPeriods: 1, throttledTime: 20_000 });
    expect(s.memory.usage).toEqual({ limit: UNLIMITED, usage: 2048000, max: 4096000, failcnt: 7 });
    expect(s.memory.swap.usage).toBe(2049000);
    expect(s.memory.cache).toBe(5000);
    expect(s.pids).toEqual({ current: 3, limit: 100 });
    expect(s.blkio.ioServiceBytesRecursive).toEqual([
      { major: 8, minor: 0, op: "Read", value: 100 },
      { major: 8, minor: 0, op: "Write", value: 200 },
    ]);
    expect(s.blkio.ioServicedRecursive.map((e) => e.value)).toEqual([1, 2]);
    expect(s.hugetlb).toEqual({ "2MB": { usage: 0, max: 0, failcnt: 5 } });
    expect(s.cpuset).toBeUndefined();
    expect(oomKillCount(v2Tree())).toBe(2);
  });

  it("prefers the v1 hierarchy of a controller on a hybrid host, and the unified tree for the rest", () => {
    const paths = { ...v1Tree(), ...v2Tree() };
    delete paths.hugetlb; // as on a hybrid host where hugetlb lives only in cgroup2
    const s = readStats(paths);
    expect(s.memory.usage.usage).toBe(4096000);
    expect(s.hugetlb["2MB"].failcnt).toBe(5);
    expect(oomKillCount(paths)).toBe(3);
  });
});

describe("runc's JSON", () => {
  it("drops the omitempty fields that are zero and keeps the others", () => {
    const j = runcStatsJson(readStats(v1Tree())) as any;
    expect(j.pids).toEqual({ current: 4 }); // limit 0 (unlimited) is omitted
    expect(j.memory.usage).toEqual({ limit: 104857600, usage: 4096000, max: 8192000, failcnt: 2 });
    expect(j.memory.kernelTCP).toEqual({ limit: 0, failcnt: 0 }); // limit and failcnt are not omitempty
    expect(j.cpu.throttling).toEqual({ periods: 10, throttledPeriods: 4, throttledTime: 9999 });
    // runc's BlkioEntry fields are all omitempty: minor 0 (sda) is left out, as runc prints it
    expect(j.blkio.ioServiceBytesRecursive[0]).toEqual({ major: 8, op: "Read", value: 4096 });
    expect(j.blkio.ioQueueRecursive).toBeUndefined();
    expect(j.network_interfaces).toBeNull();
    const empty = runcStatsJson(readStats({})) as any;
    expect(empty.cpu).toEqual({ usage: { kernel: 0, user: 0 }, throttling: {} });
    expect(empty.blkio).toEqual({});
    expect(JSON.parse(JSON.stringify(empty))).toEqual(empty);
  });
});

// The sampler over cgroup v1, v2 and hybrid layouts, on fake cgroup directories (the host has
// only one layout; the files' formats are the kernel's).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hostMemoryBytes, sampleContainer } from "../../src/monitor/sample.js";
import type { ContainerRecord } from "../../src/state/types.js";

const base = mkdtempSync(join(tmpdir(), "polis-fake-cg-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function dir(name: string, files: Record<string, string>): string {
  const d = join(base, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
  return d;
}
const rec = (cgroupPaths: Record<string, string>) =>
  ({ id: "c", pid: null, cgroupPaths, config: { ociVersion: "1.0.2", linux: { namespaces: [] } } }) as unknown as ContainerRecord;

describe("sampleContainer", () => {
  it("cgroup v2: cpu.stat, memory.current minus inactive_file against memory.max, io.stat, pids, oom_kill", () => {
    const uni = dir("v2", {
      "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n",
      "memory.current": "104857600\n",
      "memory.max": "209715200\n",
      "memory.stat": "anon 73400320\nfile 31457280\ninactive_file 20971520\n",
      "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
      "io.stat":
        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n",
      "pids.current": "3\n",
    });
    const s = sampleContainer(rec({ unified: uni }));
    expect(s).toMatchObject({
      cpuTotalNs: 2.5e9,
      cpuUserNs: 2e9,
      cpuSystemNs: 5e8,
      memUsage: 104857600,
      memWorkingSet: 104857600 - 20971520,
      memRss: 73400320,
      memCache: 31457280,
      memFailcnt: 4,
      memLimit: 209715200,
      memLimited: true,
      blkRead: 4097,
      blkWrite: 8194,
      pids: 3,
      oomKills: 1,
      net: undefined,
    });
  });
  it("cgroup v2 without a limit: the host's memory", () => {
    const uni = dir("v2-max", { "memory.current": "1000\n", "memory.max": "max\n" });
    expect(sampleContainer(rec({ unified: uni }))).toMatchObject({ memLimit: hostMemoryBytes(), memLimited: false });
  });
  it("hybrid (v1 controllers, cgroup2 for the rest): cpuacct ticks, total_* counters, throttle blkio", () => {
    const cpu = dir("v1cpu", { "cpuacct.usage": "3000000000\n", "cpuacct.stat": "user 250\nsystem 50\n" });
    const memory = dir("v1mem", {
      "memory.usage_in_bytes": "50000\n",
      "memory.limit_in_bytes": "9223372036854771712\n",
      "memory.stat": "cache 1\nrss 2\ntotal_cache 30000\ntotal_rss 15000\ntotal_inactive_file 10000\n",
      "memory.failcnt": "0\n",
      "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    });
    const blkio = dir("v1blk", {
      "blkio.throttle.io_service_bytes_recursive": "8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Total 300\nTotal 300\n",
    });
    const pids = dir("v1pids", { "pids.current": "7\n" });
    const uni = dir("hy-uni", {});
    const s = sampleContainer(rec({ cpu, cpuacct: cpu, memory, blkio, pids, unified: uni }));
    expect(s).toMatchObject({
      cpuTotalNs: 3e9,
      cpuUserNs: 2.5e9,
      cpuSystemNs: 5e8,
      memUsage: 50000,
      memWorkingSet: 40000,
      memRss: 15000,
      memCache: 30000,
      memLimited: false,
      memLimit: hostMemoryBytes(),
      blkRead: 100,
      blkWrite: 200,
      pids: 7,
      oomKills: 2,
    });
  });
  it("a cgroup that is gone reads as zeros, not an error", () => {
    const s = sampleContainer(rec({ unified: join(base, "gone") }));
    expect(s).toMatchObject({ cpuTotalNs: 0, memUsage: 0, pids: 0 });
  });
});

// readUsage (the monitor's few files) must read what readStats (runc's full shape) reads.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readStats } from "../../src/cgroups/stats.js";
import { readUsage } from "../../src/cgroups/usage.js";

const dir = mkdtempSync(join(tmpdir(), "polis-usage-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tree(name: string, files: Record<string, Record<string, string>>): Record<string, string> {
  const paths: Record<string, string> = {};
  for (const [ctrl, contents] of Object.entries(files)) {
    const d = join(dir, name, ctrl);
    mkdirSync(d, { recursive: true });
    for (const [f, text] of Object.entries(contents)) writeFileSync(join(d, f), text);
    paths[ctrl] = d;
  }
  return paths;
}

function sameAsStats(paths: Record<string, string>) {
  const u = readUsage(paths);
  const s = readStats(paths);
  let read = 0;
  let write = 0;
  for (const e of s.blkio.ioServiceBytesRecursive) {
    if (e.op === "Read") read += e.value;
    if (e.op === "Write") write += e.value;
  }
  expect(u).toMatchObject({
    cpuTotalNs: s.cpu.usage.total,
    cpuUserNs: s.cpu.usage.user,
    cpuSystemNs: s.cpu.usage.kernel,
    memUsage: s.memory.usage.usage,
    memLimit: s.memory.usage.limit,
    memFailcnt: s.memory.usage.failcnt,
    memCache: s.memory.cache,
    memStat: s.memory.raw,
    blkRead: read,
    blkWrite: write,
    pids: s.pids.current,
  });
  return u;
}

describe("readUsage", () => {
  it("cgroup v1 (throttle blkio when CFQ's file is empty)", () => {
    const u = sameAsStats(
      tree("v1", {
        cpuacct: { "cpuacct.usage": "2500000000\n", "cpuacct.stat": "user 200\nsystem 50\n" },
        memory: {
          "memory.usage_in_bytes": "4096\n",
          "memory.limit_in_bytes": "1048576\n",
          "memory.failcnt": "2\n",
          "memory.stat": "cache 512\nrss 1024\ntotal_rss 1024\ntotal_inactive_file 100\n",
          "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        },
        blkio: { "blkio.io_service_bytes_recursive": "Total 0\n", "blkio.throttle.io_service_bytes_recursive": "8:0 Read 10\n8:0 Write 20\n8:16 Read 1\nTotal 31\n" },
        pids: { "pids.current": "3\n" },
      }),
    );
    expect(u).toMatchObject({ cpuTotalNs: 2.5e9, cpuUserNs: 2e9, blkRead: 11, blkWrite: 20, oomKills: 1, pids: 3 });
  });

  it("cgroup v2", () => {
    const u = sameAsStats(
      tree("v2", {
        unified: {
          "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
          "memory.current": "8192\n",
          "memory.max": "max\n",
          "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
          "memory.stat": "anon 4096\nfile 2048\ninactive_file 1024\n",
          "io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
          "pids.current": "5\n",
        },
      }),
    );
    expect(u).toMatchObject({ cpuTotalNs: 1.5e6, memCache: 2048, memFailcnt: 4, blkRead: 100, blkWrite: 200, oomKills: 1 });
  });

  it("a cgroup that is gone reads as zeros", () => {
    expect(readUsage({ memory: join(dir, "nope"), cpuacct: join(dir, "nope") })).toMatchObject({ cpuTotalNs: 0, memUsage: 0, pids: 0 });
  });
});

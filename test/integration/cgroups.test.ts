// Real cgroups on this host (root, v1 hybrid): everything is checked from outside via cgroupfs
// and /proc. Each test uses its own /polis-test-<random> cgroup and removes it afterwards.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cgroupManager, cgroupManagerFromPaths, hostLayout } from "../../src/cgroups/index.js";
import type { CgroupManager } from "../../src/cgroups/types.js";

const SIGKILL = 9;
const SIGTERM = 15;
let managers: CgroupManager[] = [];
let children: ChildProcess[] = [];
let extraDirs: string[] = [];

function newManager(sub = ""): CgroupManager {
  const name = `/polis-test-${randomBytes(4).toString("hex")}${sub}`;
  const m = cgroupManager({ cgroupsPath: name, id: "x" });
  managers.push(m);
  return m;
}

/** Start `sh -c script` stopped at a `read`, move it into the cgroup, then let it run. */
async function runIn(m: CgroupManager, script: string): Promise<ChildProcess> {
  const c = spawn("sh", ["-c", `read go; ${script}`], { stdio: ["pipe", "pipe", "pipe"] });
  children.push(c);
  await new Promise((r) => c.once("spawn", r));
  for (const f of m.procsFiles()) writeFileSync(f, String(c.pid));
  c.stdin!.write("go\n");
  return c;
}

const exited = (c: ChildProcess) =>
  new Promise<{ code: number | null; signal: string | null }>((r) => {
    if (c.exitCode !== null || c.signalCode !== null) r({ code: c.exitCode, signal: c.signalCode });
    else c.once("exit", (code, signal) => r({ code, signal }));
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const read = (dir: string, f: string) => readFileSync(join(dir, f), "utf8").trim();
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));

afterEach(async () => {
  for (const m of managers) {
    try {
      if (m.isFrozen()) m.thaw();
      m.killAll(SIGKILL);
    } catch {}
    for (let i = 0; i < 50 && m.pids().length; i++) await sleep(20);
    try {
      m.destroy();
    } catch {}
  }
  for (const c of children) c.kill("SIGKILL");
  for (const d of extraDirs.reverse()) {
    try {
      rmdirSync(d);
    } catch {}
  }
  managers = [];
  children = [];
  extraDirs = [];
});

describe("host layout", () => {
  it("detects the hybrid layout with separate cpu/cpuacct and hugetlb only in cgroup2", () => {
    const l = hostLayout();
    expect(l.mode).toBe("hybrid");
    expect(l.v1.find((h) => h.controllers.includes("cpu"))?.controllers).toEqual(["cpu"]);
    expect(l.v1.find((h) => h.controllers.includes("cpuacct"))?.mountpoint).toBe("/sys/fs/cgroup/cpuacct");
    expect(l.v1.some((h) => h.controllers.includes("name=systemd"))).toBe(true);
    expect(l.unified?.mountpoint).toBe("/sys/fs/cgroup/unified");
  });
});

describe("cgroup lifecycle on this host", () => {
  it("creates every hierarchy's dir (cgroup2 too) and destroy removes them all", () => {
    const m = newManager();
    m.create();
    m.create(); // idempotent
    const dirs = Object.values(m.paths);
    expect(m.paths.unified).toMatch(/^\/sys\/fs\/cgroup\/unified\/polis-test-/);
    expect(m.paths["name=systemd"]).toMatch(/^\/sys\/fs\/cgroup\/systemd\/polis-test-/);
    for (const d of dirs) expect(existsSync(join(d, "cgroup.procs")), d).toBe(true);
    m.destroy();
    for (const d of dirs) expect(existsSync(d), d).toBe(false);
    m.destroy(); // missing dirs are fine
  });

  it("fills cpuset.cpus/mems on every new level, removes only the leaf", () => {
    const m = newManager("/mid/leaf");
    m.create();
    const leaf = m.paths.cpuset;
    const mid = join(leaf, "..");
    extraDirs.push(...Object.values(m.paths).flatMap((d) => [join(d, "../.."), join(d, "..")]));
    const root = "/sys/fs/cgroup/cpuset";
    expect(read(mid, "cpuset.cpus")).toBe(read(root, "cpuset.cpus"));
    expect(read(leaf, "cpuset.cpus")).toBe(read(root, "cpuset.cpus"));
    expect(read(leaf, "cpuset.mems")).toBe(read(root, "cpuset.mems"));
    m.destroy();
    expect(existsSync(leaf)).toBe(false);
    expect(existsSync(mid)).toBe(true);
  });

  it("lists member pids, rebuilds from paths, and killAll(SIGKILL) kills them", async () => {
    const m = newManager();
    m.create();
    const c = await runIn(m, "sleep 1000");
    await sleep(100);
    const pids = m.pids();
    expect(pids).toContain(c.pid);
    expect(pids.length).toBe(2); // sh + sleep
    const again = cgroupManagerFromPaths(m.paths);
    expect(again.pids()).toEqual(pids);
    again.killAll(SIGKILL);
    expect((await exited(c)).signal).toBe("SIGKILL");
    for (let i = 0; i < 50 && m.pids().length; i++) await sleep(20);
    expect(m.pids()).toEqual([]);
    for (const p of pids) expect(alive(p)).toBe(false);
    m.destroy();
    for (const d of Object.values(m.paths)) expect(existsSync(d)).toBe(false);
  });

  it("killAll(SIGKILL) catches a process that keeps forking", async () => {
    const m = newManager();
    m.create();
    m.apply({ pids: { limit: 300 } }); // keep the fork loop bounded even if the test breaks
    await runIn(m, "while :; do sleep 1000 & done");
    await sleep(300);
    expect(m.pids().length).toBeGreaterThan(10);
    m.killAll(SIGKILL);
    for (let i = 0; i < 100 && m.pids().length; i++) await sleep(20);
    expect(m.pids()).toEqual([]);
    m.destroy();
    expect(existsSync(m.paths.pids)).toBe(false);
  });

  it("killAll(SIGTERM) goes through the freezer and leaves the cgroup thawed", async () => {
    const m = newManager();
    m.create();
    const c = await runIn(m, "exec sleep 1000");
    await sleep(100);
    m.killAll(SIGTERM);
    expect((await exited(c)).signal).toBe("SIGTERM");
    expect(read(m.paths.freezer, "freezer.state")).toBe("THAWED");
  });

  it("killAll(SIGKILL) kills a frozen (paused) container", async () => {
    const m = newManager();
    m.create();
    const c = await runIn(m, "exec sleep 1000");
    await sleep(100);
    m.freeze();
    m.killAll(SIGKILL);
    expect((await exited(c)).signal).toBe("SIGKILL");
    expect(m.isFrozen()).toBe(false);
  });

  it("killAll on an empty or removed cgroup is a no-op", () => {
    const m = newManager();
    m.create();
    m.killAll(SIGKILL);
    m.destroy();
    expect(() => m.killAll(SIGTERM)).not.toThrow();
    expect(m.pids()).toEqual([]);
  });

  it("freeze stops a busy process and thaw resumes it", async () => {
    const m = newManager();
    m.create();
    const c = await runIn(m, "while :; do :; done");
    await sleep(100);
    const cpuTime = () => {
      const f = readFileSync(`/proc/${c.pid}/stat`, "utf8").split(") ")[1].split(" ");
      return Number(f[11]) + Number(f[12]); // utime + stime (ticks)
    };
    m.freeze();
    expect(read(m.paths.freezer, "freezer.state")).toBe("FROZEN");
    expect(m.isFrozen()).toBe(true);
    const t0 = cpuTime();
    await sleep(300);
    expect(cpuTime()).toBe(t0);
    m.thaw();
    expect(read(m.paths.freezer, "freezer.state")).toBe("THAWED");
    expect(m.isFrozen()).toBe(false);
    await sleep(300);
    expect(cpuTime()).toBeGreaterThan(t0 + 5);
  });

  it("destroy waits for exiting processes (EBUSY) instead of failing", async () => {
    const m = newManager();
    m.create();
    const c = await runIn(m, "exec sleep 1000");
    await sleep(50);
    c.kill("SIGKILL"); // still exiting when destroy() starts
    m.destroy();
    for (const d of Object.values(m.paths)) expect(existsSync(d)).toBe(false);
  });
});

describe("linux.resources enforced on this host", () => {
  it("OOM-kills a memory hog at memory.limit", async () => {
    const m = newManager();
    m.create();
    const limit = 32 << 20;
    m.apply({ memory: { limit, swap: limit } });
    expect(Number(read(m.paths.memory, "memory.limit_in_bytes"))).toBe(limit);
    expect(Number(read(m.paths.memory, "memory.memsw.limit_in_bytes"))).toBe(limit);
    const c = await runIn(m, "head -c 200m /dev/zero | tail");
    const r = await exited(c);
    expect(r.code).toBe(137); // tail died of SIGKILL
    expect(read(m.paths.memory, "memory.oom_control")).toMatch(/oom_kill [1-9]/);
  });

  it("pids.limit stops forks", async () => {
    const m = newManager();
    m.create();
    m.apply({ pids: { limit: 5 } });
    expect(read(m.paths.pids, "pids.max")).toBe("5");
    const c = await runIn(m, "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1000 & done; sleep 1000");
    let err = "";
    c.stderr!.on("data", (d) => (err += d));
    await sleep(500);
    expect(m.pids().length).toBeLessThanOrEqual(5);
    expect(read(m.paths.pids, "pids.events")).toMatch(/max [1-9]/);
    expect(err).toMatch(/fork/i);
  });

  it("cpu quota caps usage measured by cpuacct.usage", async () => {
    const m = newManager();
    m.create();
    m.apply({ cpu: { quota: 20000, period: 100000, shares: 512 } });
    expect(read(m.paths.cpu, "cpu.cfs_quota_us")).toBe("20000");
    expect(read(m.paths.cpu, "cpu.shares")).toBe("512");
    await runIn(m, "while :; do :; done");
    const u0 = Number(read(m.paths.cpuacct, "cpuacct.usage"));
    await sleep(1000);
    const used = (Number(read(m.paths.cpuacct, "cpuacct.usage")) - u0) / 1e9;
    expect(used).toBeGreaterThan(0.05);
    expect(used).toBeLessThan(0.35); // 20% of one CPU, with slack; unthrottled would be ~1.0
  });

  it("applies hugetlb in the cgroup2 tree, devices and blkio in v1", () => {
    const m = newManager();
    m.create();
    m.apply({
      hugepageLimits: [{ pageSize: "2MB", limit: 4 << 20 }],
      devices: [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }],
      blockIO: { weight: 300, throttleReadBpsDevice: [{ major: 254, minor: 0, rate: 1048576 }] },
      memory: { reservation: 8 << 20, swappiness: 10, disableOOMKiller: true },
    });
    expect(read(m.paths.unified, "hugetlb.2MB.max")).toBe(String(4 << 20));
    expect(read(m.paths.devices, "devices.list")).toBe("c 1:3 rwm");
    expect(read(m.paths.blkio, "blkio.bfq.weight")).toMatch(/300/);
    expect(read(m.paths.blkio, "blkio.throttle.read_bps_device")).toBe("254:0 1048576");
    expect(read(m.paths.memory, "memory.soft_limit_in_bytes")).toBe(String(8 << 20));
    expect(read(m.paths.memory, "memory.swappiness")).toBe("10");
    expect(read(m.paths.memory, "memory.oom_control")).toMatch(/oom_kill_disable 1/);
  });

  it("orders memory and memsw writes so growing, shrinking and unlimiting all work", () => {
    const m = newManager();
    m.create();
    const mem = () => [read(m.paths.memory, "memory.limit_in_bytes"), read(m.paths.memory, "memory.memsw.limit_in_bytes")];
    m.apply({ memory: { limit: 64 << 20, swap: 128 << 20 } });
    expect(mem()).toEqual([String(64 << 20), String(128 << 20)]);
    m.apply({ memory: { limit: 256 << 20, swap: 512 << 20 } }); // limit above the old memsw
    expect(mem()).toEqual([String(256 << 20), String(512 << 20)]);
    m.apply({ memory: { limit: 16 << 20, swap: 16 << 20 } }); // memsw below the old limit
    expect(mem()).toEqual([String(16 << 20), String(16 << 20)]);
    m.apply({ memory: { limit: -1 } }); // unlimited memory means unlimited memory+swap too
    expect(mem()).toEqual(["9223372036854771712", "9223372036854771712"]);
  });

  it("sees processes in child cgroups the container made itself", async () => {
    const m = newManager();
    m.create();
    const child = join(m.paths.pids, "inner");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(child);
    const c = spawn("sleep", ["1000"]);
    children.push(c);
    await new Promise((r) => c.once("spawn", r));
    writeFileSync(join(m.paths.memory, "cgroup.procs"), String(c.pid));
    writeFileSync(join(child, "cgroup.procs"), String(c.pid));
    expect(m.pids()).toEqual([c.pid]);
    m.killAll(SIGKILL);
    expect((await exited(c)).signal).toBe("SIGKILL");
    m.destroy();
    expect(existsSync(m.paths.pids)).toBe(false);
  });

  it("refuses what this host cannot enforce, naming the field", () => {
    const m = newManager();
    m.create();
    expect(() => m.apply({ network: { classID: 0x100001 } })).toThrow("linux.resources.network.classID: net_cls controller is not mounted");
    expect(() => m.apply({ hugepageLimits: [{ pageSize: "1GB", limit: 1 }] })).toThrow(/^linux.resources.hugepageLimits\[0\].pageSize: /);
    expect(() => m.apply({ cpu: { shares: 1 } })).toThrow(/^linux.resources.cpu.shares: 1 is out of range: the kernel minimum is 2/);
  });
});

// Real cgroups on this host, whatever its layout (v1, hybrid or v2): everything is checked from
// outside via cgroupfs and /proc, with paths and file names taken from the detected layout. Each
// test uses its own /polis-test-<run>-<random> cgroup and removes it afterwards. The last block
// drives a manager that sees only this host's cgroup2 mount, as on a pure v2 host.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cgroupManager, cgroupManagerFromPaths, hostLayout, type CgroupLayout } from "../../src/cgroups/index.js";
import type { CgroupManager } from "../../src/cgroups/types.js";
import {
  blkioWeightFile,
  blockDevice,
  controllerDir,
  hugePageSizes,
  layout,
  noteSkip,
  TEST_CGROUP_PARENT,
  v2Controllers,
} from "../helpers/host.js";

const SIGKILL = 9;
const SIGTERM = 15;
let managers: CgroupManager[] = [];
let children: ChildProcess[] = [];
let extraDirs: string[] = [];

function newManager(sub = "", l?: CgroupLayout): CgroupManager {
  const name = `${TEST_CGROUP_PARENT}-${randomBytes(4).toString("hex")}${sub}`;
  const m = cgroupManager({ cgroupsPath: name, id: "x", layout: l });
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
/** Is `controller` a v1 one here (else it is in the cgroup2 tree)? Undefined: not available at all. */
const isV1 = (controller: string) => (controllerDir(controller) ? !controllerDir(controller)!.v2 : undefined);
/** The directory of manager `m` that holds `controller`. */
const dirOf = (m: CgroupManager, controller: string) => (isV1(controller) ? m.paths[controller] : m.paths.unified);
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

/** The cgroup mounts in /proc/self/mounts, parsed independently of src/cgroups/layout.ts. */
function mountedCgroups(): { v1: Map<string, string>; v2?: string } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of readFileSync("/proc/self/mounts", "utf8").split("\n")) {
    const [, point, type, opts] = line.split(" ");
    if (type === "cgroup2") v2 ??= point;
    if (type === "cgroup") for (const o of opts.split(",")) if (!v1.has(o)) v1.set(o, point);
  }
  return { v1, v2 };
}

describe("host layout", () => {
  it("matches the cgroup mounts in /proc/self/mounts", () => {
    const l = hostLayout();
    const { v1, v2 } = mountedCgroups();
    const realV1 = ["cpu", "memory", "pids", "freezer", "devices", "blkio", "cpuset"].filter((c) => v1.has(c));
    expect(l.mode).toBe(realV1.length === 0 ? "v2" : v2 ? "hybrid" : "v1");
    for (const c of realV1) expect(l.v1.find((h) => h.controllers.includes(c))?.mountpoint, c).toBe(v1.get(c));
    if (v1.has("name=systemd") && l.mode !== "v2") {
      expect(l.v1.some((h) => h.controllers.includes("name=systemd"))).toBe(true);
    }
    expect(l.unified?.mountpoint).toBe(v2);
  });
});

describe("cgroup lifecycle on this host", () => {
  it("creates every hierarchy's dir (cgroup2 too) and destroy removes them all", () => {
    const m = newManager();
    m.create();
    m.create(); // idempotent
    const dirs = Object.values(m.paths);
    const l = layout();
    if (l.unified) expect(m.paths.unified.startsWith(`${l.unified.mountpoint}${TEST_CGROUP_PARENT}-`)).toBe(true);
    for (const h of l.v1) expect(m.paths[h.controllers[0]].startsWith(`${h.mountpoint}${TEST_CGROUP_PARENT}-`)).toBe(true);
    expect(new Set(dirs).size).toBe(l.v1.length + (l.unified ? 1 : 0));
    for (const d of dirs) expect(existsSync(join(d, "cgroup.procs")), d).toBe(true);
    m.destroy();
    for (const d of dirs) expect(existsSync(d), d).toBe(false);
    m.destroy(); // missing dirs are fine
  });

  it.skipIf(isV1("cpuset") !== true)("fills cpuset.cpus/mems on every new level (v1), removes only the leaf", () => {
    const m = newManager("/mid/leaf");
    m.create();
    const leaf = m.paths.cpuset;
    const mid = join(leaf, "..");
    extraDirs.push(...[...new Set(Object.values(m.paths))].flatMap((d) => [join(d, "../.."), join(d, "..")]));
    const root = controllerDir("cpuset")!.hierarchy.mountpoint;
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

  it.skipIf(!controllerDir("pids"))("killAll(SIGKILL) catches a process that keeps forking", async () => {
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
    expect(existsSync(dirOf(m, "pids"))).toBe(false);
  });

  it("killAll(SIGTERM) goes through the freezer and leaves the cgroup thawed", async () => {
    const m = newManager();
    m.create();
    const c = await runIn(m, "exec sleep 1000");
    await sleep(100);
    m.killAll(SIGTERM);
    expect((await exited(c)).signal).toBe("SIGTERM");
    if (m.paths.freezer) expect(read(m.paths.freezer, "freezer.state")).toBe("THAWED");
    else expect(read(m.paths.unified, "cgroup.freeze")).toBe("0");
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
    const state = () => (m.paths.freezer ? read(m.paths.freezer, "freezer.state") : read(m.paths.unified, "cgroup.freeze"));
    m.freeze();
    expect(state()).toBe(m.paths.freezer ? "FROZEN" : "1");
    expect(m.isFrozen()).toBe(true);
    const t0 = cpuTime();
    await sleep(300);
    expect(cpuTime()).toBe(t0);
    m.thaw();
    expect(state()).toBe(m.paths.freezer ? "THAWED" : "0");
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
  it.skipIf(!controllerDir("memory"))("OOM-kills a memory hog at memory.limit", async () => {
    const m = newManager();
    m.create();
    const limit = 32 << 20;
    const dir = dirOf(m, "memory");
    const swapAccounting = existsSync(join(dir, isV1("memory") ? "memory.memsw.limit_in_bytes" : "memory.swap.max"));
    m.apply({ memory: swapAccounting ? { limit, swap: limit } : { limit } });
    if (isV1("memory")) {
      expect(Number(read(dir, "memory.limit_in_bytes"))).toBe(limit);
      if (swapAccounting) expect(Number(read(dir, "memory.memsw.limit_in_bytes"))).toBe(limit);
    } else {
      expect(Number(read(dir, "memory.max"))).toBe(limit);
      if (swapAccounting) expect(read(dir, "memory.swap.max")).toBe("0"); // v2 swap = memory+swap - memory
    }
    const c = await runIn(m, "head -c 200m /dev/zero | tail");
    const r = await exited(c);
    expect(r.code).toBe(137); // tail died of SIGKILL
    if (isV1("memory")) expect(read(dir, "memory.oom_control")).toMatch(/oom_kill [1-9]/);
    else expect(read(dir, "memory.events")).toMatch(/oom_kill [1-9]/);
  });

  it.skipIf(!controllerDir("pids"))("pids.limit stops forks", async () => {
    const m = newManager();
    m.create();
    m.apply({ pids: { limit: 5 } });
    const dir = dirOf(m, "pids");
    expect(read(dir, "pids.max")).toBe("5");
    const c = await runIn(m, "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1000 & done; sleep 1000");
    let err = "";
    c.stderr!.on("data", (d) => (err += d));
    await sleep(500);
    expect(m.pids().length).toBeLessThanOrEqual(5);
    expect(read(dir, "pids.events")).toMatch(/max [1-9]/);
    expect(err).toMatch(/fork/i);
  });

  it.skipIf(!controllerDir("cpu"))("cpu quota caps usage measured by the cgroup's own accounting", async () => {
    const m = newManager();
    m.create();
    m.apply({ cpu: { quota: 20000, period: 100000, shares: 512 } });
    let usage: () => number; // seconds of CPU used by the cgroup
    if (isV1("cpu")) {
      expect(read(m.paths.cpu, "cpu.cfs_quota_us")).toBe("20000");
      expect(read(m.paths.cpu, "cpu.shares")).toBe("512");
      usage = () => Number(read(m.paths.cpuacct, "cpuacct.usage")) / 1e9;
    } else {
      expect(read(m.paths.unified, "cpu.max")).toBe("20000 100000");
      expect(read(m.paths.unified, "cpu.weight")).toBe(String(1 + Math.floor(((512 - 2) * 9999) / 262142)));
      usage = () => Number(/usage_usec (\d+)/.exec(read(m.paths.unified, "cpu.stat"))![1]) / 1e6;
    }
    await runIn(m, "while :; do :; done");
    const u0 = usage();
    await sleep(1000);
    const used = usage() - u0;
    expect(used).toBeGreaterThan(0.05);
    expect(used).toBeLessThan(0.35); // 20% of one CPU, with slack; unthrottled would be ~1.0
  });

  it("applies hugetlb, devices and blkio where this host has them (hugetlb in cgroup2 on hybrid)", () => {
    const m = newManager();
    m.create();
    const dev = blockDevice();
    const hasHugetlb = !!controllerDir("hugetlb") && hugePageSizes().includes("2MB");
    const resources: Parameters<CgroupManager["apply"]>[0] = {
      devices: [
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      ],
    };
    if (hasHugetlb) resources.hugepageLimits = [{ pageSize: "2MB", limit: 4 << 20 }];
    else noteSkip("cgroups.test hugetlb", "no hugetlb controller or no 2MB huge pages on this host");
    const blkio = controllerDir(isV1("blkio") ? "blkio" : "io");
    const weightFile = blkio ? blkioWeightFile(dirOf(m, isV1("blkio") ? "blkio" : "io")) : undefined;
    if (blkio && dev) {
      resources.blockIO = { throttleReadBpsDevice: [{ major: dev.major, minor: dev.minor, rate: 1048576 }] };
      if (weightFile) resources.blockIO.weight = 300;
      else noteSkip("cgroups.test blkio weight", "no blkio weight files (the I/O scheduler is not BFQ/CFQ)");
    }
    if (isV1("memory")) resources.memory = { reservation: 8 << 20, swappiness: 10, disableOOMKiller: true };
    m.apply(resources);

    if (hasHugetlb) {
      const hugetlb = dirOf(m, "hugetlb");
      expect(read(hugetlb, isV1("hugetlb") ? "hugetlb.2MB.limit_in_bytes" : "hugetlb.2MB.max")).toBe(String(4 << 20));
      if (layout().mode === "hybrid" && !isV1("hugetlb")) expect(hugetlb).toBe(m.paths.unified);
    }
    if (isV1("devices")) expect(read(m.paths.devices, "devices.list")).toBe("c 1:3 rwm");
    if (blkio && dev && isV1("blkio")) {
      expect(read(m.paths.blkio, "blkio.throttle.read_bps_device")).toBe(`${dev.major}:${dev.minor} 1048576`);
      if (weightFile) expect(read(m.paths.blkio, weightFile)).toMatch(/300/);
    } else if (blkio && dev) {
      expect(read(m.paths.unified, "io.max")).toContain(`${dev.major}:${dev.minor} rbps=1048576`);
    }
    if (isV1("memory")) {
      expect(read(m.paths.memory, "memory.soft_limit_in_bytes")).toBe(String(8 << 20));
      expect(read(m.paths.memory, "memory.swappiness")).toBe("10");
      expect(read(m.paths.memory, "memory.oom_control")).toMatch(/oom_kill_disable 1/);
    }
  });

  it("a blkio weight without weight files is an error naming the field, never ignored", () => {
    const m = newManager();
    m.create();
    const ctrl = isV1("blkio") ? "blkio" : "io";
    if (!controllerDir(ctrl) || blkioWeightFile(dirOf(m, ctrl))) {
      // The host can weigh I/O: the weight must land in the file.
      if (!controllerDir(ctrl))
        return expect(() => m.apply({ blockIO: { weight: 300 } })).toThrow(/^linux.resources.blockIO.weight: /);
      m.apply({ blockIO: { weight: 300 } });
      expect(read(dirOf(m, ctrl), blkioWeightFile(dirOf(m, ctrl))!)).toMatch(/300/);
      return;
    }
    expect(() => m.apply({ blockIO: { weight: 300 } })).toThrow(/^linux.resources.blockIO.weight: /);
  });

  it.skipIf(isV1("memory") !== true)("orders memory and memsw writes so growing, shrinking and unlimiting all work (v1)", () => {
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
    const main = isV1("pids") ? m.paths.pids : Object.values(m.paths)[0];
    const child = join(main, "inner");
    mkdirSync(child);
    const c = spawn("sleep", ["1000"]);
    children.push(c);
    await new Promise((r) => c.once("spawn", r));
    for (const d of new Set(Object.values(m.paths))) if (d !== main) writeFileSync(join(d, "cgroup.procs"), String(c.pid));
    writeFileSync(join(child, "cgroup.procs"), String(c.pid));
    expect(m.pids()).toEqual([c.pid]);
    m.killAll(SIGKILL);
    expect((await exited(c)).signal).toBe("SIGKILL");
    m.destroy();
    expect(existsSync(main)).toBe(false);
  });

  it("refuses what this host cannot enforce, naming the field", () => {
    const m = newManager();
    m.create();
    if (!controllerDir("net_cls")) {
      expect(() => m.apply({ network: { classID: 0x100001 } })).toThrow(
        /^linux.resources.network.classID: net_cls controller is not mounted/,
      );
    }
    // A page size no kernel offers on this machine (x86 has 2MB and 1GB; arm64 64KB, 32MB …).
    const absent = ["64KB", "32MB", "16GB", "2MB", "1GB"].find((s) => !hugePageSizes().includes(s))!;
    expect(() => m.apply({ hugepageLimits: [{ pageSize: absent, limit: 1 }] })).toThrow(
      /^linux.resources.hugepageLimits(\[0\].pageSize)?: /,
    );
    if (isV1("cpu")) {
      expect(() => m.apply({ cpu: { shares: 1 } })).toThrow(
        /^linux.resources.cpu.shares: 1 is out of range: the kernel minimum is 2/,
      );
    }
  });
});

/**
 * The layout a pure cgroup v2 host has, built from this host's cgroup2 mount: the manager sees
 * only "unified" paths, so the v2 branches (cgroup.kill, cgroup.freeze, hugetlb.<size>.max,
 * "not available in the cgroup2 tree" errors) run here whatever the host's mode.
 */
const unifiedOnly: CgroupLayout | undefined = hostLayout().unified
  ? { mode: "v2", v1: [], unified: hostLayout().unified }
  : undefined;

describe.skipIf(!unifiedOnly)("a pure cgroup v2 manager on this host's cgroup2 mount", () => {
  it("creates only the cgroup2 dir, kills through cgroup.kill, freezes through cgroup.freeze", async () => {
    const m = newManager("", unifiedOnly);
    m.create();
    expect(Object.keys(m.paths)).toEqual(["unified"]);
    const c = await runIn(m, "while :; do :; done");
    await sleep(100);
    expect(m.pids()).toContain(c.pid);
    m.freeze();
    expect(read(m.paths.unified, "cgroup.freeze")).toBe("1");
    expect(read(m.paths.unified, "cgroup.events")).toMatch(/^frozen 1$/m);
    expect(m.isFrozen()).toBe(true);
    m.thaw();
    expect(m.isFrozen()).toBe(false);
    m.freeze();
    m.killAll(SIGKILL); // a frozen cgroup: cgroup.kill, then thaw so the kill lands
    expect((await exited(c)).signal).toBe("SIGKILL");
    expect(m.isFrozen()).toBe(false);
    for (let i = 0; i < 50 && m.pids().length; i++) await sleep(20);
    m.destroy();
    expect(existsSync(m.paths.unified)).toBe(false);
  });

  it("applies what the cgroup2 tree offers and names the field for what it does not", () => {
    const m = newManager("", unifiedOnly);
    m.create();
    const offered = v2Controllers();
    if (offered.includes("hugetlb") && hugePageSizes().includes("2MB")) {
      m.apply({ hugepageLimits: [{ pageSize: "2MB", limit: 2 << 20 }] });
      expect(read(m.paths.unified, "hugetlb.2MB.max")).toBe(String(2 << 20));
      expect(read(join(m.paths.unified, ".."), "cgroup.subtree_control").split(" ")).toContain("hugetlb");
    }
    for (const [ctrl, resources, field] of [
      ["memory", { memory: { limit: 64 << 20 } }, "linux.resources.memory.limit"],
      ["pids", { pids: { limit: 10 } }, "linux.resources.pids.limit"],
      ["cpu", { cpu: { quota: 1000, period: 100000 } }, "linux.resources.cpu.quota"],
    ] as const) {
      if (offered.includes(ctrl)) continue; // a real v2 host: the v2 writes are covered above
      expect(() => m.apply(resources), ctrl).toThrow(`${field}: ${ctrl} controller is not available in the cgroup2 tree`);
    }
    expect(() => m.apply({ memory: { swappiness: 10 } })).toThrow(/linux.resources.memory/);
  });
});

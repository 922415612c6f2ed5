// linux.resources -> cgroup files, against fake cgroup trees in a temp dir (plain files stand in
// for cgroupfs files; a write replaces the content, so each test reads back what was written last).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cgroupManager } from "../../src/cgroups/index.js";
import { parseLayout } from "../../src/cgroups/layout.js";
import { blkioWeightToIo } from "../../src/cgroups/v2/io.js";
import { cpuMax, sharesToWeight } from "../../src/cgroups/v2/cpu.js";
import { swapToV2 } from "../../src/cgroups/v2/memory.js";
import { deviceRuleLine } from "../../src/cgroups/v1/device-rules.js";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "polis-fakecg-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function files(dir: string, content: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [f, v] of Object.entries(content)) writeFileSync(join(dir, f), v);
}
const read = (...p: string[]) => readFileSync(join(...p), "utf8");

describe("conversions (runc's formulas)", () => {
  it("maps cpu shares to cpu.weight", () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
  });
  it("maps blkio weight to io.weight", () => {
    expect(blkioWeightToIo(10)).toBe(1);
    expect(blkioWeightToIo(500)).toBe(4950);
    expect(blkioWeightToIo(1000)).toBe(10000);
  });
  it("builds cpu.max", () => {
    expect(cpuMax(0, 0)).toBeUndefined();
    expect(cpuMax(50000, 100000)).toBe("50000 100000");
    expect(cpuMax(-1, 100000)).toBe("max 100000");
    expect(cpuMax(20000, 0)).toBe("20000");
  });
  it("converts memory+swap to memory.swap.max", () => {
    expect(swapToV2(0, -1)).toBe(-1);
    expect(swapToV2(-1, 1000)).toBe(-1);
    expect(swapToV2(3000, 1000)).toBe(2000);
    expect(() => swapToV2(500, 1000)).toThrow(/^linux.resources.memory.swap: memory\+swap limit \(500\) must be >= memory.limit/);
    expect(() => swapToV2(500, 0)).toThrow("linux.resources.memory.swap: cannot limit swap without a memory.limit");
  });
  it("formats device rules", () => {
    expect(deviceRuleLine({ allow: false, access: "rwm" }, 0)).toBe("a *:* rwm");
    expect(deviceRuleLine({ allow: true, type: "c", major: 1, minor: 3, access: "rw" }, 0)).toBe("c 1:3 rw");
    expect(deviceRuleLine({ allow: true, type: "c", major: 136, minor: null, access: "rwm" }, 0)).toBe("c 136:* rwm");
    expect(() => deviceRuleLine({ allow: true, type: "x" }, 2)).toThrow(/^linux.resources.devices\[2\].type: /);
    expect(() => deviceRuleLine({ allow: true, access: "rwx" }, 1)).toThrow(/^linux.resources.devices\[1\].access: /);
  });
});

describe("pure cgroup v2 fake tree", () => {
  function v2Manager(ctrls = "cpuset cpu io memory hugetlb pids") {
    const mnt = join(root, "cg");
    files(mnt, { "cgroup.controllers": ctrls, "cgroup.subtree_control": "" });
    files(join(mnt, "pod"), { "cgroup.controllers": ctrls, "cgroup.subtree_control": "" });
    const layout = parseLayout(`40 30 0:37 / ${mnt} rw - cgroup2 cgroup2 rw\n`, "0::/\n");
    const m = cgroupManager({ cgroupsPath: "/pod/c1", id: "c1", layout });
    return { mnt, m, leaf: join(mnt, "pod", "c1") };
  }

  it("resolves to the unified tree only and creates every level", () => {
    const { m, leaf, mnt } = v2Manager();
    expect(m.paths).toEqual({ unified: leaf });
    m.create();
    expect(existsSync(leaf)).toBe(true);
    expect(m.procsFiles()).toEqual([join(leaf, "cgroup.procs")]);
    // create() enabled the root's controllers for its children (a plain file keeps the last write)
    expect(read(mnt, "cgroup.subtree_control")).toMatch(/^\+/);
  });

  it("writes v2 files with runc's conversions", () => {
    const { m, leaf, mnt } = v2Manager();
    for (const d of [mnt, join(mnt, "pod")])
      writeFileSync(join(d, "cgroup.subtree_control"), "cpuset cpu io memory hugetlb pids");
    files(leaf, {
      "memory.max": "max",
      "memory.swap.max": "max",
      "memory.low": "0",
      "cpu.weight": "100",
      "cpu.max": "max 100000",
      "cpu.max.burst": "0",
      "cpu.idle": "0",
      "io.weight": "default 100",
      "io.max": "",
      "pids.max": "max",
      "hugetlb.2MB.max": "max",
      "cpuset.cpus": "",
      "cpuset.mems": "",
      "memory.high": "max",
    });
    m.apply({
      memory: { limit: 100 << 20, swap: 300 << 20, reservation: 50 << 20 },
      cpu: { shares: 1024, quota: 50000, period: 100000, burst: 1000, idle: 1, cpus: "0", mems: "0" },
      pids: { limit: 32 },
      blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] },
      hugepageLimits: [{ pageSize: "2MB", limit: 4194304 }],
      unified: { "memory.high": "90000000" },
    });
    expect(read(leaf, "memory.max")).toBe(String(100 << 20));
    expect(read(leaf, "memory.swap.max")).toBe(String(200 << 20));
    expect(read(leaf, "memory.low")).toBe(String(50 << 20));
    expect(read(leaf, "cpu.weight")).toBe("39");
    expect(read(leaf, "cpu.max")).toBe("50000 100000");
    expect(read(leaf, "cpu.max.burst")).toBe("1000");
    expect(read(leaf, "cpu.idle")).toBe("1");
    expect(read(leaf, "cpuset.cpus")).toBe("0");
    expect(read(leaf, "pids.max")).toBe("32");
    expect(read(leaf, "io.weight")).toBe("4950");
    expect(read(leaf, "io.max")).toBe("8:0 rbps=1048576");
    expect(read(leaf, "hugetlb.2MB.max")).toBe("4194304");
    expect(read(leaf, "memory.high")).toBe("90000000");
  });

  it("prefers io.bfq.weight (same scale as v1) when present", () => {
    const { m, leaf, mnt } = v2Manager();
    for (const d of [mnt, join(mnt, "pod")]) writeFileSync(join(d, "cgroup.subtree_control"), "io");
    files(leaf, { "io.bfq.weight": "default 100", "io.weight": "default 100" });
    m.apply({ blockIO: { weightDevice: [{ major: 8, minor: 16, weight: 300 }] } });
    expect(read(leaf, "io.bfq.weight")).toBe("8:16 300");
    expect(read(leaf, "io.weight")).toBe("default 100");
  });

  it("enables a missing controller in the parent's subtree_control", () => {
    const { m, leaf, mnt } = v2Manager();
    files(leaf, { "pids.max": "max" });
    m.apply({ pids: { limit: 10 } });
    // both levels got "+pids" (the fake files keep only the last write)
    expect(read(mnt, "cgroup.subtree_control")).toBe("+pids");
    expect(read(mnt, "pod", "cgroup.subtree_control")).toBe("+pids");
  });

  it("names the field for everything v2 cannot do", () => {
    const { m, leaf } = v2Manager("cpu memory pids");
    files(leaf, { "memory.max": "max" });
    // A fake tree is no cgroup: attaching the eBPF device program fails, naming the field.
    expect(() => m.apply({ devices: [{ allow: false, access: "rwm" }] })).toThrow(/^linux.resources.devices: /);
    expect(() => m.apply({ network: { classID: 1 } })).toThrow(
      "linux.resources.network.classID: net_cls controller is not mounted",
    );
    expect(() => m.apply({ cpu: { realtimeRuntime: 100 } })).toThrow(/^linux.resources.cpu.realtimeRuntime: /);
    expect(() => m.apply({ memory: { swappiness: 10 } })).toThrow(/^linux.resources.memory.swappiness: /);
    expect(() => m.apply({ memory: { disableOOMKiller: true } })).toThrow(/^linux.resources.memory.disableOOMKiller: /);
    expect(() => m.apply({ blockIO: { weight: 100 } })).toThrow(
      "linux.resources.blockIO.weight: io controller is not available in the cgroup2 tree",
    );
    expect(() => m.apply({ hugepageLimits: [{ pageSize: "2MB", limit: 1 }] })).toThrow(/^linux.resources.hugepageLimits: /);
    expect(() => m.apply({ unified: { "../x": "1" } })).toThrow(/^linux.resources.unified.\.\.\/x: /);
    expect(() => m.apply({ memory: { limit: 1.5 } })).toThrow("linux.resources.memory.limit: must be an integer");
  });

  it("asks nothing of controllers for empty resource objects", () => {
    const { m } = v2Manager("");
    expect(() => m.apply({ memory: {}, cpu: {}, blockIO: { weightDevice: [] }, hugepageLimits: [], devices: [] })).not.toThrow();
  });
});

describe("hybrid fake tree (v1 controllers + cgroup2 with only hugetlb)", () => {
  function hybrid() {
    const base = join(root, "sys");
    const ctrls = ["cpu", "cpuacct", "memory", "pids", "devices", "blkio", "freezer"];
    let mi = "";
    ctrls.forEach((c, i) => {
      files(join(base, c), { "cgroup.procs": "" });
      mi += `${31 + i} 30 0:${28 + i} / ${join(base, c)} rw - cgroup cgroup rw,${c}\n`;
    });
    files(join(base, "unified"), { "cgroup.controllers": "hugetlb", "cgroup.subtree_control": "" });
    mi += `40 30 0:37 / ${join(base, "unified")} rw - cgroup2 cgroup2 rw\n`;
    const layout = parseLayout(mi, "0::/\n");
    expect(layout.mode).toBe("hybrid");
    const m = cgroupManager({ cgroupsPath: "/c1", id: "c1", layout });
    m.create();
    return { base, m };
  }

  it("writes v1 files, memsw before the limit when growing, devices in order", () => {
    const { base, m } = hybrid();
    const mem = join(base, "memory", "c1");
    files(mem, {
      "memory.limit_in_bytes": "9223372036854771712",
      "memory.memsw.limit_in_bytes": "9223372036854771712",
      "memory.soft_limit_in_bytes": "0",
      "memory.swappiness": "60",
      "memory.oom_control": "0",
      "memory.kmem.tcp.limit_in_bytes": "0",
    });
    m.apply({
      memory: {
        limit: 64 << 20,
        swap: 64 << 20,
        reservation: 32 << 20,
        swappiness: 0,
        disableOOMKiller: true,
        kernelTCP: 1 << 20,
      },
    });
    expect(read(mem, "memory.limit_in_bytes")).toBe(String(64 << 20));
    expect(read(mem, "memory.memsw.limit_in_bytes")).toBe(String(64 << 20));
    expect(read(mem, "memory.soft_limit_in_bytes")).toBe(String(32 << 20));
    expect(read(mem, "memory.swappiness")).toBe("0");
    expect(read(mem, "memory.oom_control")).toBe("1");
    expect(read(mem, "memory.kmem.tcp.limit_in_bytes")).toBe(String(1 << 20));
    expect(() => m.apply({ memory: { kernel: 1 } })).toThrow(
      "linux.resources.memory.kernel: not supported by this kernel (no memory.kmem.limit_in_bytes)",
    );
    expect(() => m.apply({ memory: { swappiness: 101 } })).toThrow(
      "linux.resources.memory.swappiness: must be between 0 and 100, got 101",
    );

    // devices: only the difference to devices.list is written (the kernel side: cgroups.test.ts)
    const dev = join(base, "devices", "c1");
    const devices = [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    ];
    files(dev, { "devices.allow": "", "devices.deny": "", "devices.list": "c 1:3 rwm\n" });
    m.apply({ devices });
    expect(read(dev, "devices.deny")).toBe("");
    expect(read(dev, "devices.allow")).toBe("");
    // a devices.list that does not follow the writes (here: a plain file) is an error, not a silent pass
    files(dev, { "devices.list": "a *:* rwm\n" });
    expect(() => m.apply({ devices })).toThrow(
      `linux.resources.devices: ${dev}/devices.list does not hold the requested rules after 3 attempts`,
    );
    expect(read(dev, "devices.deny")).toBe("a *:* rwm");
    expect(read(dev, "devices.allow")).toBe("c 1:3 rwm");
  });

  it("writes cpu and blkio (bfq) v1 files and checks the shares read-back", () => {
    const { base, m } = hybrid();
    const cpu = join(base, "cpu", "c1");
    files(cpu, { "cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.cfs_burst_us": "0" });
    m.apply({ cpu: { shares: 512, quota: 20000, period: 50000, burst: 100 } });
    expect(read(cpu, "cpu.shares")).toBe("512");
    expect(read(cpu, "cpu.cfs_period_us")).toBe("50000");
    expect(read(cpu, "cpu.cfs_quota_us")).toBe("20000");
    expect(read(cpu, "cpu.cfs_burst_us")).toBe("100");
    expect(() => m.apply({ cpu: { realtimeRuntime: 1000 } })).toThrow(
      /^linux.resources.cpu.realtimeRuntime: real-time group scheduling is not enabled/,
    );
    const blk = join(base, "blkio", "c1");
    files(blk, { "blkio.bfq.weight": "100", "blkio.bfq.weight_device": "", "blkio.throttle.write_iops_device": "" });
    m.apply({
      blockIO: {
        weight: 200,
        weightDevice: [{ major: 8, minor: 0, weight: 300 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 50 }],
      },
    });
    expect(read(blk, "blkio.bfq.weight")).toBe("200");
    expect(read(blk, "blkio.bfq.weight_device")).toBe("8:0 300");
    expect(read(blk, "blkio.throttle.write_iops_device")).toBe("8:0 50");
    expect(() => m.apply({ blockIO: { leafWeight: 100 } })).toThrow(/^linux.resources.blockIO.leafWeight: not supported/);
    expect(() => m.apply({ blockIO: { weight: 5 } })).toThrow(
      "linux.resources.blockIO.weight: must be between 10 and 1000, got 5",
    );
  });

  it("sends hugetlb to the cgroup2 tree and enables it there", () => {
    const { base, m } = hybrid();
    const uni = join(base, "unified", "c1");
    expect(existsSync(uni)).toBe(true);
    files(uni, { "hugetlb.2MB.max": "max" });
    m.apply({ hugepageLimits: [{ pageSize: "2MB", limit: 2 << 20 }] });
    expect(read(uni, "hugetlb.2MB.max")).toBe(String(2 << 20));
    expect(read(base, "unified", "cgroup.subtree_control")).toBe("+hugetlb");
    expect(() => m.apply({ hugepageLimits: [{ pageSize: "1GB", limit: 1 }] })).toThrow(
      /^linux.resources.hugepageLimits\[0\].pageSize: 1GB is not a huge page size this kernel supports/,
    );
  });

  it("errors for controllers that are not mounted, never skipping silently", () => {
    const { m } = hybrid();
    expect(() => m.apply({ network: { classID: 0x100001 } })).toThrow(
      "linux.resources.network.classID: net_cls controller is not mounted",
    );
    expect(() => m.apply({ network: { priorities: [{ name: "eth0", priority: 1 }] } })).toThrow(
      "linux.resources.network.priorities: net_prio controller is not mounted",
    );
    expect(() => m.apply({ rdma: { mlx: { hcaHandles: 1 } } })).toThrow("linux.resources.rdma: rdma controller is not mounted");
    expect(() => m.apply({ cpu: { cpus: "0" } })).toThrow("linux.resources.cpu.cpus: cpuset controller is not mounted");
  });

  it("rebuilds the same manager from recorded paths", async () => {
    const { base, m } = hybrid();
    const { cgroupManagerFromPaths } = await import("../../src/cgroups/index.js");
    const again = cgroupManagerFromPaths(m.paths);
    expect(again.paths).toEqual(m.paths);
    expect(again.procsFiles()).toContain(join(base, "memory", "c1", "cgroup.procs"));
  });
});

describe("controllers this host lacks (rdma, net_cls, net_prio), on a fake tree", () => {
  it("writes rdma.max per device, only the limits given", async () => {
    const { applyResources } = await import("../../src/cgroups/apply.js");
    const dir = join(root, "rdma");
    files(dir, { "rdma.max": "" });
    applyResources({ rdma: dir }, { rdma: { mlx5_0: { hcaHandles: 3, hcaObjects: 10000 } } });
    expect(read(dir, "rdma.max")).toBe("mlx5_0 hca_handle=3 hca_object=10000");
    applyResources({ rdma: dir }, { rdma: { mlx4_0: { hcaObjects: 7 }, none: {} } });
    expect(read(dir, "rdma.max")).toBe("mlx4_0 hca_object=7"); // "none" sets nothing: no write
    expect(() => applyResources({ rdma: dir }, { rdma: { d: { hcaHandles: 1.5 } } })).toThrow(
      /^linux.resources.rdma.d.hcaHandles: /,
    );
  });

  it("writes net_cls.classid and one net_prio.ifpriomap line per interface", async () => {
    const { applyResources } = await import("../../src/cgroups/apply.js");
    const cls = join(root, "net_cls");
    const prio = join(root, "net_prio");
    files(cls, { "net_cls.classid": "0" });
    files(prio, { "net_prio.ifpriomap": "" });
    applyResources(
      { net_cls: cls, net_prio: prio },
      { network: { classID: 0x100001, priorities: [{ name: "eth0", priority: 5 }] } },
    );
    expect(read(cls, "net_cls.classid")).toBe(String(0x100001));
    expect(read(prio, "net_prio.ifpriomap")).toBe("eth0 5");
    rmSync(prio, { recursive: true });
    expect(() =>
      applyResources({ net_cls: cls, net_prio: prio }, { network: { priorities: [{ name: "lo", priority: 1 }] } }),
    ).toThrow(/^linux.resources.network.priorities\[0\]: write "lo 1" to .*net_prio.ifpriomap: ENOENT/);
  });
});

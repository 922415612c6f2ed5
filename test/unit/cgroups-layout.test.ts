import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { detectLayout, parseLayout } from "../../src/cgroups/layout.js";
import { resolvePaths } from "../../src/cgroups/paths.js";

// Fixtures, not this host: these tests feed parseLayout/resolvePaths mountinfo texts of each kind of
// host (hybrid, v1, pure v2) and check the paths they derive, so the literal paths are the point.
// A hybrid host: v1 controllers, cpu and cpuacct separate, name=systemd, cgroup2 at unified.
const HYBRID_MOUNTINFO = `22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_SELF = `9:name=systemd:/
6:freezer:/
4:memory:/process_api/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

describe("parseLayout", () => {
  it("reads a hybrid host with separate cpu and cpuacct mounts", () => {
    const l = parseLayout(HYBRID_MOUNTINFO, HYBRID_SELF);
    expect(l.mode).toBe("hybrid");
    expect(l.v1.map((h) => h.controllers.join(","))).toEqual(["cpu", "cpuacct", "cpuset", "memory", "freezer", "name=systemd"]);
    expect(l.v1.find((h) => h.controllers.includes("memory"))).toMatchObject({
      mountpoint: "/sys/fs/cgroup/memory",
      root: "/",
      own: "/process_api/abc",
    });
    expect(l.unified).toMatchObject({ mountpoint: "/sys/fs/cgroup/unified", own: "/" });
  });

  it("reads co-mounted cpu,cpuacct and a v1-only host", () => {
    const l = parseLayout(
      "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +
        "33 30 0:30 / /sys/fs/cgroup/pids rw shared:5 - cgroup cgroup rw,pids\n",
      "3:cpu,cpuacct:/user.slice\n2:pids:/\n",
    );
    expect(l.mode).toBe("v1");
    expect(l.unified).toBeUndefined();
    expect(l.v1[0]).toMatchObject({ controllers: ["cpu", "cpuacct"], own: "/user.slice" });
    // optional fields (shared:5) before the dash must not shift the parse
    expect(l.v1[1]).toMatchObject({ controllers: ["pids"], mountpoint: "/sys/fs/cgroup/pids" });
  });

  it("reads a pure v2 host, unescapes mountpoints and keeps the mount root", () => {
    const l = parseLayout(
      "40 30 0:37 /kubepods /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw,nsdelegate\n",
      "0::/kubepods/pod1\n",
    );
    expect(l.mode).toBe("v2");
    expect(l.v1).toEqual([]);
    expect(l.unified).toEqual({ controllers: [], mountpoint: "/sys/fs/cgroup x", root: "/kubepods", own: "/kubepods/pod1" });
  });

  it("fails clearly without any cgroup mount", () => {
    expect(() => parseLayout("22 1 0:21 / /sys rw - sysfs sysfs rw\n", "")).toThrow(
      /no cgroup v1 controllers and no cgroup2 mount/,
    );
  });
});

describe("detectLayout with injected files", () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it("reads the given mountinfo and cgroup files", () => {
    dir = mkdtempSync(join(tmpdir(), "polis-cg-"));
    writeFileSync(join(dir, "mountinfo"), HYBRID_MOUNTINFO);
    writeFileSync(join(dir, "cgroup"), HYBRID_SELF);
    const l = detectLayout({ mountinfo: join(dir, "mountinfo"), selfCgroup: join(dir, "cgroup") });
    expect(l.mode).toBe("hybrid");
  });

  it("names the missing mountinfo file and errno", () => {
    expect(() => detectLayout({ mountinfo: "/nonexistent/mountinfo" })).toThrow("read /nonexistent/mountinfo: ENOENT");
  });
});

describe("resolvePaths", () => {
  const hybrid = parseLayout(HYBRID_MOUNTINFO, HYBRID_SELF);

  it("puts an absolute path under every mountpoint, including the cgroup2 tree", () => {
    const p = resolvePaths(hybrid, { cgroupsPath: "/default/c1", id: "c1" });
    expect(p).toEqual({
      cpu: "/sys/fs/cgroup/cpu/default/c1",
      cpuacct: "/sys/fs/cgroup/cpuacct/default/c1",
      cpuset: "/sys/fs/cgroup/cpuset/default/c1",
      memory: "/sys/fs/cgroup/memory/default/c1",
      freezer: "/sys/fs/cgroup/freezer/default/c1",
      "name=systemd": "/sys/fs/cgroup/systemd/default/c1",
      unified: "/sys/fs/cgroup/unified/default/c1",
    });
  });

  it("puts a relative path under our own cgroup in each hierarchy", () => {
    const p = resolvePaths(hybrid, { cgroupsPath: "pods/c1", id: "c1" });
    expect(p.memory).toBe("/sys/fs/cgroup/memory/process_api/abc/pods/c1");
    expect(p.cpu).toBe("/sys/fs/cgroup/cpu/pods/c1");
    expect(p.unified).toBe("/sys/fs/cgroup/unified/pods/c1");
  });

  it("uses the container id relative to our own cgroup when cgroupsPath is absent (runc 1.1.5)", () => {
    const p = resolvePaths(hybrid, { id: "c9" });
    expect(p.memory).toBe("/sys/fs/cgroup/memory/process_api/abc/c9");
    expect(p.freezer).toBe("/sys/fs/cgroup/freezer/c9");
    expect(resolvePaths(hybrid, { id: "c9", cgroupsPath: "" }).cpu).toBe("/sys/fs/cgroup/cpu/c9");
  });

  it("shares one directory between co-mounted controllers", () => {
    const l = parseLayout("31 30 0:28 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n", "3:cpu,cpuacct:/\n");
    expect(resolvePaths(l, { cgroupsPath: "/x", id: "x" })).toEqual({ cpu: "/cg/cpu,cpuacct/x", cpuacct: "/cg/cpu,cpuacct/x" });
  });

  it("strips the mount root from our own cgroup (cgroup namespace / bind mount) on pure v2", () => {
    const l = parseLayout("40 30 0:37 /kubepods /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/kubepods/pod1\n");
    expect(resolvePaths(l, { cgroupsPath: "c1", id: "c1" })).toEqual({ unified: "/sys/fs/cgroup/pod1/c1" });
    expect(resolvePaths(l, { cgroupsPath: "/a/c1", id: "c1" })).toEqual({ unified: "/sys/fs/cgroup/a/c1" });
  });

  it("refuses --systemd-cgroup when systemd is not running", () => {
    expect(() => resolvePaths(hybrid, { id: "c1", systemd: true, systemdRunDir: "/nonexistent/systemd" })).toThrow(
      "--systemd-cgroup: systemd is not running (no /nonexistent/systemd)",
    );
  });

  it("refuses --systemd-cgroup clearly even when systemd runs", () => {
    const d = mkdtempSync(join(tmpdir(), "polis-sd-"));
    try {
      expect(() => resolvePaths(hybrid, { id: "c1", systemd: true, systemdRunDir: d })).toThrow(/not supported yet/);
    } finally {
      rmSync(d, { recursive: true });
    }
  });

  it("rejects systemd-style and escaping paths with the field name", () => {
    expect(() => resolvePaths(hybrid, { cgroupsPath: "system.slice:polis:c1", id: "c1" })).toThrow(
      /^linux.cgroupsPath: .*systemd path/,
    );
    expect(() => resolvePaths(hybrid, { cgroupsPath: "/", id: "c1" })).toThrow(/^linux.cgroupsPath: must name a cgroup below/);
    expect(() => resolvePaths(hybrid, { cgroupsPath: "./", id: "c1" })).toThrow(/^linux.cgroupsPath: must name a cgroup below/);
    expect(() => resolvePaths(hybrid, { cgroupsPath: "../../etc", id: "c1" })).toThrow(
      'linux.cgroupsPath: must not contain ".."',
    );
  });
});

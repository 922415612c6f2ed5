import { describe, expect, it } from "vitest";
import { PolisError } from "../../src/errors.js";
import * as M from "../../src/linux/mounts.js";
import { OpCode, Plan } from "../../src/linux/plan.js";
import type { Mount } from "../../src/spec/types.js";

const parse = (opts: string[]) => M.parseMountOptions(opts, "mounts[2].options");

describe("parseMountOptions", () => {
  it.each<[string, number]>([
    ["ro", M.MS_RDONLY],
    ["nosuid", M.MS_NOSUID],
    ["nodev", M.MS_NODEV],
    ["noexec", M.MS_NOEXEC],
    ["sync", M.MS_SYNCHRONOUS],
    ["dirsync", M.MS_DIRSYNC],
    ["remount", M.MS_REMOUNT],
    ["mand", M.MS_MANDLOCK],
    ["noatime", M.MS_NOATIME],
    ["nodiratime", M.MS_NODIRATIME],
    ["relatime", M.MS_RELATIME],
    ["strictatime", M.MS_STRICTATIME],
    ["lazytime", M.MS_LAZYTIME],
    ["nosymfollow", M.MS_NOSYMFOLLOW],
    ["bind", M.MS_BIND],
    ["rbind", M.MS_BIND | M.MS_REC],
    ["silent", M.MS_SILENT],
  ])("%s sets its flag", (opt, flag) => {
    const r = parse([opt]);
    expect(r.flags).toBe(flag);
    expect(r.clearFlags).toBe(0);
    expect(r.data).toBe("");
  });

  it.each<[string, string, number]>([
    ["rw", "ro", M.MS_RDONLY],
    ["suid", "nosuid", M.MS_NOSUID],
    ["dev", "nodev", M.MS_NODEV],
    ["exec", "noexec", M.MS_NOEXEC],
    ["async", "sync", M.MS_SYNCHRONOUS],
    ["nomand", "mand", M.MS_MANDLOCK],
    ["atime", "noatime", M.MS_NOATIME],
    ["diratime", "nodiratime", M.MS_NODIRATIME],
    ["norelatime", "relatime", M.MS_RELATIME],
    ["nostrictatime", "strictatime", M.MS_STRICTATIME],
    ["nolazytime", "lazytime", M.MS_LAZYTIME],
    ["symfollow", "nosymfollow", M.MS_NOSYMFOLLOW],
  ])("%s clears what %s set, in order", (clear, set, flag) => {
    expect(parse([set, clear])).toMatchObject({ flags: 0, clearFlags: flag });
    // the later option wins
    expect(parse([clear, set])).toMatchObject({ flags: flag, clearFlags: 0 });
  });

  it("combines flags and keeps the rest as filesystem data", () => {
    const r = parse(["nosuid", "strictatime", "mode=755", "size=65536k"]);
    expect(r.flags).toBe(M.MS_NOSUID | M.MS_STRICTATIME);
    expect(r.data).toBe("mode=755,size=65536k");
    expect(parse(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]).data).toBe(
      "newinstance,ptmxmode=0666,mode=0620,gid=5",
    );
  });

  it.each<[string, number]>([
    ["private", M.MS_PRIVATE],
    ["rprivate", M.MS_PRIVATE | M.MS_REC],
    ["shared", M.MS_SHARED],
    ["rshared", M.MS_SHARED | M.MS_REC],
    ["slave", M.MS_SLAVE],
    ["rslave", M.MS_SLAVE | M.MS_REC],
    ["unbindable", M.MS_UNBINDABLE],
    ["runbindable", M.MS_UNBINDABLE | M.MS_REC],
  ])("propagation %s is a separate mount call", (opt, flags) => {
    const r = parse(["bind", opt]);
    expect(r.propagation).toEqual([flags]);
    expect(r.flags).toBe(M.MS_BIND);
  });

  it("keeps several propagation options in order", () => {
    expect(parse(["rprivate", "shared"]).propagation).toEqual([M.MS_PRIVATE | M.MS_REC, M.MS_SHARED]);
  });

  it.each<[string, number, number]>([
    ["rro", M.MOUNT_ATTR_RDONLY, 0],
    ["rrw", 0, M.MOUNT_ATTR_RDONLY],
    ["rnosuid", M.MOUNT_ATTR_NOSUID, 0],
    ["rsuid", 0, M.MOUNT_ATTR_NOSUID],
    ["rnodev", M.MOUNT_ATTR_NODEV, 0],
    ["rdev", 0, M.MOUNT_ATTR_NODEV],
    ["rnoexec", M.MOUNT_ATTR_NOEXEC, 0],
    ["rexec", 0, M.MOUNT_ATTR_NOEXEC],
    ["rnodiratime", M.MOUNT_ATTR_NODIRATIME, 0],
    ["rdiratime", 0, M.MOUNT_ATTR_NODIRATIME],
    ["rrelatime", 0, M.MOUNT_ATTR__ATIME],
    ["rnorelatime", 0, 0],
    ["rnoatime", M.MOUNT_ATTR_NOATIME, M.MOUNT_ATTR__ATIME],
    ["ratime", 0, M.MOUNT_ATTR_NOATIME],
    ["rstrictatime", M.MOUNT_ATTR_STRICTATIME, M.MOUNT_ATTR__ATIME],
    ["rnostrictatime", 0, M.MOUNT_ATTR_STRICTATIME],
    ["rnosymfollow", M.MOUNT_ATTR_NOSYMFOLLOW, 0],
    ["rsymfollow", 0, M.MOUNT_ATTR_NOSYMFOLLOW],
  ])("recursive attribute %s -> set %i clr %i", (opt, set, clr) => {
    const r = parse([opt]);
    expect(r).toMatchObject({ attrSet: set, attrClr: clr, recursive: true, flags: 0, data: "" });
  });

  it("non-recursive options do not ask for mount_setattr", () => {
    expect(parse(["ro", "nosuid"]).recursive).toBe(false);
  });

  it("rejects id-mapped mounts naming the option", () => {
    expect(() => parse(["bind", "idmap"])).toThrow("mounts[2].options[1]: \"idmap\" (id-mapped mounts) is not supported");
    expect(() => parse(["ridmap"])).toThrow(PolisError);
  });
});

describe("rootfsPropagationFlags", () => {
  it("maps the keywords and leaves unset alone", () => {
    expect(M.rootfsPropagationFlags(undefined)).toBeUndefined();
    expect(M.rootfsPropagationFlags("")).toBeUndefined();
    expect(M.rootfsPropagationFlags("rprivate")).toBe(M.MS_PRIVATE | M.MS_REC);
    expect(M.rootfsPropagationFlags("slave")).toBe(M.MS_SLAVE);
  });
  it("names the field for an unknown keyword", () => {
    expect(() => M.rootfsPropagationFlags("rsharedd")).toThrow(/^linux\.rootfsPropagation: unknown propagation "rsharedd"/);
  });
});

describe("isBindMount / cleanDestination", () => {
  it("detects binds by option or type", () => {
    expect(M.isBindMount({ destination: "/a", type: "none", options: ["rbind"] })).toBe(true);
    expect(M.isBindMount({ destination: "/a", type: "bind" })).toBe(true);
    expect(M.isBindMount({ destination: "/a", type: "tmpfs", options: ["bind"] })).toBe(true);
    expect(M.isBindMount({ destination: "/a", type: "tmpfs" })).toBe(false);
  });
  it("normalises destinations", () => {
    expect(M.cleanDestination("/dev/")).toBe("/dev");
    expect(M.cleanDestination("dev//pts")).toBe("/dev/pts");
    expect(M.cleanDestination("/a/../b")).toBe("/b");
    expect(M.cleanDestination("/")).toBe("/");
  });
});

const R = "/bundle/rootfs";
function ops(m: Mount, over: Partial<M.MountContext> = {}) {
  const plan = new Plan();
  const ctx: M.MountContext = {
    rootfs: R,
    bundle: "/bundle",
    cgroupns: false,
    cgroupPaths: {},
    sourceKind: (p) => (p.endsWith(".conf") ? "file" : p.includes("missing") ? "missing" : "dir"),
    ...over,
  };
  const deferred = M.planMount(plan, m, 3, ctx);
  return { ops: plan.ops.map((o) => [OpCode[o.code], ...o.args.map(String)]), fields: plan.ops.map((o) => o.field), deferred };
}

describe("planMount", () => {
  it("proc: mkdir then mount, scoped to the rootfs", () => {
    const r = ops({ destination: "/proc", type: "proc", source: "proc" });
    expect(r.ops).toEqual([
      ["MKDIRS", "/proc", R, "dir"],
      ["MOUNT", "proc", "/proc", "proc", "0", "", R],
    ]);
    expect(r.fields).toEqual(["mounts[3]", "mounts[3]"]);
    expect(r.deferred).toBeUndefined();
  });

  it("read-only bind of a file: file mount point, bind, bind-remount with the flags", () => {
    const r = ops({ destination: "/etc/resolv.conf", type: "bind", source: "/host/resolv.conf", options: ["rbind", "ro", "nosuid", "rprivate"] });
    expect(r.ops).toEqual([
      ["MKDIRS", "/etc/resolv.conf", R, "file"],
      ["MOUNT", "/host/resolv.conf", "/etc/resolv.conf", "", String(M.MS_BIND | M.MS_REC), "", R],
      ["MOUNT", "", "/etc/resolv.conf", "", String(M.MS_PRIVATE | M.MS_REC), "", R],
      ["MOUNT", "", "/etc/resolv.conf", "", String(M.MS_REMOUNT | M.MS_BIND | M.MS_RDONLY | M.MS_NOSUID), "", R],
    ]);
  });

  it("plain bind: no remount, non-recursive; relative source resolved against the bundle", () => {
    const r = ops({ destination: "/data", source: "data", options: ["bind"] });
    expect(r.ops).toEqual([
      ["MKDIRS", "/data", R, "dir"],
      ["MOUNT", "/bundle/data", "/data", "", String(M.MS_BIND), "", R],
    ]);
  });

  it("bind by type alone is recursive", () => {
    expect(ops({ destination: "/data", type: "bind", source: "/d" }).ops[1][4]).toBe(String(M.MS_BIND | M.MS_REC));
  });

  it("recursive attributes become a MOUNT_SETATTR with AT_RECURSIVE", () => {
    const r = ops({ destination: "/data", type: "bind", source: "/d", options: ["rbind", "rro", "rnosuid"] });
    expect(r.ops.at(-1)).toEqual(["MOUNT_SETATTR", "/data", R, String(M.MOUNT_ATTR_RDONLY | M.MOUNT_ATTR_NOSUID), "0", "0", "1"]);
  });

  it("a missing bind source names mounts[i].source", () => {
    expect(() => ops({ destination: "/x", type: "bind", source: "/missing" })).toThrow("mounts[3].source: stat /missing: no such file or directory (ENOENT)");
  });

  it("id-mapped mounts are refused", () => {
    expect(() => ops({ destination: "/x", type: "bind", source: "/d", uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] })).toThrow(
      /^mounts\[3\]\.uidMappings: /,
    );
  });

  it("read-only tmpfs is mounted writable and remounted later", () => {
    const r = ops({ destination: "/tmp/", type: "tmpfs", source: "tmpfs", options: ["ro", "nodev", "mode=700"] });
    expect(r.ops[1]).toEqual(["MOUNT", "tmpfs", "/tmp", "tmpfs", String(M.MS_NODEV), "mode=700", R]);
    expect(r.deferred).toEqual({ field: "mounts[3]", destination: "/tmp", flags: M.MS_RDONLY | M.MS_NODEV });
  });

  it("other filesystems pass through with their type and data", () => {
    const r = ops({ destination: "/mnt", type: "ext4", source: "/dev/sdb1", options: ["noatime", "errors=remount-ro"] });
    expect(r.ops[1]).toEqual(["MOUNT", "/dev/sdb1", "/mnt", "ext4", String(M.MS_NOATIME), "errors=remount-ro", R]);
  });

  const hybrid = {
    cpu: "/sys/fs/cgroup/cpu/c1",
    cpuacct: "/sys/fs/cgroup/cpuacct/c1",
    "name=systemd": "/sys/fs/cgroup/systemd/c1",
    unified: "/sys/fs/cgroup/unified/c1",
  };
  const cg: Mount = { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "ro"] };
  const SAFE = M.MS_NOSUID | M.MS_NODEV | M.MS_NOEXEC;

  it("cgroup v1/hybrid without cgroupns: tmpfs + a bind of each container cgroup dir, then ro", () => {
    const r = ops(cg, { cgroupPaths: hybrid });
    const bind = (name: string) => [
      ["MKDIRS", `/sys/fs/cgroup/${name}`, R, "dir"],
      ["MOUNT", `/sys/fs/cgroup/${name}/c1`, `/sys/fs/cgroup/${name}`, "", String(M.MS_BIND | M.MS_REC), "", R],
      ["MOUNT", "", `/sys/fs/cgroup/${name}`, "", String(M.MS_REMOUNT | M.MS_BIND | SAFE | M.MS_RDONLY), "", R],
    ];
    expect(r.ops).toEqual([
      ["MKDIRS", "/sys/fs/cgroup", R, "dir"],
      ["MOUNT", "tmpfs", "/sys/fs/cgroup", "tmpfs", String(SAFE), "mode=755", R],
      ...bind("cpu"),
      ...bind("cpuacct"),
      ...bind("systemd"),
      ...bind("unified"),
      ["MOUNT", "", "/sys/fs/cgroup", "", String(M.MS_REMOUNT | M.MS_BIND | M.MS_RDONLY | SAFE), "", R],
    ]);
  });

  it("cgroup v1 with cgroupns: a cgroup mount per hierarchy; co-mounted ones get symlinks", () => {
    const r = ops(
      { ...cg, options: ["nosuid", "noexec", "nodev"] },
      { cgroupns: true, cgroupPaths: { cpu: "/sys/fs/cgroup/cpu,cpuacct/c1", cpuacct: "/sys/fs/cgroup/cpu,cpuacct/c1", "name=systemd": "/sys/fs/cgroup/systemd/c1" } },
    );
    expect(r.ops).toContainEqual(["MOUNT", "cgroup", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", String(SAFE), "cpu,cpuacct", R]);
    expect(r.ops).toContainEqual(["MOUNT", "cgroup", "/sys/fs/cgroup/systemd", "cgroup", String(SAFE), "name=systemd", R]);
    expect(r.ops).toContainEqual(["SYMLINK", "cpu,cpuacct", `${R}/sys/fs/cgroup/cpu`]);
    expect(r.ops).toContainEqual(["SYMLINK", "cpu,cpuacct", `${R}/sys/fs/cgroup/cpuacct`]);
    expect(r.ops.some((o) => o[0] === "MOUNT" && o[4] === String(M.MS_REMOUNT | M.MS_BIND | M.MS_RDONLY | SAFE))).toBe(false);
  });

  it("cgroup v2 only: cgroup2 with a cgroupns, else a bind of the container's dir", () => {
    const paths = { unified: "/sys/fs/cgroup/c1" };
    expect(ops(cg, { cgroupns: true, cgroupPaths: paths }).ops).toEqual([
      ["MKDIRS", "/sys/fs/cgroup", R, "dir"],
      ["MOUNT", "cgroup2", "/sys/fs/cgroup", "cgroup2", String(SAFE | M.MS_RDONLY), "", R],
    ]);
    expect(ops(cg, { cgroupPaths: paths }).ops).toEqual([
      ["MKDIRS", "/sys/fs/cgroup", R, "dir"],
      ["MOUNT", "/sys/fs/cgroup/c1", "/sys/fs/cgroup", "", String(M.MS_BIND | M.MS_REC), "", R],
      ["MOUNT", "", "/sys/fs/cgroup", "", String(M.MS_REMOUNT | M.MS_BIND | SAFE | M.MS_RDONLY), "", R],
    ]);
  });
});

describe("describeFlags", () => {
  it("names flags for messages", () => {
    expect(M.describeFlags(M.MS_RDONLY | M.MS_NOSUID)).toBe("ro,nosuid");
    expect(M.describeFlags(0)).toBe("no flags");
  });
});

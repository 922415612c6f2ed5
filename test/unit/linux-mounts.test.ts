import { describe, expect, it } from "vitest";
import { PolisError } from "../../src/errors.js";
import * as M from "../../src/linux/mounts.js";
import { OpCode, Plan } from "../../src/linux/plan.js";
import type { Mount } from "../../src/spec/types.js";
import { MOUNT_ATTR, MS } from "../../src/spec/names.js";

const parse = (opts: string[]) => M.parseMountOptions(opts, "mounts[2].options");

describe("parseMountOptions", () => {
  it.each<[string, number]>([
    ["ro", MS.RDONLY],
    ["nosuid", MS.NOSUID],
    ["nodev", MS.NODEV],
    ["noexec", MS.NOEXEC],
    ["sync", MS.SYNCHRONOUS],
    ["dirsync", MS.DIRSYNC],
    ["remount", MS.REMOUNT],
    ["mand", MS.MANDLOCK],
    ["noatime", MS.NOATIME],
    ["nodiratime", MS.NODIRATIME],
    ["relatime", MS.RELATIME],
    ["strictatime", MS.STRICTATIME],
    ["lazytime", MS.LAZYTIME],
    ["nosymfollow", MS.NOSYMFOLLOW],
    ["bind", MS.BIND],
    ["rbind", MS.BIND | MS.REC],
    ["silent", MS.SILENT],
    ["acl", MS.POSIXACL], // runc 1.1.5 too: MS_POSIXACL, not filesystem data
  ])("%s sets its flag", (opt, flag) => {
    const r = parse([opt]);
    expect(r.flags).toBe(flag);
    expect(r.clearFlags).toBe(0);
    expect(r.data).toBe("");
  });

  it.each<[string, string, number]>([
    ["rw", "ro", MS.RDONLY],
    ["suid", "nosuid", MS.NOSUID],
    ["dev", "nodev", MS.NODEV],
    ["exec", "noexec", MS.NOEXEC],
    ["async", "sync", MS.SYNCHRONOUS],
    ["nomand", "mand", MS.MANDLOCK],
    ["atime", "noatime", MS.NOATIME],
    ["diratime", "nodiratime", MS.NODIRATIME],
    ["norelatime", "relatime", MS.RELATIME],
    ["nostrictatime", "strictatime", MS.STRICTATIME],
    ["nolazytime", "lazytime", MS.LAZYTIME],
    ["symfollow", "nosymfollow", MS.NOSYMFOLLOW],
    ["noacl", "acl", MS.POSIXACL],
  ])("%s clears what %s set, in order", (clear, set, flag) => {
    expect(parse([set, clear])).toMatchObject({ flags: 0, clearFlags: flag });
    // the later option wins
    expect(parse([clear, set])).toMatchObject({ flags: flag, clearFlags: 0 });
  });

  it("combines flags and keeps the rest as filesystem data", () => {
    const r = parse(["nosuid", "strictatime", "mode=755", "size=65536k"]);
    expect(r.flags).toBe(MS.NOSUID | MS.STRICTATIME);
    expect(r.data).toBe("mode=755,size=65536k");
    expect(parse(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]).data).toBe(
      "newinstance,ptmxmode=0666,mode=0620,gid=5",
    );
  });

  it.each<[string, number]>([
    ["private", MS.PRIVATE],
    ["rprivate", MS.PRIVATE | MS.REC],
    ["shared", MS.SHARED],
    ["rshared", MS.SHARED | MS.REC],
    ["slave", MS.SLAVE],
    ["rslave", MS.SLAVE | MS.REC],
    ["unbindable", MS.UNBINDABLE],
    ["runbindable", MS.UNBINDABLE | MS.REC],
  ])("propagation %s is a separate mount call", (opt, flags) => {
    const r = parse(["bind", opt]);
    expect(r.propagation).toEqual([flags]);
    expect(r.flags).toBe(MS.BIND);
  });

  it("keeps several propagation options in order", () => {
    expect(parse(["rprivate", "shared"]).propagation).toEqual([MS.PRIVATE | MS.REC, MS.SHARED]);
  });

  it.each<[string, number, number]>([
    ["rro", MOUNT_ATTR.RDONLY, 0],
    ["rrw", 0, MOUNT_ATTR.RDONLY],
    ["rnosuid", MOUNT_ATTR.NOSUID, 0],
    ["rsuid", 0, MOUNT_ATTR.NOSUID],
    ["rnodev", MOUNT_ATTR.NODEV, 0],
    ["rdev", 0, MOUNT_ATTR.NODEV],
    ["rnoexec", MOUNT_ATTR.NOEXEC, 0],
    ["rexec", 0, MOUNT_ATTR.NOEXEC],
    ["rnodiratime", MOUNT_ATTR.NODIRATIME, 0],
    ["rdiratime", 0, MOUNT_ATTR.NODIRATIME],
    ["rrelatime", 0, MOUNT_ATTR._ATIME],
    ["rnorelatime", 0, 0],
    ["rnoatime", MOUNT_ATTR.NOATIME, MOUNT_ATTR._ATIME],
    ["ratime", 0, MOUNT_ATTR.NOATIME],
    ["rstrictatime", MOUNT_ATTR.STRICTATIME, MOUNT_ATTR._ATIME],
    ["rnostrictatime", 0, MOUNT_ATTR.STRICTATIME],
    ["rnosymfollow", MOUNT_ATTR.NOSYMFOLLOW, 0],
    ["rsymfollow", 0, MOUNT_ATTR.NOSYMFOLLOW],
  ])("recursive attribute %s -> set %i clr %i", (opt, set, clr) => {
    const r = parse([opt]);
    expect(r).toMatchObject({ attrSet: set, attrClr: clr, recursive: true, flags: 0, data: "" });
  });

  it("non-recursive options do not ask for mount_setattr", () => {
    expect(parse(["ro", "nosuid"]).recursive).toBe(false);
  });

  it("rejects id-mapped mounts naming the option", () => {
    expect(() => parse(["bind", "idmap"])).toThrow('mounts[2].options[1]: "idmap" (id-mapped mounts) is not supported');
    expect(() => parse(["ridmap"])).toThrow(PolisError);
  });
});

describe("rootfsPropagationFlags", () => {
  it("maps the keywords and leaves unset alone", () => {
    expect(M.rootfsPropagationFlags(undefined)).toBeUndefined();
    expect(M.rootfsPropagationFlags("")).toBeUndefined();
    expect(M.rootfsPropagationFlags("rprivate")).toBe(MS.PRIVATE | MS.REC);
    expect(M.rootfsPropagationFlags("slave")).toBe(MS.SLAVE);
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
    const r = ops({
      destination: "/etc/resolv.conf",
      type: "bind",
      source: "/host/resolv.conf",
      options: ["rbind", "ro", "nosuid", "rprivate"],
    });
    expect(r.ops).toEqual([
      ["MKDIRS", "/etc/resolv.conf", R, "file"],
      ["MOUNT", "/host/resolv.conf", "/etc/resolv.conf", "", String(MS.BIND | MS.REC), "", R],
      ["MOUNT", "", "/etc/resolv.conf", "", String(MS.PRIVATE | MS.REC), "", R],
      ["MOUNT", "", "/etc/resolv.conf", "", String(MS.REMOUNT | MS.BIND | MS.RDONLY | MS.NOSUID), "", R],
    ]);
  });

  it("plain bind: no remount, non-recursive; relative source resolved against the bundle", () => {
    const r = ops({ destination: "/data", source: "data", options: ["bind"] });
    expect(r.ops).toEqual([
      ["MKDIRS", "/data", R, "dir"],
      ["MOUNT", "/bundle/data", "/data", "", String(MS.BIND), "", R],
    ]);
  });

  it("bind by type alone is recursive", () => {
    expect(ops({ destination: "/data", type: "bind", source: "/d" }).ops[1][4]).toBe(String(MS.BIND | MS.REC));
  });

  it("recursive attributes become a MOUNT_SETATTR with AT_RECURSIVE", () => {
    const r = ops({ destination: "/data", type: "bind", source: "/d", options: ["rbind", "rro", "rnosuid"] });
    expect(r.ops.at(-1)).toEqual(["MOUNT_SETATTR", "/data", R, String(MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOSUID), "0", "0", "1"]);
  });

  it("a missing bind source names mounts[i].source", () => {
    expect(() => ops({ destination: "/x", type: "bind", source: "/missing" })).toThrow(
      "mounts[3].source: stat /missing: no such file or directory (ENOENT)",
    );
  });

  it("id-mapped mounts are refused", () => {
    expect(() =>
      ops({ destination: "/x", type: "bind", source: "/d", uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }),
    ).toThrow(/^mounts\[3\]\.uidMappings: /);
  });

  it("read-only tmpfs is mounted writable and remounted later", () => {
    const r = ops({ destination: "/tmp/", type: "tmpfs", source: "tmpfs", options: ["ro", "nodev", "mode=700"] });
    expect(r.ops[1]).toEqual(["MOUNT", "tmpfs", "/tmp", "tmpfs", String(MS.NODEV), "mode=700", R]);
    expect(r.deferred).toEqual({ field: "mounts[3]", destination: "/tmp", flags: MS.RDONLY | MS.NODEV });
  });

  it("other filesystems pass through with their type and data", () => {
    const r = ops({ destination: "/mnt", type: "ext4", source: "/dev/sdb1", options: ["noatime", "errors=remount-ro"] });
    expect(r.ops[1]).toEqual(["MOUNT", "/dev/sdb1", "/mnt", "ext4", String(MS.NOATIME), "errors=remount-ro", R]);
  });

  // Recorded cgroup paths of a hybrid host, as the planner receives them (pure input: the planner
  // must map exactly these into the container, whatever host runs the test).
  const hybrid = {
    cpu: "/sys/fs/cgroup/cpu/c1",
    cpuacct: "/sys/fs/cgroup/cpuacct/c1",
    "name=systemd": "/sys/fs/cgroup/systemd/c1",
    unified: "/sys/fs/cgroup/unified/c1",
  };
  const cg: Mount = {
    destination: "/sys/fs/cgroup",
    type: "cgroup",
    source: "cgroup",
    options: ["nosuid", "noexec", "nodev", "ro"],
  };
  const SAFE = MS.NOSUID | MS.NODEV | MS.NOEXEC;

  it("cgroup v1/hybrid without cgroupns: tmpfs + a bind of each container cgroup dir, then ro", () => {
    const r = ops(cg, { cgroupPaths: hybrid });
    const bind = (name: string) => [
      ["MKDIRS", `/sys/fs/cgroup/${name}`, R, "dir"],
      ["MOUNT", `/sys/fs/cgroup/${name}/c1`, `/sys/fs/cgroup/${name}`, "", String(MS.BIND | MS.REC), "", R],
      ["MOUNT", "", `/sys/fs/cgroup/${name}`, "", String(MS.REMOUNT | MS.BIND | SAFE | MS.RDONLY), "", R],
    ];
    expect(r.ops).toEqual([
      ["MKDIRS", "/sys/fs/cgroup", R, "dir"],
      ["MOUNT", "tmpfs", "/sys/fs/cgroup", "tmpfs", String(SAFE), "mode=755", R],
      ...bind("cpu"),
      ...bind("cpuacct"),
      ...bind("systemd"),
      ...bind("unified"),
      ["MOUNT", "", "/sys/fs/cgroup", "", String(MS.REMOUNT | MS.BIND | MS.RDONLY | SAFE), "", R],
    ]);
  });

  it("cgroup v1 with cgroupns: a cgroup mount per hierarchy; co-mounted ones get symlinks", () => {
    const r = ops(
      { ...cg, options: ["nosuid", "noexec", "nodev"] },
      {
        cgroupns: true,
        cgroupPaths: {
          cpu: "/sys/fs/cgroup/cpu,cpuacct/c1",
          cpuacct: "/sys/fs/cgroup/cpu,cpuacct/c1",
          "name=systemd": "/sys/fs/cgroup/systemd/c1",
        },
      },
    );
    expect(r.ops).toContainEqual(["MOUNT", "cgroup", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", String(SAFE), "cpu,cpuacct", R]);
    expect(r.ops).toContainEqual(["MOUNT", "cgroup", "/sys/fs/cgroup/systemd", "cgroup", String(SAFE), "name=systemd", R]);
    expect(r.ops).toContainEqual(["SYMLINK", "cpu,cpuacct", "/sys/fs/cgroup/cpu", R]);
    expect(r.ops).toContainEqual(["SYMLINK", "cpu,cpuacct", "/sys/fs/cgroup/cpuacct", R]);
    expect(r.ops.some((o) => o[0] === "MOUNT" && o[4] === String(MS.REMOUNT | MS.BIND | MS.RDONLY | SAFE))).toBe(false);
  });

  it("cgroup v2 only: cgroup2 with a cgroupns, else a bind of the container's dir", () => {
    const paths = { unified: "/sys/fs/cgroup/c1" };
    expect(ops(cg, { cgroupns: true, cgroupPaths: paths }).ops).toEqual([
      ["MKDIRS", "/sys/fs/cgroup", R, "dir"],
      ["MOUNT", "cgroup2", "/sys/fs/cgroup", "cgroup2", String(SAFE | MS.RDONLY), "", R],
    ]);
    expect(ops(cg, { cgroupPaths: paths }).ops).toEqual([
      ["MKDIRS", "/sys/fs/cgroup", R, "dir"],
      ["MOUNT", "/sys/fs/cgroup/c1", "/sys/fs/cgroup", "", String(MS.BIND | MS.REC), "", R],
      ["MOUNT", "", "/sys/fs/cgroup", "", String(MS.REMOUNT | MS.BIND | SAFE | MS.RDONLY), "", R],
    ]);
  });
});

describe("describeFlags", () => {
  it("names flags for messages", () => {
    expect(M.describeFlags(MS.RDONLY | MS.NOSUID)).toBe("ro,nosuid");
    expect(M.describeFlags(0)).toBe("no flags");
  });
});

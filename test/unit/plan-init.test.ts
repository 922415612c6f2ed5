import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildInitPlan, pathFromEnv, sessionKeyringName, type InitPlanInput } from "../../src/container/plan-init.js";
import { OpCode } from "../../src/linux/plan.js";
import type { Spec } from "../../src/spec/types.js";
import { MS } from "../../src/spec/names.js";

const fixture = (): Spec => JSON.parse(readFileSync(new URL("../fixtures/runc-default-config.json", import.meta.url), "utf8"));
const R = "/b/rootfs";
const FIFO = "/run/polis/c1/exec.fifo";

function build(spec: Spec, over: Partial<InitPlanInput> = {}) {
  return buildInitPlan({
    spec,
    rootfs: R,
    fifoPath: FIFO,
    noPivot: false,
    cgroupProcs: ["/sys/fs/cgroup/pids/c1/cgroup.procs", "/sys/fs/cgroup/unified/c1/cgroup.procs"],
    cgroupPaths: { pids: "/sys/fs/cgroup/pids/c1", unified: "/sys/fs/cgroup/unified/c1" },
    mode: "detach",
    hostHasKcore: true,
    bundle: "/b",
    sourceKind: () => "dir",
    ...over,
  });
}
const wire = (p: ReturnType<typeof build>) => p.ops.map((o) => [OpCode[o.code], ...o.args.map(String)]);
const names = (p: ReturnType<typeof build>) => p.ops.map((o) => OpCode[o.code]);

describe("buildInitPlan: runc's default config", () => {
  // The order itself is checked by rules over generated configs, and one small golden, in
  // plan-init-order.test.ts.
  it("every op names its config field and says what it does", () => {
    const p = build(fixture());
    for (const op of p.ops) {
      expect(op.field).toMatch(/^[a-zA-Z]+(\.[a-zA-Z.]+|\[\d+\])*(\[\d+\])?(\.[a-zA-Z]+)*$/);
      expect(op.what.length).toBeGreaterThan(3);
    }
    const byWhat = (w: string) => p.ops.find((o) => o.what === w)!;
    expect(byWhat("mount sysfs on /sys").field).toBe("mounts[5]");
    expect(byWhat("mask /proc/kcore").field).toBe("linux.maskedPaths[2]");
    expect(byWhat("make /proc/sys read-only").field).toBe("linux.readonlyPaths[3]");
    expect(byWhat("set RLIMIT_NOFILE to 1024/1024").field).toBe("process.rlimits[0]");
    expect(byWhat("find executable sh").field).toBe("process.args[0]");
    expect(byWhat("pivot_root to /b/rootfs").field).toBe("root.path");
    expect(byWhat("remount / read-only").field).toBe("root.readonly");
  });

  it("encodes to the wire format", () => {
    const buf = build(fixture()).encode();
    expect(buf.readUInt32LE(0)).toBe(OpCode.CGROUP_JOIN);
    expect(buf.readUInt32LE(buf.length - 8)).toBe(OpCode.END);
  });
});

describe("buildInitPlan: variations", () => {
  it("terminal + console socket: socket before clone, CONSOLE after pivot with the size", () => {
    const s = fixture();
    s.process!.consoleSize = { height: 40, width: 120 };
    const p = build(s, { consoleSocket: "/tmp/pty.sock" });
    const w = wire(p);
    const iSock = w.findIndex((o) => o[0] === "CONSOLE_SOCKET");
    const iClone = names(p).indexOf("CLONE");
    const iPivot = names(p).indexOf("PIVOT_ROOT");
    const iCons = w.findIndex((o) => o[0] === "CONSOLE");
    expect(w[iSock]).toEqual(["CONSOLE_SOCKET", "/tmp/pty.sock"]);
    expect(iSock).toBeLessThan(iClone);
    expect(w[iCons]).toEqual(["CONSOLE", "40", "120", "-1"]); // root: the owner stays
    expect(iCons).toBeGreaterThan(iPivot);
    expect(iCons).toBeLessThan(names(p).indexOf("RLIMIT"));
  });

  it("no console ops without a console socket or without terminal", () => {
    expect(names(build(fixture()))).not.toContain("CONSOLE");
    const s = fixture();
    s.process!.terminal = false;
    expect(names(build(s, { consoleSocket: "/tmp/x" }))).not.toContain("CONSOLE_SOCKET");
  });

  it("--no-pivot uses MOVE_ROOT", () => {
    const n = names(build(fixture(), { noPivot: true }));
    expect(n).toContain("MOVE_ROOT");
    expect(n).not.toContain("PIVOT_ROOT");
  });

  it("rootfsPropagation replaces the default and is re-applied after pivot", () => {
    const s = fixture();
    s.linux!.rootfsPropagation = "rshared";
    const p = build(s);
    const props = p.ops.filter((o) => o.field === "linux.rootfsPropagation").map((o) => o.args.map(String));
    expect(props).toEqual([
      ["", "/", "", String(MS.SHARED | MS.REC), "", ""],
      ["", "/", "", String(MS.SHARED | MS.REC), "", ""],
    ]);
    expect(p.ops.findIndex((o) => o.field === "linux.rootfsPropagation" && o.what.startsWith("make"))).toBeLessThan(
      names(p).indexOf("PIVOT_ROOT"),
    );
    expect(names(p)[names(p).indexOf("PIVOT_ROOT") + 1]).toBe("MOUNT");
  });

  it("bad rootfsPropagation, and private without pivot_root, are errors", () => {
    const s = fixture();
    s.linux!.rootfsPropagation = "sideways";
    expect(() => build(s)).toThrow(/^linux\.rootfsPropagation: unknown propagation "sideways"/);
    s.linux!.rootfsPropagation = "rprivate";
    expect(() => build(s, { noPivot: true })).toThrow(/^linux\.rootfsPropagation: .*--no-pivot/);
  });

  it("new user namespace: maps on CLONE, BECOME_ROOT, devices bound instead of mknod", () => {
    const s = fixture();
    s.linux!.namespaces!.push({ type: "user" });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 1000 }];
    const p = build(s);
    const w = wire(p);
    expect(w.find((o) => o[0] === "CLONE")).toEqual([
      "CLONE",
      String(0x7c020000),
      "0 100000 65536\n",
      "0 200000 1000\n",
      "",
      "detach",
    ]);
    expect(names(p).slice(names(p).indexOf("CLONE"), names(p).indexOf("CLONE") + 4)).toEqual([
      "CLONE",
      "SETSID",
      "FIFO_OPEN",
      "BECOME_ROOT",
    ]);
    expect(names(p)).not.toContain("MKNOD");
    expect(w).toContainEqual(["MOUNT", "/dev/null", "/dev/null", "", String(MS.BIND), "", R]);
  });

  it("a new user namespace without mappings is an error", () => {
    const s = fixture();
    s.linux!.namespaces!.push({ type: "user" });
    expect(() => build(s)).toThrow(/^linux\.uidMappings: /);
  });

  it("joined namespaces: SETNS before CLONE in safe order, and not in CLONE's flags", () => {
    const s = fixture();
    s.linux!.namespaces = [
      { type: "mount" },
      { type: "network", path: "/run/netns/n1" },
      { type: "pid" },
      { type: "user", path: "/proc/7/ns/user" },
      { type: "uts" },
    ];
    const p = build(s);
    const w = wire(p);
    const setns = p.ops.filter((o) => o.code === OpCode.SETNS);
    expect(setns.map((o) => [o.field, ...o.args])).toEqual([
      ["linux.namespaces[3]", "user", "/proc/7/ns/user"],
      ["linux.namespaces[1]", "network", "/run/netns/n1"],
    ]);
    expect(w.find((o) => o[0] === "CLONE")![1]).toBe(String(0x20000 | 0x20000000 | 0x04000000));
    expect(names(p)).not.toContain("BECOME_ROOT");
    // the fifo is opened in the child as usual (no mount namespace joined)
    expect(names(p).indexOf("FIFO_OPEN")).toBeGreaterThan(names(p).indexOf("CLONE"));
  });

  it("joining a mount namespace opens the fifo first, while the host path is visible", () => {
    const s = fixture();
    s.linux!.namespaces = [{ type: "mount", path: "/proc/7/ns/mnt" }, { type: "uts" }];
    const n = names(build(s));
    expect(n.indexOf("FIFO_OPEN")).toBeLessThan(n.indexOf("SETNS"));
    expect(n.filter((x) => x === "FIFO_OPEN")).toHaveLength(1);
  });

  it("time namespace: TIMENS with offsets before CLONE", () => {
    const s = fixture();
    s.linux!.namespaces!.push({ type: "time" });
    s.linux!.timeOffsets = { monotonic: { secs: 100, nanosecs: 0 }, boottime: { secs: 5, nanosecs: 7 } };
    const p = build(s);
    const i = names(p).indexOf("TIMENS");
    expect(wire(p)[i]).toEqual(["TIMENS", "monotonic 100 0\nboottime 5 7\n"]);
    expect(p.ops[i].field).toBe("linux.namespaces[5]");
    expect(names(p)[i + 1]).toBe("CLONE");
    expect(wire(p)[i + 1][1]).toBe(String(0x6c020000));
  });

  it("hostname/domainname without a UTS namespace fail like runc", () => {
    const s = fixture();
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "uts");
    expect(() => build(s)).toThrow("hostname: unable to set hostname without a private UTS namespace");
    delete s.hostname;
    s.domainname = "example.org";
    expect(() => build(s)).toThrow("domainname: unable to set domainname without a private UTS namespace");
  });

  it("no mount namespace: the runtime's is inherited (no propagation change, no rootfs bind), chroot instead of pivot", () => {
    const s = fixture();
    s.linux!.namespaces = [{ type: "pid" }, { type: "uts" }];
    // runc's own words for what needs a private mount namespace
    expect(() => build(s)).toThrow("linux.maskedPaths: unable to restrict sys entries without a private MNT namespace");
    delete s.linux!.maskedPaths;
    expect(() => build(s)).toThrow("linux.readonlyPaths: unable to restrict sys entries without a private MNT namespace");
    delete s.linux!.readonlyPaths;
    expect(() => build(s)).toThrow(/^root\.readonly: /);
    s.root!.readonly = false;
    const p = build(s);
    const ns = names(p);
    expect(ns).toContain("CHROOT");
    expect(ns).not.toContain("PIVOT_ROOT");
    expect(p.ops.filter((o) => o.code === OpCode.MOUNT && (o.args[1] === "/" || o.args[1] === R))).toEqual([]);
    expect(p.ops.find((o) => o.code === OpCode.CHROOT)!.args).toEqual([R]);
    expect(build(s, { noPivot: true }).ops.some((o) => o.code === OpCode.MOVE_ROOT)).toBe(false);
    s.linux!.rootfsPropagation = "rshared";
    expect(() => build(s)).toThrow(/^linux\.rootfsPropagation: /);
  });

  it("sysctl, domainname, oom, ioprio, scheduler, personality, umask, groups, ambient", () => {
    const s = fixture();
    s.domainname = "example.org";
    s.linux!.sysctl = { "net.ipv4.ip_forward": "1", "kernel.msgmax": "8192" };
    s.linux!.personality = { domain: "LINUX32" };
    s.process!.oomScoreAdj = -500;
    s.process!.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 4 };
    s.process!.scheduler = { policy: "SCHED_BATCH", nice: 3 };
    s.process!.user = { uid: 1000, gid: 1000, umask: 0o077, additionalGids: [10, 20] };
    s.process!.cwd = "/home/u";
    s.process!.capabilities!.inheritable = ["CAP_KILL"];
    const p = build(s);
    const w = wire(p);
    const after = (a: string) => names(p).indexOf(a);
    expect(w).toContainEqual(["SETDOMAINNAME", "example.org"]);
    expect(w).toContainEqual(["WRITE_FILE", "/proc/sys/net/ipv4/ip_forward", "1"]);
    expect(w).toContainEqual(["WRITE_FILE", "/proc/sys/kernel/msgmax", "8192"]);
    expect(p.ops.find((o) => o.args[0] === "/proc/sys/kernel/msgmax")!.field).toBe("linux.sysctl.kernel.msgmax");
    // sysctls go before /proc/sys becomes read-only
    expect(w.findIndex((o) => o[1] === "/proc/sys/kernel/msgmax")).toBeLessThan(
      w.findIndex((o) => o[0] === "READONLY" && o[1] === "/proc/sys"),
    );
    expect(w).toContainEqual(["WRITE_FILE", "/proc/self/oom_score_adj", "-500"]);
    expect(w).toContainEqual(["IOPRIO", "2", "4"]);
    expect(w).toContainEqual(["SCHED", "3", "0", "3", "0", "0", "0", "0"]);
    expect(w).toContainEqual(["PERSONALITY", "8"]);
    expect(w).toContainEqual(["USER", "1000", "1000", "10,20", "077"]);
    expect(w).toContainEqual(["MKDIRS", "/home/u", "/", "dir"]);
    expect(w).toContainEqual(["CHDIR", "/home/u"]);
    expect(w).toContainEqual(["CAP_AMBIENT", "0x20"]);
    // privileged steps before the user switch; caps after it
    for (const op of ["RLIMIT", "WRITE_FILE", "IOPRIO", "SCHED", "PERSONALITY", "CAP_BOUNDING"])
      expect(after(op)).toBeLessThan(after("USER"));
    expect(after("CAPS")).toBeGreaterThan(after("USER"));
    expect(after("FIND_EXEC")).toBeGreaterThan(after("CHDIR"));
    expect(after("FIND_EXEC")).toBeLessThan(after("READY"));
  });

  it("no capabilities object leaves the capability sets alone", () => {
    const s = fixture();
    delete s.process!.capabilities;
    const n = names(build(s));
    expect(n).not.toContain("CAP_BOUNDING");
    expect(n).not.toContain("CAPS");
    expect(n).not.toContain("CAP_AMBIENT");
  });

  it("read-only tmpfs is remounted after pivot, in the container's root", () => {
    const s = fixture();
    s.mounts!.push({ destination: "/run", type: "tmpfs", source: "tmpfs", options: ["ro", "nosuid"] });
    const p = build(s);
    const i = p.ops.findIndex((o) => o.field === "mounts[7]" && o.what.startsWith("remount"));
    expect(i).toBeGreaterThan(names(p).indexOf("PIVOT_ROOT"));
    expect(wire(p)[i]).toEqual(["MOUNT", "", "/run", "", String(MS.REMOUNT | MS.BIND | MS.RDONLY | MS.NOSUID), "", "/"]);
    expect(wire(p)).toContainEqual(["MOUNT_KEEP_MODE", "tmpfs", "/run", "tmpfs", String(MS.NOSUID), "", R]); // no mode=: keeps /run's
  });

  it("a bind-mounted /dev skips device setup", () => {
    const s = fixture();
    s.mounts = [{ destination: "/dev", type: "bind", source: "/dev", options: ["rbind"] }];
    const n = names(build(s));
    expect(n).not.toContain("MKNOD");
    expect(n).not.toContain("SYMLINK");
  });

  it("errors from translators carry field paths", () => {
    const s = fixture();
    s.process!.capabilities!.bounding = ["CAP_KILL", "CAP_NOPE"];
    expect(() => build(s)).toThrow('process.capabilities.bounding[1]: unknown capability "CAP_NOPE"');
    const t = fixture();
    t.process!.rlimits!.push({ type: "RLIMIT_BOGUS", soft: 1, hard: 1 });
    expect(() => build(t)).toThrow('process.rlimits[1].type: unknown rlimit "RLIMIT_BOGUS"');
    const u = fixture();
    u.mounts![2].options!.push("idmap");
    expect(() => build(u)).toThrow(/^mounts\[2\]\.options\[6\]: /);
    const v = fixture();
    v.process!.args = [];
    expect(() => build(v)).toThrow(/^process\.args: /);
  });

  it("foreground mode is passed to CLONE", () => {
    expect(wire(build(fixture(), { mode: "wait" })).find((o) => o[0] === "CLONE")![5]).toBe("wait");
  });

  it("a waiting shim opens its own cgroups first, to leave the container's after CLONE", () => {
    const own = ["/sys/fs/cgroup/pids/user/cgroup.procs", "/sys/fs/cgroup/memory/user/cgroup.procs"];
    const w = wire(build(fixture(), { mode: "wait", parentCgroupProcs: own }));
    expect(w[0]).toEqual(["PARENT_CGROUPS", own.join("\n")]);
    // Detached, the shim exits right after CLONE: nothing to leave.
    expect(wire(build(fixture(), { mode: "detach", parentCgroupProcs: own })).map((o) => o[0])).not.toContain("PARENT_CGROUPS");
  });
});

describe("buildInitPlan: seccomp and the session keyring", () => {
  const BPF = Buffer.from([6, 0, 0, 0, 0, 0, 0xff, 0x7f]); // ret ALLOW
  const after = (n: string[], a: string, b: string) => expect(n.indexOf(a), `${a} after ${b}`).toBeGreaterThan(n.indexOf(b));

  it("with no_new_privs: loaded after the fifo, right before EXEC (runc)", () => {
    const s = fixture();
    s.process!.noNewPrivileges = true;
    const p = build(s, { seccomp: { bpf: BPF, flags: 4 } });
    const n = names(p);
    expect(n.slice(-4)).toEqual(["READY", "FIFO_WAIT", "SECCOMP", "EXEC"]);
    expect(n.filter((x) => x === "SECCOMP")).toHaveLength(1);
    expect(n).not.toContain("SECCOMP_LISTENER");
    const op = p.ops.find((o) => o.code === OpCode.SECCOMP)!;
    expect(op.args).toEqual([BPF, 4, "", ""]);
    expect(op.field).toBe("linux.seccomp");
  });

  it("without no_new_privs: loaded while CAP_SYS_ADMIN is still there, before any capability or user change", () => {
    const s = fixture();
    s.process!.noNewPrivileges = false;
    s.process!.user = { uid: 1000, gid: 1000 };
    const n = names(build(s, { seccomp: { bpf: BPF, flags: 0 } }));
    const i = n.indexOf("SECCOMP");
    expect(i).toBeGreaterThan(n.indexOf("PIVOT_ROOT"));
    for (const later of ["CAP_BOUNDING", "USER", "CAPS", "CAP_AMBIENT", "READY", "FIFO_WAIT", "EXEC"]) after(n, later, "SECCOMP");
    expect(n.filter((x) => x === "SECCOMP")).toHaveLength(1);
  });

  it("a notify filter connects to the agent before CLONE and any SETNS, and passes the state", () => {
    const s = fixture();
    s.linux!.namespaces = [{ type: "mount", path: "/proc/7/ns/mnt" }, { type: "pid" }, { type: "uts" }];
    const payload = Buffer.from('{"pid":\u0001}');
    const p = build(s, { seccomp: { bpf: BPF, flags: 8, listenerPath: "/run/agent.sock", payload } });
    const n = names(p);
    expect(n.indexOf("SECCOMP_LISTENER")).toBeLessThan(n.indexOf("SETNS"));
    expect(n.indexOf("SECCOMP_LISTENER")).toBeLessThan(n.indexOf("CLONE"));
    const listener = p.ops.find((o) => o.code === OpCode.SECCOMP_LISTENER)!;
    expect(listener.args).toEqual(["/run/agent.sock"]);
    expect(listener.field).toBe("linux.seccomp.listenerPath");
    expect(p.ops.find((o) => o.code === OpCode.SECCOMP)!.args).toEqual([BPF, 8, "/run/agent.sock", payload]);
  });

  it("joins a new session keyring in the child, after BECOME_ROOT; none with --no-new-keyring", () => {
    const s = fixture();
    s.linux!.namespaces!.push({ type: "user" });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const p = build(s, { sessionKeyring: sessionKeyringName("c1") });
    expect(wire(p).find((o) => o[0] === "NEW_KEYRING")).toEqual(["NEW_KEYRING", "_ses.c1"]);
    const n = names(p);
    after(n, "NEW_KEYRING", "BECOME_ROOT");
    after(n, "NEW_KEYRING", "SETSID");
    after(n, "MOUNT", "NEW_KEYRING");
    expect(names(build(fixture()))).not.toContain("NEW_KEYRING");
  });
});

describe("pathFromEnv", () => {
  it("uses the first PATH, else the default", () => {
    expect(pathFromEnv(["A=1", "PATH=/x:/y", "PATH=/z"])).toBe("/x:/y");
    expect(pathFromEnv([])).toBe("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  });
});

import { describe, expect, it } from "vitest";
import { buildJoinPlan, type JoinPlanInput } from "../../src/container/plan-join.js";
import { OpCode } from "../../src/linux/plan.js";

const base: JoinPlanInput = {
  pid: 4242,
  namespaces: ["mount", "uts", "pid", "ipc", "network"],
  cgroupProcs: ["/sys/fs/cgroup/pids/c1/cgroup.procs"],
  mode: "detach",
  argv: ["ls", "-l"],
  env: ["PATH=/bin", "X=1"],
};
const wire = (i: JoinPlanInput) => buildJoinPlan(i).ops.map((o) => [OpCode[o.code], ...o.args.map(String)]);

describe("buildJoinPlan", () => {
  it("hook-style (no process): cgroups, setns in order, fork, exec", () => {
    expect(wire(base)).toEqual([
      ["CGROUP_JOIN", "/sys/fs/cgroup/pids/c1/cgroup.procs"],
      ["SETNS", "ipc", "/proc/4242/ns/ipc"],
      ["SETNS", "uts", "/proc/4242/ns/uts"],
      ["SETNS", "network", "/proc/4242/ns/net"],
      ["SETNS", "pid", "/proc/4242/ns/pid"],
      ["SETNS", "mount", "/proc/4242/ns/mnt"],
      ["CLONE", "0", "", "", "", "detach"],
      ["SETSID"],
      ["FIND_EXEC", "ls", "/bin"],
      ["EXEC", "2", "ls", "-l", "PATH=/bin", "X=1"],
    ]);
  });

  it("a foreground tty without a console socket: the shim keeps the pty (CONSOLE_PAIR)", () => {
    const proc = { terminal: true, consoleSize: { height: 30, width: 100 }, user: { uid: 0, gid: 0 }, cwd: "/" };
    const ops = wire({ ...base, mode: "wait", process: proc }).map((o) => o[0]);
    expect(ops.indexOf("CONSOLE_PAIR")).toBeLessThan(ops.indexOf("CLONE"));
    expect(ops.indexOf("CONSOLE")).toBe(ops.indexOf("SETSID") + 1);
    expect(ops).not.toContain("CONSOLE_SOCKET");
    // Detached, a terminal needs somewhere to go: no pair, no console.
    const detached = wire({ ...base, mode: "detach", process: proc }).map((o) => o[0]);
    expect(detached).not.toContain("CONSOLE_PAIR");
    expect(detached).not.toContain("CONSOLE");
  });

  it("exec with a process spec: user first in the joins, identity ops, tty", () => {
    const w = wire({
      ...base,
      namespaces: ["mount", "user", "cgroup", "time"],
      consoleSocket: "/tmp/c.sock",
      mode: "wait",
      process: {
        terminal: true,
        consoleSize: { height: 24, width: 80 },
        user: { uid: 65534, gid: 65534 },
        cwd: "/tmp",
        capabilities: { bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"] },
        rlimits: [{ type: "RLIMIT_NPROC", soft: 10, hard: 20 }],
        noNewPrivileges: true,
      },
    });
    expect(w).toEqual([
      ["CGROUP_JOIN", "/sys/fs/cgroup/pids/c1/cgroup.procs"],
      ["CONSOLE_SOCKET", "/tmp/c.sock"],
      ["SETNS", "user", "/proc/4242/ns/user"],
      ["SETNS", "cgroup", "/proc/4242/ns/cgroup"],
      ["SETNS", "time", "/proc/4242/ns/time"],
      ["SETNS", "mount", "/proc/4242/ns/mnt"],
      ["CLONE", "0", "", "", "", "wait"],
      ["SETSID"],
      ["CONSOLE", "24", "80", "65534"], // the pty is the user's (runc)
      ["RLIMIT", "6", "10", "20"],
      ["CAP_BOUNDING", "0x20"],
      ["CHDIR", "/tmp"],
      ["USER", "65534", "65534", "", "0022"],
      ["CAPS", "0x20", "0x20", "0x0"],
      ["CAP_AMBIENT", "0x0"],
      ["NO_NEW_PRIVS"],
      ["FIND_EXEC", "ls", "/bin"],
      ["EXEC", "2", "ls", "-l", "PATH=/bin", "X=1"],
    ]);
  });

  it("no READY, FIFO or mounts in a join plan", () => {
    const n = wire(base).map((o) => o[0]);
    for (const op of ["READY", "FIFO_OPEN", "FIFO_WAIT", "MOUNT", "PIVOT_ROOT", "BECOME_ROOT"]) expect(n).not.toContain(op);
  });

  it("default PATH when env has none; empty argv is an error", () => {
    expect(wire({ ...base, env: [] }).find((o) => o[0] === "FIND_EXEC")).toEqual([
      "FIND_EXEC",
      "ls",
      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
    expect(() => buildJoinPlan({ ...base, argv: [] })).toThrow(/^process\.args: /);
  });

  it("seccomp: agent socket before the joins; loaded before identity changes, or last with no_new_privs", () => {
    const bpf = Buffer.alloc(8);
    const seccomp = { bpf, flags: 8, listenerPath: "/run/agent.sock", payload: Buffer.from("{}") };
    const proc = { cwd: "/", args: ["ls"], user: { uid: 1000, gid: 1000 }, capabilities: { bounding: [] } };
    const names = (i: JoinPlanInput) => buildJoinPlan(i).ops.map((o) => OpCode[o.code]);
    const n = names({ ...base, process: proc, seccomp });
    expect(n.indexOf("SECCOMP_LISTENER")).toBeLessThan(n.indexOf("SETNS"));
    expect(n.indexOf("SECCOMP")).toBeLessThan(n.indexOf("CAP_BOUNDING"));
    expect(n.indexOf("SECCOMP")).toBeLessThan(n.indexOf("USER"));
    expect(n.filter((x) => x === "SECCOMP")).toHaveLength(1);
    const nnp = names({ ...base, process: { ...proc, noNewPrivileges: true }, seccomp });
    expect(nnp.slice(-3)).toEqual(["FIND_EXEC", "SECCOMP", "EXEC"]);
    expect(names({ ...base, seccomp: { bpf, flags: 0 } }).slice(-2)).toEqual(["SECCOMP", "EXEC"]);
    expect(names({ ...base, seccomp: { bpf, flags: 0 } })).not.toContain("SECCOMP_LISTENER");
  });

  it("joins the container's session keyring right after SETSID when asked", () => {
    const w = wire({ ...base, sessionKeyring: "_ses.c1" });
    const i = w.findIndex((o) => o[0] === "SETSID");
    expect(w[i + 1]).toEqual(["NEW_KEYRING", "_ses.c1"]);
    expect(wire(base).map((o) => o[0])).not.toContain("NEW_KEYRING");
  });

  it("a container without a mount namespace: chroot into the init's root, before the terminal is made", () => {
    const proc = { terminal: true, user: { uid: 0, gid: 0 }, cwd: "/srv" };
    const ops = wire({ ...base, namespaces: ["pid"], mode: "wait", process: proc, chroot: "/proc/4242/root" });
    const at = ops.findIndex((o) => o[0] === "CHROOT");
    expect(ops[at]).toEqual(["CHROOT", "/proc/4242/root"]);
    expect(at).toBeGreaterThan(ops.findIndex((o) => o[0] === "CLONE"));
    expect(at).toBeLessThan(ops.findIndex((o) => o[0] === "CONSOLE"));
    expect(at).toBeLessThan(ops.findIndex((o) => o[0] === "CHDIR"));
    expect(wire(base).some((o) => o[0] === "CHROOT")).toBe(false);
  });
});

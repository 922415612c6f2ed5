// `polis exec` against real containers, checked from outside (/proc, cgroupfs) where it can be.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { homeOf, mergeEnv, processFromFlags, subCgroupProcs } from "../../src/container/exec.js";
import type { ExecProcessFlags } from "../../src/container/options.js";
import type { Spec } from "../../src/spec/types.js";
import { withRunning } from "../helpers/containers.js";
import { busyboxBundle, REPO } from "../helpers/rootfs.js";
import { POLIS, nsInode, pidAlive, polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { controllerDir, pidCgroupDir, pidUnifiedDir } from "../helpers/host.js";

const root = tempRoot();
const work = mkdtempSync(join(tmpdir(), "polis-exec-"));
let id = "";
let bundle = "";
let initPid = 0;

beforeAll(() => {
  id = uniqueId("exec");
  bundle = busyboxBundle((c) => (c.process.env = ["PATH=/usr/bin:/bin", "TERM=xterm", "KEEP=1"]));
  polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
  initPid = JSON.parse(polisOk(root, ["state", id]).stdout).pid;
});

afterAll(() => {
  for (const c of JSON.parse(polis(root, ["list", "--format", "json"]).stdout || "null") ?? [])
    polis(root, ["delete", "--force", c.id]);
  rmSync(bundle, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const exec = (...args: string[]) => polis(root, ["exec", ...args]);

describe("exec in a running container", () => {
  it("passes the exit code, stdout and stderr through", () => {
    const ok = exec(id, "sh", "-c", "echo out; echo err >&2");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe("out\n");
    expect(ok.stderr).toBe("err\n");
    expect(exec(id, "sh", "-c", "exit 5").code).toBe(5);
    // a death by signal N is 128+N, as a shell reports it
    expect(exec(id, "sh", "-c", "kill -9 $$").code).toBe(137);
  });

  it("applies --user, --cwd and --env on top of the container's process", () => {
    const r = exec(
      "--user",
      "65534",
      "--cwd",
      "/tmp",
      "--env",
      "FOO=bar",
      "--env",
      "TERM=dumb",
      id,
      "sh",
      "-c",
      "id -u; id -g; pwd; env",
    );
    expect(r.code, r.stderr).toBe(0);
    const [uid, gid, cwd, ...env] = r.stdout.trim().split("\n");
    expect(uid).toBe("65534");
    expect(gid).toBe("0"); // --user without a gid keeps the config's
    expect(cwd).toBe("/tmp");
    expect(env).toContain("FOO=bar");
    expect(env).toContain("TERM=dumb");
    expect(env).not.toContain("TERM=xterm");
    expect(env).toContain("KEEP=1");
    // like runc, HOME comes from the container's /etc/passwd
    expect(env).toContain("HOME=/nonexistent");
    const g = exec("--user", "1000:1001", "--additional-gids", "4242", id, "sh", "-c", "id -u; id -g; id -G");
    expect(g.stdout.split("\n").slice(0, 3)).toEqual(["1000", "1001", "1001 4242"]);
  });

  it("joins the container's namespaces and cgroup (detached, with --pid-file)", async () => {
    const pidFile = join(work, "exec.pid");
    const r = exec("--detach", "--pid-file", pidFile, id, "sleep", "300");
    expect(r.code, r.stderr).toBe(0);
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(pid).toBeGreaterThan(0);
    try {
      await waitFor(() => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep"));
      for (const ns of ["pid", "mnt", "net", "ipc", "uts"]) {
        expect(nsInode(pid, ns), ns).toBe(nsInode(initPid, ns));
        expect(nsInode(pid, ns), ns).not.toBe(nsInode("self", ns));
      }
      const cgOf = (p: number) =>
        readFileSync(`/proc/${p}/cgroup`, "utf8")
          .split("\n")
          .filter((l) => !l.startsWith("0::"))
          .sort();
      expect(cgOf(pid)).toEqual(cgOf(initPid));
      expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toMatch(new RegExp(`:memory:/(.*/)?${id}\n`));
      // `polis ps` sees it through the cgroup
      expect(polisOk(root, ["ps", "--format", "json", id]).stdout).toContain(String(pid));
    } finally {
      process.kill(pid, "SIGKILL");
    }
  });

  it("joins a sub-cgroup of the container's with --cgroup", async () => {
    // v1: the container's memory and pids cgroups get a "sub" each (runc's "memory,pids:sub");
    // pure v2: one tree, so runc's plain "sub" form.
    const v1 = ["memory", "pids"].every((c) => controllerDir(c) && !controllerDir(c)!.v2);
    const subs = v1
      ? ["memory", "pids"].map((c) => join(pidCgroupDir(initPid, c), "sub"))
      : [join(pidUnifiedDir(initPid)!, "sub")];
    for (const d of subs) mkdirSync(d);
    const pidFile = join(work, "sub.pid");
    try {
      const r = exec("--detach", "--pid-file", pidFile, "--cgroup", v1 ? "memory,pids:sub" : "sub", id, "sleep", "300");
      expect(r.code, r.stderr).toBe(0);
      const pid = Number(readFileSync(pidFile, "utf8"));
      try {
        if (v1) {
          expect(pidCgroupDir(pid, "memory")).toBe(subs[0]);
          expect(pidCgroupDir(pid, "pids")).toBe(subs[1]);
          // the other controllers: the container's own cgroup, not a sub
          if (controllerDir("freezer")) expect(pidCgroupDir(pid, "freezer")).toBe(pidCgroupDir(initPid, "freezer"));
        } else {
          expect(pidUnifiedDir(pid)).toBe(subs[0]);
        }
      } finally {
        process.kill(pid, "SIGKILL");
        await waitFor(() => !pidAlive(pid));
      }
      const missing = exec("--cgroup", "nosuch", id, "true");
      expect(missing.code).toBe(255);
      expect(missing.stderr).toContain("nosuch does not exist");
    } finally {
      for (const d of subs)
        await waitFor(() => {
          try {
            rmdirSync(d);
            return true;
          } catch {
            return false;
          }
        });
    }
  });

  it("fails with 255 and a clear message when the binary or cwd is missing", () => {
    const r = exec(id, "/no/such/binary");
    expect(r.code).toBe(255);
    expect(r.stderr).toContain("exec failed");
    expect(r.stderr).toMatch(/\/no\/such\/binary.*ENOENT/);
    const c = exec("--cwd", "/no/such/dir", id, "true");
    expect(c.code).toBe(255);
    expect(c.stderr).toMatch(/process\.cwd.*\/no\/such\/dir.*ENOENT/);
    const d = exec("--detach", id, "/no/such/binary");
    expect(d.code).toBe(255);
    expect(d.stderr).toContain("ENOENT");
  });

  it("runs the process described by --process", () => {
    const file = join(work, "process.json");
    writeFileSync(
      file,
      JSON.stringify({
        user: { uid: 123, gid: 456 },
        cwd: "/etc",
        args: ["sh", "-c", "id -u; id -g; pwd; echo $ONLY; exit 3"],
        env: ["PATH=/bin", "ONLY=fromfile"],
      }),
    );
    const r = exec("--process", file, id);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout.trim().split("\n")).toEqual(["123", "456", "/etc", "fromfile"]);
    writeFileSync(file, JSON.stringify({ cwd: "relative", args: ["true"], user: { uid: 0, gid: 0 } }));
    const bad = exec("--process", file, id);
    expect(bad.code).toBe(255); // runc's exec failure code
    expect(bad.stderr).toContain('exec failed: process.cwd: must be an absolute path, got \\"relative\\"');
  });

  it("adds --cap to the process's capability sets", () => {
    const capEff = (r: { stdout: string }) => BigInt("0x" + /CapEff:\s*([0-9a-f]+)/.exec(r.stdout)![1]);
    const capBnd = (r: { stdout: string }) => BigInt("0x" + /CapBnd:\s*([0-9a-f]+)/.exec(r.stdout)![1]);
    const before = exec(id, "cat", "/proc/self/status");
    const CAP_SYS_ADMIN = 1n << 21n;
    expect(capEff(before) & CAP_SYS_ADMIN).toBe(0n);
    const after = exec("--cap", "CAP_SYS_ADMIN", id, "cat", "/proc/self/status");
    expect(after.code, after.stderr).toBe(0);
    expect(capEff(after) & CAP_SYS_ADMIN).toBe(CAP_SYS_ADMIN);
    expect(capBnd(after) & CAP_SYS_ADMIN).toBe(CAP_SYS_ADMIN);
    expect(capEff(after) & ~CAP_SYS_ADMIN).toBe(capEff(before));
    const bad = exec("--cap", "CAP_NOPE", id, "true");
    expect(bad.code).toBe(255);
    expect(bad.stderr).toMatch(/--cap: unknown capability .*CAP_NOPE/);
  });

  it("does not leak the caller's fds, but passes --preserve-fds ones", () => {
    const fd = openSync(join(work, "leak"), "w");
    try {
      const listFds = (extra: string[]) =>
        spawnSync(POLIS, ["--root", root, "exec", ...extra, id, "sh", "-c", "ls /proc/$$/fd; true"], {
          encoding: "utf8",
          // fd 3 and fd 5 of polis are both the open file, not close-on-exec
          stdio: ["ignore", "pipe", "pipe", fd, "ignore", fd],
        });
      const plain = listFds([]);
      expect(plain.status, plain.stderr).toBe(0);
      expect(plain.stdout.trim().split(/\s+/).sort()).toEqual(["0", "1", "2"]);
      const kept = listFds(["--preserve-fds", "1"]);
      expect(kept.status, kept.stderr).toBe(0);
      expect(kept.stdout.trim().split(/\s+/).sort()).toEqual(["0", "1", "2", "3"]);
    } finally {
      closeSync(fd);
    }
  });

  it("loads the container's seccomp filter, before or after no_new_privs", async () => {
    await withRunning(
      root,
      (c) => {
        c.linux.seccomp = {
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
        };
      },
      (sid) => {
        for (const nnp of [true, false]) {
          const file = join(work, `seccomp-${nnp}.json`);
          writeFileSync(
            file,
            JSON.stringify({
              user: { uid: 1000, gid: 1000 },
              cwd: "/",
              noNewPrivileges: nnp,
              args: ["sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mkdir /tmp/x"],
            }),
          );
          const r = exec("--process", file, sid);
          expect(r.stdout).toContain("Seccomp:\t2");
          expect(r.stdout).toContain(`NoNewPrivs:\t${nnp ? 1 : 0}`);
          expect(r.stderr).toContain("Operation not permitted");
          expect(r.code).not.toBe(0);
        }
      },
    );
  });

  it("hands the terminal to --console-socket with --tty", async () => {
    const sock = join(work, "console.sock");
    const receiver = spawn("python3", [join(REPO, "test", "helpers", "console_receiver.py"), sock], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    receiver.stdout.on("data", (d) => (out += d));
    await waitFor(() => out.includes("listening"));
    const r = exec("--tty", "--detach", "--console-socket", sock, id, "sh", "-c", "tty");
    expect(r.code, r.stderr).toBe(0);
    await new Promise((res) => receiver.on("exit", res));
    expect(out).toMatch(/name=\/dev\/pts\/\d+/);
    expect(out).toMatch(/\n\/dev\/pts\/\d+/);
    // foreground without a socket: the shim proxies the pty to our stdio
    const fg = exec("--tty", id, "sh", "-c", "tty; exit 3");
    expect(fg.code, fg.stderr).toBe(3);
    expect(fg.stdout).toMatch(/^\/dev\/pts\/\d+\r?\n/);
    const noSock = exec("--tty", "--detach", id, "true");
    expect(noSock.code).toBe(255);
    expect(noSock.stderr).toContain("cannot allocate tty if runc will detach without setting console socket");
  });

  it("refuses --apparmor and --process-label on a host without them", () => {
    const a = exec("--apparmor", "unconfined", id, "true");
    expect(a.code).toBe(255);
    expect(a.stderr).toContain("--apparmor: apparmor is not enabled on this host");
    const s = exec("--process-label", "system_u:system_r:container_t:s0", id, "true");
    expect(s.code).toBe(255);
    expect(s.stderr).toContain("--process-label: selinux is not enabled on this host");
  });
});

describe("exec refused", () => {
  it("in a paused container, unless --ignore-paused", async () => {
    await withRunning(
      root,
      () => {},
      async (pid) => {
        polisOk(root, ["pause", pid]);
        try {
          const r = exec(pid, "true");
          expect(r.code).toBe(255);
          expect(r.stderr).toContain("cannot exec in a paused container");
        } finally {
          polisOk(root, ["resume", pid]);
        }
        expect(exec("--ignore-paused", pid, "true").code).toBe(0);
      },
    );
  });

  it("in a stopped container, and in a missing one", async () => {
    await withRunning(
      root,
      (c) => (c.process.args = ["true"]),
      async (sid, pid) => {
        await waitFor(() => !pidAlive(pid));
        const r = exec(sid, "true");
        expect(r.code).toBe(255);
        expect(r.stderr).toContain("cannot exec in a stopped container");
      },
    );
    const m = exec(uniqueId("missing"), "true");
    expect(m.code).toBe(255);
    expect(m.stderr).toContain("container does not exist");
  });
});

describe("the process from the flags (runc's getProcess)", () => {
  const config = {
    ociVersion: "1.0.2",
    root: { path: "rootfs" },
    process: {
      user: { uid: 0, gid: 7, additionalGids: [9] },
      cwd: "/",
      args: ["sleep", "1000"],
      env: ["PATH=/bin", "A=1"],
      capabilities: { bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"], inheritable: [], ambient: [] },
      apparmorProfile: "x",
    },
  } as unknown as Spec;
  const flags = (f: Partial<ExecProcessFlags>): ExecProcessFlags => ({
    args: ["sh"],
    env: [],
    additionalGids: [],
    caps: [],
    tty: false,
    noNewPrivs: false,
    ...f,
  });

  it("replaces args and merges the rest", () => {
    const p = processFromFlags(
      config,
      flags({ env: ["A=2", "B=3"], user: { uid: 5 }, additionalGids: [10], caps: ["CAP_CHOWN"], noNewPrivs: true }),
    );
    expect(p.args).toEqual(["sh"]);
    expect(p.env).toEqual(["PATH=/bin", "A=2", "B=3"]);
    expect(p.user).toEqual({ uid: 5, gid: 7, additionalGids: [9, 10] });
    expect(p.capabilities?.bounding).toEqual(["CAP_KILL", "CAP_CHOWN"]);
    expect(p.capabilities?.ambient).toEqual(["CAP_CHOWN"]);
    expect(p.capabilities?.inheritable).toEqual([]);
    expect(p.noNewPrivileges).toBe(true);
    expect(p.apparmorProfile).toBeUndefined();
    // the container's config is not modified
    expect(config.process!.env).toEqual(["PATH=/bin", "A=1"]);
  });

  it("places --cgroup below the container's cgroup, in all or the listed hierarchies", () => {
    const paths = { cpu: "/cg/cpu/c", cpuacct: "/cg/cpuacct/c", memory: "/cg/memory/c", unified: "/cg/unified/c" };
    const all = () => true;
    expect(subCgroupProcs(paths, ["a/b"], all)).toEqual([
      "/cg/cpu/c/a/b/cgroup.procs",
      "/cg/cpuacct/c/a/b/cgroup.procs",
      "/cg/memory/c/a/b/cgroup.procs",
      "/cg/unified/c/a/b/cgroup.procs",
    ]);
    expect(subCgroupProcs(paths, ["memory:/x"], all)).toEqual([
      "/cg/cpu/c/cgroup.procs",
      "/cg/cpuacct/c/cgroup.procs",
      "/cg/memory/c/x/cgroup.procs",
      "/cg/unified/c/cgroup.procs",
    ]);
    // co-mounted controllers share a directory: listing one moves both
    expect(subCgroupProcs({ cpu: "/cg/cpu,cpuacct/c", cpuacct: "/cg/cpu,cpuacct/c" }, ["cpuacct:x"], all)).toEqual([
      "/cg/cpu,cpuacct/c/x/cgroup.procs",
    ]);
    expect(() => subCgroupProcs(paths, ["../escape"], all)).toThrow(/invalid sub-cgroup/);
    expect(() => subCgroupProcs(paths, ["rdma:x"], all)).toThrow(/no rdma cgroup/);
    expect(() => subCgroupProcs(paths, ["x"], () => false)).toThrow(/does not exist/);
    // several flags, one per controller, each applies (runc's getSubCgroupPaths)
    expect(subCgroupProcs(paths, ["memory:m", "cpu,unified:u"], all)).toEqual([
      "/cg/cpu/c/u/cgroup.procs",
      "/cg/cpuacct/c/cgroup.procs",
      "/cg/memory/c/m/cgroup.procs",
      "/cg/unified/c/u/cgroup.procs",
    ]);
    expect(() => subCgroupProcs(paths, ["memory:m", "x"], all)).toThrow(
      "--cgroup: invalid --cgroup argument: x (missing <controller>: prefix)",
    );
    expect(() => subCgroupProcs(paths, ["memory:m", "cpu,memory:n"], all)).toThrow("controller memory specified multiple times");
    expect(() => subCgroupProcs(paths, [",cpu:m"], all)).toThrow("(empty <controller> prefix)");
    expect(() => subCgroupProcs(paths, ["a:b:c"], all)).toThrow("invalid --cgroup argument: a:b:c");
    const shared = { cpu: "/cg/cpu,cpuacct/c", cpuacct: "/cg/cpu,cpuacct/c" };
    expect(() => subCgroupProcs(shared, ["cpu:a", "cpuacct:b"], all)).toThrow(
      "cpu and cpuacct share a hierarchy but were given different paths",
    );
  });

  it("merges env like runc and finds HOME in passwd", () => {
    expect(mergeEnv(["A=1", "B=2"], ["B=3", "C=4", "A=5"])).toEqual(["A=5", "B=3", "C=4"]);
    expect(homeOf("root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n", 1000)).toBe("/home/bob");
    expect(homeOf("root:x:0:0:root:/root:/bin/sh\n", 42)).toBe("/");
  });
});

// polis-shim end to end: hand-built plans, real namespaces, effects checked from outside via /proc.
import { execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  readSync,
  mkdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { PolisError } from "../../src/errors.js";
import { shimPath } from "../../src/paths.js";
import { OpCode, Plan } from "../../src/linux/plan.js";
import { ShimError, ShimSession, decodeWaitStatus } from "../../src/linux/shim.js";
import { makeBundleDir } from "../helpers/rootfs.js";
import { hostLayout, ownProcsFiles } from "../../src/cgroups/index.js";

const NS = {
  mount: 0x00020000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  net: 0x40000000,
};
const MS_BIND = 4096;
const MS_REC = 16384;
const MS_SLAVE = 1 << 19;
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const CONSOLE_RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(c, 1024, 1)
print("name", msg.decode(), flush=True)
buf = b""
while b"hi" not in buf:
    d = os.read(fds[0], 1024)
    if not d: break
    buf += d
print("data", buf.decode().replace("\\r", ""), flush=True)
sys.stdin.readline()
`;

// Everything a test starts or makes, undone after it whatever happened.
const pids: number[] = [];
const dirs: string[] = [];
const sessions: ShimSession[] = [];
afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const s of sessions.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function start(plan: Plan, opts: Parameters<typeof ShimSession.start>[1] = {}): ShimSession {
  const s = ShimSession.start(plan, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  sessions.push(s);
  return s;
}

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

function clone(
  plan: Plan,
  flags: number,
  mode: "wait" | "detach",
  maps: [string, string, "" | "deny" | "allow"] = ["", "", ""],
): Plan {
  return plan.add(OpCode.CLONE, "linux.namespaces", "clone", flags, ...maps, mode);
}

function exec(plan: Plan, argv: string[], env: string[] = [`PATH=${PATH}`]): Plan {
  return plan
    .add(OpCode.FIND_EXEC, "process.args[0]", `find ${argv[0]}`, argv[0], PATH)
    .add(OpCode.EXEC, "process.args", `exec ${argv[0]}`, argv.length, ...argv, ...env);
}

async function until<T>(probe: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function collect(stream: Readable | null): () => string {
  let out = "";
  stream?.on("data", (d: Buffer) => (out += d.toString()));
  return () => out;
}

/** "R", "S", "Z"…, or undefined once the process is reaped. */
function procState(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "")[0];
  } catch {
    return undefined;
  }
}

function gone(pid: number): boolean {
  const st = procState(pid);
  return st === undefined || st === "Z";
}

describe("polis-shim", () => {
  it("runs a container in new pid, mount, uts, ipc and net namespaces", async () => {
    const bundle = makeBundleDir("polis-shim-ns-");
    dirs.push(bundle);
    const rootfs = join(bundle, "rootfs");
    const out = tempDir("polis-shim-out-");
    const plan = clone(new Plan(), NS.pid + NS.mount + NS.uts + NS.ipc + NS.net, "wait")
      .add(OpCode.MOUNT, "linux.rootfsPropagation", "make / rslave", "", "/", "", MS_SLAVE | MS_REC, "", "")
      .add(OpCode.MOUNT, "root.path", "bind the rootfs", rootfs, rootfs, "", MS_BIND | MS_REC, "", "")
      .add(OpCode.MOUNT, "mounts[0]", "mount proc on /proc", "proc", "/proc", "proc", "0", "", rootfs)
      .add(OpCode.MKDIRS, "mounts[1].destination", "create /out", "/out", rootfs, "dir")
      .add(OpCode.MOUNT, "mounts[1]", "bind the out dir on /out", out, "/out", "", MS_BIND, "", rootfs)
      .add(OpCode.SETHOSTNAME, "hostname", "set hostname", "shimtest")
      .add(OpCode.PIVOT_ROOT, "root.path", "pivot_root", rootfs);
    exec(plan, ["sh", "-c", "hostname > /out/host; echo $$ > /out/pid; exec sleep 1000"]);
    const s = start(plan);
    const pid = (await s.expect("pid")).value;
    pids.push(pid);

    // the shell creates the file before it writes to it: wait for the whole line
    const inner = await until(
      () => (existsSync(join(out, "pid")) ? readFileSync(join(out, "pid"), "utf8") : "").match(/^\d+\n/)?.[0],
      "pid file",
    );
    expect(inner.trim()).toBe("1");
    expect(readFileSync(join(out, "host"), "utf8").trim()).toBe("shimtest");
    for (const ns of ["pid", "mnt", "uts", "ipc", "net"]) {
      expect(readlinkSync(`/proc/${pid}/ns/${ns}`), ns).not.toBe(readlinkSync(`/proc/self/ns/${ns}`));
    }
    expect(readlinkSync(`/proc/${pid}/ns/user`)).toBe(readlinkSync("/proc/self/ns/user"));
    // its root is the bundle's rootfs, and the host's /proc is not visible any more
    expect(readlinkSync(`/proc/${pid}/root`)).toBe("/");
    expect(existsSync(`/proc/${pid}/root/bin/busybox`)).toBe(true);
    expect(readdirSync(`/proc/${pid}/root/proc`).filter((e) => /^\d+$/.test(e))).toEqual(["1"]);

    process.kill(pid, "SIGKILL");
    const status = await s.exitStatus();
    expect(decodeWaitStatus(status)).toMatchObject({ signal: "SIGKILL", exitCode: 137 });
    expect(await s.waitExit()).toEqual({ code: 137, signal: null });
  }, 30_000);

  it("reports a failing mount with its step, field and ENODEV", async () => {
    const target = tempDir("polis-shim-mnt-");
    const plan = clone(new Plan(), NS.mount, "wait")
      .add(OpCode.MOUNT, "linux.rootfsPropagation", "make / rslave", "", "/", "", MS_SLAVE | MS_REC, "", "")
      .add(OpCode.MOUNT, "mounts[3]", `mount nosuchfs on ${target}`, "none", target, "nosuchfs", "0", "", "");
    exec(plan, ["true"]);
    const s = start(plan);
    await s.expect("pid");
    const err: unknown = await s.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShimError);
    const e = err as ShimError;
    expect(e).toBeInstanceOf(PolisError);
    expect(e.report.step).toBe(2);
    expect(e.report.errno).toBe(19);
    expect(e.message).toBe(`mounts[3]: mount nosuchfs on ${target}: no such device (ENODEV)`);
    expect(e.detail).toEqual({ field: "mounts[3]", step: `mount nosuchfs on ${target}`, errno: "ENODEV" });
    // the child died; the shim reports it and exits with its status
    expect(decodeWaitStatus((await s.expect("exited")).value).code).toBe(1);
  });

  it("fails FIND_EXEC of a missing binary with ENOENT", async () => {
    const plan = exec(new Plan(), ["no-such-binary-polis"]);
    const s = start(plan);
    const e = (await s.next().catch((x: unknown) => x)) as ShimError;
    expect(e).toBeInstanceOf(ShimError);
    expect(e.detail.errno).toBe("ENOENT");
    expect(e.report.step).toBe(0);
    expect(e.message).toBe("process.args[0]: find no-such-binary-polis: no such file or directory (ENOENT)");
    expect(await s.waitExit()).toEqual({ code: 1, signal: null });
  });

  it("reports a shim that dies without a message, naming the last step", async () => {
    const plan = clone(new Plan(), 0, "wait").add(OpCode.PAUSE, "hooks", "run hooks", "hooks");
    exec(plan, ["true"]);
    const s = start(plan);
    const pid = (await s.expect("pid")).value;
    pids.push(pid);
    await s.expect("pause");
    process.kill(s.child.pid!, "SIGKILL");
    process.kill(pid, "SIGKILL");
    await expect(s.next()).rejects.toThrow(
      /polis-shim ended without a report \(killed by SIGKILL\), after step 1 \(hooks: run hooks\)/,
    );
  });

  it("reports a shim that cannot be run, and one whose plan is empty", async () => {
    await expect(start(new Plan(), { shim: "/nonexistent/polis-shim" }).next()).rejects.toThrow(
      /^cannot run polis-shim \/nonexistent\/polis-shim: spawn \/nonexistent\/polis-shim ENOENT$/,
    );
    await expect(start(new Plan()).next()).rejects.toThrow(/ended without a report \(exit status 0\), before reporting any step/);
  });

  it("rejects an unknown op and a wrong argument count with EINVAL at that step", async () => {
    const bad = start(new Plan().add(OpCode.SETSID, "process", "setsid").add(99 as OpCode, "x", "op 99"));
    await expect(bad.next()).rejects.toMatchObject({
      report: { step: 1, errno: 22 },
      message: "x: op 99: invalid argument (EINVAL)",
    });
    const shortPlan = new Plan();
    shortPlan.ops.push({ code: OpCode.SETHOSTNAME, args: [], field: "hostname", what: "set hostname" }); // Plan.add would refuse it
    const short = start(shortPlan);
    await expect(short.next()).rejects.toMatchObject({ report: { step: 0, errno: 22 } });
  });

  it("keeps scoped paths inside the rootfs, whatever its symlinks say", async () => {
    const rootfs = tempDir("polis-shim-scope-");
    const host = tempDir("polis-shim-host-");
    symlinkSync(host, join(rootfs, "evil")); // absolute: on the host it points at `host`
    symlinkSync("../../..", join(rootfs, "up"));
    mkdirSync(join(rootfs, "etc"));
    symlinkSync("../run/resolve/stub.conf", join(rootfs, "etc", "resolv.conf")); // dangling, like Debian's
    const plan = new Plan()
      .add(OpCode.MKDIRS, "mounts[0].destination", "create /evil/made", "/evil/made", rootfs, "dir")
      .add(OpCode.MKDIRS, "mounts[1].destination", "create /up/file", "/up/file", rootfs, "file")
      .add(OpCode.MKDIRS, "mounts[2].destination", "create /etc/resolv.conf", "/etc/resolv.conf", rootfs, "file");
    clone(plan, NS.mount, "wait")
      .add(OpCode.MOUNT, "linux.rootfsPropagation", "make / rslave", "", "/", "", MS_SLAVE | MS_REC, "", "")
      .add(OpCode.MOUNT, "mounts[0]", "mount tmpfs on /evil/made", "tmpfs", "/evil/made", "tmpfs", "0", "", rootfs)
      .add(OpCode.PAUSE, "", "inspect", "inspect");
    exec(plan, ["true"]);
    const s = start(plan);
    const pid = (await s.expect("pid")).value;
    pids.push(pid);
    await s.expect("pause");
    expect(existsSync(join(host, "made"))).toBe(false);
    expect(existsSync(join(rootfs, host, "made"))).toBe(true);
    expect(existsSync(join(rootfs, "file"))).toBe(true);
    expect(statSync(join(rootfs, "run/resolve/stub.conf")).isFile()).toBe(true);
    const points = readFileSync(`/proc/${pid}/mountinfo`, "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4]);
    expect(points).toContain(join(rootfs, host, "made"));
    expect(points).not.toContain(join(host, "made"));
    s.resume();
    expect(decodeWaitStatus(await s.exitStatus()).code).toBe(0);
  });

  it("pauses and resumes", async () => {
    const plan = clone(new Plan(), NS.uts, "wait")
      .add(OpCode.PAUSE, "hooks.createRuntime", "run createRuntime hooks", "create-runtime")
      .add(OpCode.SETHOSTNAME, "hostname", "set hostname", "resumed");
    exec(plan, ["hostname"]);
    const s = start(plan);
    const stdout = collect(s.child.stdout);
    const pid = (await s.expect("pid")).value;
    pids.push(pid);
    const pause = await s.expect("pause");
    expect(pause).toMatchObject({ step: 1, detail: "create-runtime" });
    // really blocked: nothing ran past the pause yet
    await new Promise((r) => setTimeout(r, 100));
    expect(procState(pid)).toBe("S");
    expect(stdout()).toBe("");
    s.resume();
    expect(decodeWaitStatus(await s.exitStatus()).code).toBe(0);
    await s.waitExit();
    expect(stdout()).toBe("resumed\n");
  });

  // The shim reads the plan through a buffer: a byte that came in the same read as the plan's END
  // must still answer the PAUSE (not be dropped with the buffer, nor leave the child waiting).
  // One write of plan + answer, so that the shim's first read gets both.
  it("takes a RESUME or ABORT sent in one write with the plan", async () => {
    for (const answer of ["R", "A"]) {
      const plan = clone(new Plan(), NS.uts, "wait")
        .add(OpCode.PAUSE, "hooks.createRuntime", "run createRuntime hooks", "early")
        .add(OpCode.SETHOSTNAME, "hostname", "set hostname", "early-answer");
      exec(plan, ["hostname"]);
      const child = spawn(shimPath(), ["3"], { stdio: ["ignore", "pipe", "inherit", "pipe"] });
      pids.push(child.pid!);
      const stdout = collect(child.stdout);
      const sync = child.stdio[3] as import("node:net").Socket;
      sync.on("data", () => undefined);
      sync.write(Buffer.concat([plan.encode(), Buffer.from(answer)]));
      const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
      sync.destroy();
      // an abort ends the child (exit 1); the foreground shim reports its status
      expect(code).toBe(answer === "R" ? 0 : 1);
      expect(stdout()).toBe(answer === "R" ? "early-answer\n" : "");
    }
  });

  // create spawns the shim before it has a plan (ShimSession.spawnEarly): meanwhile the shim moves
  // itself into the cgroup it is in (nothing changes), then runs the plan when it comes.
  it("spawned early, it stays in its cgroup and runs the plan sent later", async () => {
    const own = readFileSync("/proc/self/cgroup", "utf8");
    const procs = ownProcsFiles(hostLayout())[0];
    const s = ShimSession.spawnEarly({ stdio: ["ignore", "pipe", "pipe"] }, procs);
    sessions.push(s);
    const stdout = collect(s.child.stdout);
    await new Promise((r) => setTimeout(r, 50)); // a few warming moves
    expect(readFileSync(`/proc/${s.child.pid}/cgroup`, "utf8")).toBe(own);
    expect(s.planSent).toBe(false);
    s.send(exec(new Plan(), ["echo", "late plan"]));
    expect(await s.waitExit()).toEqual({ code: 0, signal: null }); // the shim became echo
    expect(stdout()).toBe("late plan\n");
  });

  it("spawned early, it exits without a word when polis goes away before the plan", async () => {
    const s = ShimSession.spawnEarly({ stdio: ["ignore", "pipe", "pipe"] }, ownProcsFiles(hostLayout())[0]);
    const stderr = collect(s.child.stderr);
    await new Promise((r) => setTimeout(r, 20));
    s.close(); // as polis's death closes its end
    expect(await s.waitExit()).toEqual({ code: 1, signal: null });
    expect(stderr()).toBe("");
  });

  it("blocks on the exec fifo until it is opened for reading", async () => {
    const dir = tempDir("polis-shim-fifo-");
    const fifo = join(dir, "exec.fifo");
    execFileSync("mkfifo", ["-m", "0622", fifo]);
    const plan = clone(new Plan(), 0, "wait")
      .add(OpCode.FIFO_OPEN, "", "open the exec fifo", fifo)
      .add(OpCode.READY, "", "ready")
      .add(OpCode.FIFO_WAIT, "", "wait for start");
    exec(plan, ["echo", "started"]);
    const s = start(plan);
    const stdout = collect(s.child.stdout);
    const pid = (await s.expect("pid")).value;
    pids.push(pid);
    await s.expect("ready");
    await new Promise((r) => setTimeout(r, 200));
    expect(procState(pid)).toBe("S");
    expect(readlinkSync(`/proc/${pid}/exe`)).toBe(readlinkSync(`/proc/${s.child.pid}/exe`));
    expect(stdout()).toBe("");

    const fd = openSync(fifo, "r");
    const buf = Buffer.alloc(8);
    const n = readSync(fd, buf);
    closeSync(fd);
    expect(buf.toString("utf8", 0, n)).toBe("0");
    expect(decodeWaitStatus(await s.exitStatus()).code).toBe(0);
    await s.waitExit();
    expect(stdout()).toBe("started\n");
  });

  it("writes id maps for a new user namespace", async () => {
    const plan = clone(new Plan(), NS.user + NS.mount, "wait", ["0 100000 65536\n", "0 100000 65536\n", "deny"])
      .add(OpCode.BECOME_ROOT, "linux.uidMappings", "become root")
      .add(OpCode.PAUSE, "", "inspect", "inspect");
    exec(plan, ["true"]);
    const s = start(plan);
    const pid = (await s.expect("pid")).value;
    pids.push(pid);
    await s.expect("pause");
    expect(readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split(/\s+/)).toEqual(["0", "100000", "65536"]);
    expect(readFileSync(`/proc/${pid}/gid_map`, "utf8").trim().split(/\s+/)).toEqual(["0", "100000", "65536"]);
    expect(readFileSync(`/proc/${pid}/setgroups`, "utf8").trim()).toBe("deny");
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    expect(status).toMatch(/^Uid:\s+100000\s+100000\s+100000\s+100000$/m);
    expect(readlinkSync(`/proc/${pid}/ns/user`)).not.toBe(readlinkSync("/proc/self/ns/user"));
    s.resume();
    expect(decodeWaitStatus(await s.exitStatus()).code).toBe(0);
  });

  it("builds a runc-like rootfs: devpts console, masked and read-only paths, process attributes", async () => {
    const bundle = makeBundleDir("polis-shim-rootfs-");
    dirs.push(bundle);
    const rootfs = join(bundle, "rootfs");
    execFileSync("sh", ["-c", `mkdir ${rootfs}/secret && echo s > ${rootfs}/secret/a && echo s > ${rootfs}/secret.txt`]);
    const sock = join(bundle, "console.sock");
    // Node cannot receive SCM_RIGHTS: a tiny python console receiver plays containerd's part
    const receiver = spawn("python3", ["-c", CONSOLE_RECEIVER, sock], { stdio: ["pipe", "pipe", "inherit"] });
    pids.push(receiver.pid!);
    const received = collect(receiver.stdout);
    await until(() => (received().includes("listening") ? true : undefined), "the console receiver");

    const NOSUID_NODEV_NOEXEC = 2 | 4 | 8;
    const plan = new Plan().add(OpCode.CONSOLE_SOCKET, "process.terminal", "connect the console socket", sock);
    clone(plan, NS.pid + NS.mount + NS.ipc + NS.uts, "wait")
      .add(OpCode.MOUNT, "linux.rootfsPropagation", "make / rslave", "", "/", "", MS_SLAVE | MS_REC, "", "")
      .add(OpCode.MOUNT, "root.path", "bind the rootfs", rootfs, rootfs, "", MS_BIND | MS_REC, "", "")
      .add(OpCode.MOUNT, "mounts[0]", "mount proc", "proc", "/proc", "proc", NOSUID_NODEV_NOEXEC, "", rootfs)
      .add(OpCode.MOUNT, "mounts[1]", "mount /dev", "tmpfs", "/dev", "tmpfs", 2, "mode=755", rootfs)
      .add(OpCode.MKDIRS, "mounts[2].destination", "create /dev/pts", "/dev/pts", rootfs, "dir")
      .add(
        OpCode.MOUNT,
        "mounts[2]",
        "mount devpts",
        "devpts",
        "/dev/pts",
        "devpts",
        2 | 8,
        "newinstance,ptmxmode=0666,mode=0620",
        rootfs,
      )
      .add(OpCode.SYMLINK, "linux.devices", "link /dev/ptmx", "pts/ptmx", "/dev/ptmx", rootfs)
      .add(OpCode.MKNOD, "linux.devices[0]", "create /dev/null", "/dev/null", "c", "1", "3", 0o666, "0", "0", rootfs)
      .add(OpCode.MASK_SOURCE, "linux.maskedPaths", "open /dev/null", "/dev/null")
      .add(OpCode.PIVOT_ROOT, "root.path", "pivot_root", rootfs)
      .add(OpCode.MASK, "linux.maskedPaths[0]", "mask /secret", "/secret")
      .add(OpCode.MASK, "linux.maskedPaths[1]", "mask /secret.txt", "/secret.txt")
      .add(OpCode.MASK, "linux.maskedPaths[2]", "mask /nonexistent", "/nonexistent")
      .add(OpCode.READONLY, "linux.readonlyPaths[0]", "make /proc/sys read-only", "/proc/sys")
      .add(OpCode.READONLY, "linux.readonlyPaths[1]", "make /nonexistent read-only", "/nonexistent")
      .add(OpCode.SETSID, "process", "setsid")
      .add(OpCode.CONSOLE, "process.terminal", "set up the console", "24", "80", -1)
      .add(OpCode.RLIMIT, "process.rlimits[0]", "set RLIMIT_NOFILE", "7", "1024", "2048")
      .add(OpCode.CAP_BOUNDING, "process.capabilities.bounding", "drop bounding caps", "0x21")
      .add(OpCode.USER, "process.user", "switch user", "1000", "1000", "10,20", "027")
      .add(OpCode.CAPS, "process.capabilities", "set caps", "0x21", "0x21", "0x21")
      .add(OpCode.CAP_AMBIENT, "process.capabilities.ambient", "raise ambient caps", "0x21")
      .add(OpCode.NO_NEW_PRIVS, "process.noNewPrivileges", "set no_new_privs")
      .add(OpCode.CHDIR, "process.cwd", "chdir /tmp", "/tmp");
    exec(plan, ["sh", "-c", "tty; stty size; ls /secret | wc -l; cat /secret.txt | wc -c; echo hi; exec sleep 1000"]);
    const s = start(plan);
    const pid = (await s.expect("pid")).value;
    pids.push(pid);
    await until(() => (received().includes("hi") ? true : undefined), "console output");
    const out = received();
    expect(out).toContain("name /dev/pts/0");
    expect(out).toMatch(/data \/dev\/pts\/0\n24 80\n0\n0\nhi\n/);

    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    expect(status).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(status).toMatch(/^Gid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(status).toMatch(/^Groups:\s+10 20\s*$/m);
    expect(status).toMatch(/^Umask:\s+0027$/m);
    expect(status).toMatch(/^CapBnd:\s+0000000000000021$/m);
    expect(status).toMatch(/^CapAmb:\s+0000000000000021$/m);
    expect(status).toMatch(/^CapEff:\s+0000000000000021$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(readFileSync(`/proc/${pid}/limits`, "utf8")).toMatch(/^Max open files\s+1024\s+2048\s+files/m);
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe("/tmp");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      .replace(/^.*\) /s, "")
      .split(" ");
    expect(Number(stat[3])).toBe(pid); // session leader (field 6: session id)
    expect(Number(stat[4])).toBe(0x8800); // controlling tty: /dev/pts/0 (major 136, minor 0)

    const mounts = readFileSync(`/proc/${pid}/mountinfo`, "utf8")
      .split("\n")
      .map((l) => l.split(" "));
    const at = (p: string) => mounts.filter((m) => m[4] === p).at(-1);
    const procSys = at("/proc/sys")!;
    expect(procSys[5].split(",")).toEqual(expect.arrayContaining(["ro", "nosuid", "nodev", "noexec"]));
    expect(at("/secret")![5].split(",")).toContain("ro");
    expect(mounts.find((m) => m[4] === "/secret")!.at(-3)).toBe("tmpfs");
    expect(at("/secret.txt")).toBeDefined();
    expect(at("/nonexistent")).toBeUndefined();
    // the host side is untouched
    expect(readFileSync(join(rootfs, "secret.txt"), "utf8")).toBe("s\n");

    process.kill(pid, "SIGKILL");
    expect(decodeWaitStatus(await s.exitStatus()).signal).toBe("SIGKILL");
    receiver.stdin!.end();
  }, 30_000);

  describe("file descriptors", () => {
    /** Start `sleep` through the shim and return the fds it ended up with. */
    async function fdsOfSleep(opts: Parameters<typeof ShimSession.start>[1]): Promise<Map<string, string>> {
      const plan = exec(clone(new Plan(), 0, "wait"), ["sleep", "1000"]);
      const s = start(plan, opts);
      const pid = (await s.expect("pid")).value;
      pids.push(pid);
      await until(() => (readlinkSync(`/proc/${pid}/exe`).endsWith("/sleep") ? true : undefined), "exec of sleep");
      // /proc/<pid>/exe names sleep a moment before execve has closed the CLOEXEC fds: wait until
      // sleep sleeps (state S), and read again if an fd vanishes between readdir and readlink.
      await until(() => {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat[stat.lastIndexOf(")") + 2] === "S" ? true : undefined;
      }, "sleep sleeping");
      const fds = await until(() => {
        try {
          return new Map(readdirSync(`/proc/${pid}/fd`).map((fd) => [fd, readlinkSync(`/proc/${pid}/fd/${fd}`)]));
        } catch {
          return undefined;
        }
      }, "a stable fd table");
      process.kill(pid, "SIGKILL");
      await s.exitStatus();
      return fds;
    }

    it("closes fds the caller leaked, keeps stdio", async () => {
      // a wrapper that leaks a non-CLOEXEC fd into the shim, like containerd's fd 3 socket
      const dir = tempDir("polis-shim-wrap-");
      const wrapper = join(dir, "leaky-shim");
      writeFileSync(wrapper, `#!/bin/sh\nexec 9</etc/hostname 8>${dir}/leak\nexec ${shimPath()} "$@"\n`);
      chmodSync(wrapper, 0o755);
      const fds = await fdsOfSleep({ shim: wrapper });
      expect([...fds.keys()].sort()).toEqual(["0", "1", "2"]);
    });

    it("passes preserved fds through", async () => {
      let opened: number | undefined;
      if (!existsSync("/proc/self/fd/3")) {
        opened = openSync("/etc/hostname", "r");
        expect(opened).toBe(3);
      }
      try {
        const fds = await fdsOfSleep({ preserveFds: 1 });
        expect([...fds.keys()].sort()).toEqual(["0", "1", "2", "3"]);
        expect(fds.get("3")).toBe(readlinkSync("/proc/self/fd/3"));
      } finally {
        if (opened !== undefined) closeSync(opened);
      }
    });

    it("keeps Node's end of the sync socket close-on-exec", async () => {
      const s = start(exec(clone(new Plan(), 0, "wait"), ["true"]));
      const fd = (s as unknown as { sock: { _handle: { fd: number } } }).sock._handle.fd;
      const flags = /flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1];
      expect(parseInt(flags, 8) & 0o2000000).toBe(0o2000000);
      await s.exitStatus();
    });
  });

  describe("when Node goes away", () => {
    /** A child of `mode` paused before exec, and its session. */
    async function pausedChild(flags: number, mode: "wait" | "detach") {
      const plan = clone(new Plan(), flags, mode).add(OpCode.PAUSE, "", "wait", "wait");
      exec(plan, ["true"]);
      const s = start(plan);
      const pid = (await s.expect("pid")).value;
      pids.push(pid);
      await s.expect("pause");
      return { s, pid };
    }

    it("the paused child of a foreground shim dies", async () => {
      const { s, pid } = await pausedChild(NS.pid, "wait");
      s.close();
      await until(() => (gone(pid) ? true : undefined), "the child to exit");
      expect((await s.waitExit()).code).not.toBe(0);
    });

    it("the paused child of a detached shim dies", async () => {
      const { s, pid } = await pausedChild(NS.pid, "detach");
      expect(await s.waitExit()).toEqual({ code: 0, signal: null }); // detach: the shim left already
      expect(gone(pid)).toBe(false);
      s.close();
      await until(() => (gone(pid) ? true : undefined), "the child to exit");
    });

    it("an aborted pause ends the child", async () => {
      const { s, pid } = await pausedChild(0, "wait");
      s.abort();
      await until(() => (gone(pid) ? true : undefined), "the child to exit");
      expect((await s.waitExit()).code).not.toBe(0);
    });
  });
});

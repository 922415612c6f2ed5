// Compiled filters loaded by the real kernel. A test-only C probe (test/helpers/seccomp-probe.c,
// built here with cc) sets no_new_privs, loads the BPF with seccomp(2) and the compiled flags,
// then makes one syscall or execs busybox, so each action's effect is observed from outside:
// the errno the syscall got, the signal that killed the probe, busybox's error text.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileSeccomp } from "../../src/seccomp/compile.js";
import type { Seccomp } from "../../src/spec/types.js";

const REPO = new URL("../..", import.meta.url).pathname;
const BUSYBOX = "/bin/busybox";
const DOCKER_LIKE: Seccomp = JSON.parse(readFileSync(join(REPO, "test/fixtures/seccomp-docker-like.json"), "utf8"));
const SYS = { getpid: 39, personality: 135, mount: 165, unshare: 272, clone3: 435 };
const CLONE_NEWUTS = 0x04000000;

let dir: string;
let probeBin: string;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "polis-seccomp-"));
  probeBin = join(dir, "seccomp-probe");
  execFileSync("cc", ["-O2", "-Wall", "-o", probeBin, join(REPO, "test/helpers/seccomp-probe.c")]);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface ProbeResult {
  out: string;
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function probe(profile: Seccomp, ...cmd: (string | number)[]): ProbeResult {
  const { bpf, flags } = compileSeccomp(profile);
  const file = join(dir, `filter-${n++}.bpf`);
  writeFileSync(file, bpf);
  const r = spawnSync(probeBin, [file, String(flags), ...cmd.map(String)], { encoding: "utf8", timeout: 10_000, cwd: dir });
  return { out: r.stdout.trim(), status: r.status, signal: r.signal, stderr: r.stderr };
}

const allowAllBut = (rule: NonNullable<Seccomp["syscalls"]>[number], extra: Partial<Seccomp> = {}): Seccomp => ({
  defaultAction: "SCMP_ACT_ALLOW",
  ...extra,
  syscalls: [rule],
});

describe("seccomp filters in the kernel", () => {
  it("returns EPERM for SCMP_ACT_ERRNO without errnoRet, and errnoRet when given", () => {
    expect(probe(allowAllBut({ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO" }), "mkdir", "d1").out).toBe(
      "ret=-1 errno=1",
    );
    expect(existsSync(join(dir, "d1"))).toBe(false);
    expect(probe(allowAllBut({ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }), "mkdir", "d2").out).toBe(
      "ret=-1 errno=38",
    );
    // control: without the rule the same probe creates the directory
    expect(probe(allowAllBut({ names: ["rmdir"], action: "SCMP_ACT_ERRNO" }), "mkdir", "d3").out).toBe("ret=0 errno=0");
    expect(existsSync(join(dir, "d3"))).toBe(true);
  });

  it("applies defaultErrnoRet to everything not allowed (busybox sees ENOSYS)", () => {
    const profile: Seccomp = {
      ...DOCKER_LIKE,
      defaultErrnoRet: 38,
      syscalls: DOCKER_LIKE.syscalls!.map((r) => ({ ...r, names: r.names.filter((x) => x !== "mkdir" && x !== "mkdirat") })),
    };
    const r = probe(profile, "exec", BUSYBOX, "mkdir", join(dir, "d4"));
    expect(r.stderr).toContain("Function not implemented");
    expect(r.status).toBe(1);
    expect(existsSync(join(dir, "d4"))).toBe(false);
  });

  it("selects on arguments: personality(0xffffffff) allowed, personality(ADDR_NO_RANDOMIZE) denied", () => {
    expect(probe(DOCKER_LIKE, "sys", SYS.personality, "0xffffffff").out).toMatch(/^ret=\d+ errno=0$/);
    expect(probe(DOCKER_LIKE, "sys", SYS.personality, "0x0040000").out).toBe("ret=-1 errno=1");
  });

  it("allows fork-style clone but not clone with namespace flags; clone3 gets ENOSYS", () => {
    expect(probe(DOCKER_LIKE, "clone", 0).out).toBe("ret=0 errno=0");
    expect(probe(DOCKER_LIKE, "clone", CLONE_NEWUTS).out).toBe("ret=-1 errno=1");
    // control: the probe (root) may create a uts namespace when the filter allows it
    expect(probe({ defaultAction: "SCMP_ACT_ALLOW" }, "clone", CLONE_NEWUTS).out).toBe("ret=0 errno=0");
    expect(probe(DOCKER_LIKE, "sys", SYS.clone3, 0, 0).out).toBe("ret=-1 errno=38");
  });

  it("runs busybox under the docker-like profile but denies mount and unshare", () => {
    const target = join(dir, "mnt");
    const r = probe(
      DOCKER_LIKE,
      "exec",
      BUSYBOX,
      "sh",
      "-c",
      `echo hello; mkdir ${target} && echo made; mount -t tmpfs none ${target} || echo mount-failed; unshare -u true || echo unshare-failed`,
    );
    expect(r.status).toBe(0);
    expect(r.out.split("\n")).toEqual(["hello", "made", "mount-failed", "unshare-failed"]);
    expect(r.stderr).toContain("Operation not permitted");
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(target);
  });

  it("kills the process with SIGSYS for SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL and SCMP_ACT_TRAP", () => {
    for (const action of ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"]) {
      const r = probe(allowAllBut({ names: ["getpid"], action }), "sys", SYS.getpid);
      expect({ action, signal: r.signal, out: r.out }).toEqual({ action, signal: "SIGSYS", out: "" });
    }
  });

  it("lets SCMP_ACT_LOG and SCMP_ACT_ALLOW through, with the LOG and SPEC_ALLOW flags", () => {
    const log = allowAllBut(
      { names: ["getpid"], action: "SCMP_ACT_LOG" },
      { flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"] },
    );
    expect(compileSeccomp(log).flags).toBe(6);
    expect(probe(log, "sys", SYS.getpid).out).toMatch(/^ret=[1-9]\d* errno=0$/);
    const allow: Seccomp = {
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{ names: DOCKER_LIKE.syscalls![0].names, action: "SCMP_ACT_ALLOW" }],
    };
    expect(probe(allow, "sys", SYS.getpid).out).toMatch(/^ret=[1-9]\d* errno=0$/);
    expect(probe(allow, "sys", SYS.mount, 0, 0, 0, 0, 0).out).toBe("ret=-1 errno=1");
  });

  it("returns ENOSYS for SCMP_ACT_TRACE when no tracer is attached", () => {
    expect(probe(allowAllBut({ names: ["getpid"], action: "SCMP_ACT_TRACE" }), "sys", SYS.getpid).out).toBe("ret=-1 errno=38");
  });

  it("loads a notify filter with NEW_LISTENER (and WAIT_KILLABLE_RECV) flags the kernel accepts", () => {
    const notify = allowAllBut(
      { names: ["unshare"], action: "SCMP_ACT_NOTIFY" },
      {
        listenerPath: "/run/polis-test-agent.sock",
        flags: ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
      },
    );
    expect(compileSeccomp(notify).flags).toBe(8 | 32);
    // a syscall the filter does not notify runs normally (a notified one would wait for the agent)
    expect(probe(notify, "sys", SYS.getpid).out).toMatch(/^ret=[1-9]\d* errno=0$/);
  });
});

// The plan decoder against hostile input: random bytes, random records, truncated and mutated real
// plans, fed to the real polis-shim over a socketpair. Whatever comes in, the shim reports an
// error (ERROR message, exit 1) or runs what is a valid plan; it never dies by a signal (SIGSEGV,
// SIGABRT) and never hangs. A malformed plan is refused as a whole, before its first op runs.
//
// A mutation that still decodes is really executed, so the shim runs as nobody (uid/gid 65534, no
// groups), root only of its own user namespace (with its own mount, uts, ipc, net and cgroup
// namespaces), in an empty working directory of its own: it can write no file of the host's and
// own none of its namespaces. (A user namespace alone is not enough: its creator keeps uid 0 on
// the host's files.)
import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildInitPlan } from "../../src/container/plan-init.js";
import { buildJoinPlan } from "../../src/container/plan-join.js";
import { argCount, OpCode, Plan } from "../../src/linux/plan.js";
import { decodeMessages, type ShimMessage } from "../../src/linux/shim.js";
import { shimPath } from "../../src/paths.js";
import type { Spec } from "../../src/spec/types.js";
import { seeded } from "../helpers/random.js";

const SHIM = shimPath();
const CASES_PER_KIND = Number(process.env.POLIS_FUZZ_CASES ?? 80);
const seed = Number(process.env.POLIS_FUZZ_SEED ?? Date.now() % 2 ** 31);
const EPIPE = 32;
const E2BIG = 7;
const EINVAL = 22;
/** one past the largest op code: random codes below it are mostly real ops, some gaps */
const OP_SPAN = Math.max(...Object.values(OpCode).filter((v): v is number => typeof v === "number")) + 3;

const rand = seeded(seed);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

/** What the shim must answer, by PROTOCOL.md and plan.c's limits, computed independently. */
type Verdict = { kind: "error"; step: number; errno: number } | { kind: "valid" };

function judge(buf: Buffer): Verdict {
  let off = 0;
  const take = (n: number): Buffer | undefined => {
    if (buf.length - off < n) return undefined;
    off += n;
    return buf.subarray(off - n, off);
  };
  const ops: { code: number; nargs: number }[] = [];
  for (;;) {
    const head = take(8);
    if (!head) return { kind: "error", step: -1, errno: EPIPE };
    const code = head.readUInt32LE(0);
    const nargs = head.readUInt32LE(4);
    if (nargs > 65536) return { kind: "error", step: -1, errno: E2BIG };
    for (let i = 0; i < nargs; i++) {
      const len = take(4);
      if (!len) return { kind: "error", step: -1, errno: EPIPE };
      if (len.readUInt32LE(0) > 64 << 20) return { kind: "error", step: -1, errno: E2BIG };
      if (!take(len.readUInt32LE(0))) return { kind: "error", step: -1, errno: EPIPE };
    }
    if (code === OpCode.END) break;
    ops.push({ code, nargs });
  }
  for (const [step, op] of ops.entries()) {
    const known = op.code in OpCode && op.code !== OpCode.END;
    const want = known ? argCount(op.code as OpCode) : undefined;
    const ok = want && (want.variadic ? op.nargs >= want.min : op.nargs === want.min);
    if (!ok) return { kind: "error", step, errno: EINVAL };
  }
  return { kind: "valid" };
}

interface Outcome {
  code: number | null;
  signal: string | null;
  messages: ShimMessage[];
  stderr: string;
  timedOut: boolean;
}

const NOBODY = 65534;
const SANDBOX = [
  "--reuid",
  `${NOBODY}`,
  "--regid",
  `${NOBODY}`,
  "--clear-groups",
  "unshare",
  "--user",
  "--map-root-user",
  "--mount",
  "--uts",
  "--ipc",
  "--net",
  "--cgroup",
];
let workDir = "";

/** Run the shim on `input` (then EOF) as nobody in throw-away namespaces. */
function feed(input: Buffer): Promise<Outcome> {
  const child = spawn("setpriv", [...SANDBOX, SHIM, "3"], {
    cwd: workDir,
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    stdio: ["ignore", "ignore", "pipe", "pipe"],
    detached: true, // its own process group: on a timeout we kill the shim and whatever it cloned
  });
  const sock = child.stdio[3] as Socket;
  const chunks: Buffer[] = [];
  let stderr = "";
  let timedOut = false;
  sock.on("data", (c: Buffer) => chunks.push(c));
  sock.on("error", () => undefined); // the shim may exit before reading everything: EPIPE
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  sock.end(input);
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }, 5000);
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, messages: decodeMessages(Buffer.concat(chunks)).messages, stderr, timedOut });
    });
  });
}

// Real plans to cut and mutate: an init plan (mounts, devices, caps…) and a join plan.
const fixture = (): Spec => JSON.parse(readFileSync(new URL("../fixtures/runc-default-config.json", import.meta.url), "utf8"));
function basePlans(): Plan[] {
  const init = buildInitPlan({
    spec: fixture(),
    rootfs: "/nonexistent/polis-fuzz/rootfs",
    fifoPath: "/nonexistent/polis-fuzz/exec.fifo",
    noPivot: false,
    cgroupProcs: [],
    cgroupPaths: {},
    mode: "detach",
    sourceKind: () => "dir",
  });
  const join = buildJoinPlan({
    pid: 1,
    namespaces: [],
    cgroupProcs: [],
    mode: "wait",
    argv: ["/nonexistent/polis-fuzz/prog", "arg"],
    env: ["PATH=/nonexistent"],
    process: { ...fixture().process!, terminal: false },
  });
  return [init, join];
}

const ARG_SHAPES: (() => Buffer)[] = [
  () => Buffer.alloc(0),
  () => Buffer.from(String(int(2 ** 31) - 2 ** 30)),
  () => Buffer.from(`0x${int(2 ** 31).toString(16)}ffffffff`),
  () => Buffer.from("-1"),
  () => Buffer.from("99999999999999999999999"),
  () => randomBytes(int(24)),
  () => Buffer.from("/nonexistent/polis-fuzz/" + "x".repeat(int(300))),
  () => Buffer.from("x".repeat(5000)),
  () => Buffer.from("wait"),
  () => Buffer.from("detach"),
];

/** A few records with plausible op codes and argument counts, random arguments. */
function randomRecords(): Buffer {
  const parts: Buffer[] = [];
  for (let r = 0, n = 1 + int(5); r < n; r++) {
    const code = rand() < 0.85 ? int(OP_SPAN) : int(2 ** 32);
    const want = code in OpCode ? argCount(code as OpCode).min : 0;
    const nargs = rand() < 0.6 ? want + (rand() < 0.2 ? int(3) : 0) : int(9);
    parts.push(u32(code), u32(nargs));
    for (let i = 0; i < nargs; i++) {
      const a = pick(ARG_SHAPES)();
      parts.push(u32(a.length), a);
    }
  }
  if (rand() < 0.9) parts.push(u32(OpCode.END), u32(0));
  if (rand() < 0.2) parts.push(randomBytes(int(16)));
  return Buffer.concat(parts);
}

function mutate(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  for (let m = 0, n = 1 + int(3); m < n; m++) {
    const at = int(out.length - 4) & ~3; // records are u32-aligned until the first odd-length string
    const choice = int(4);
    if (choice === 0) out[int(out.length)] = int(256);
    else if (choice === 1) out.writeUInt32LE(pick([0xffffffff, 0x7fffffff, 65537, (64 << 20) + 1, int(64)]), at);
    else if (choice === 2) out.writeUInt32LE(int(OP_SPAN), at);
    else out.writeUInt32LE(int(10), at);
  }
  return out;
}

function cases(): [string, Buffer][] {
  const bases = basePlans().map((p) => p.encode());
  const out: [string, Buffer][] = [];
  for (let i = 0; i < CASES_PER_KIND; i++) {
    out.push([`random bytes #${i}`, randomBytes(int(80))]);
    out.push([`random records #${i}`, randomRecords()]);
    const base = pick(bases);
    out.push([`truncated plan #${i}`, base.subarray(0, i === 0 ? 0 : int(base.length))]);
    out.push([`mutated plan #${i}`, mutate(pick(bases))]);
  }
  return out;
}

describe.skipIf(!existsSync(SHIM))("polis-shim build hardening (native/binding.gyp)", () => {
  const tool = (cmd: string, args: string[]) => spawnSync(cmd, [...args, SHIM], { encoding: "utf8" });
  const missing = spawnSync("readelf", ["--version"]).status !== 0;
  it.skipIf(missing)("is a PIE with full RELRO, a non-executable stack, stack protector and fortified calls", () => {
    expect(tool("readelf", ["-h"]).stdout).toMatch(/Type:\s+DYN/);
    const dyn = tool("readelf", ["-d"]).stdout;
    expect(dyn).toMatch(/FLAGS_1.*\bNOW\b.*\bPIE\b|FLAGS_1.*\bPIE\b/);
    expect(dyn).toMatch(/BIND_NOW/);
    const segments = tool("readelf", ["-lW"]).stdout;
    expect(segments).toMatch(/GNU_RELRO/);
    expect(segments).toMatch(/GNU_STACK\s+(\S+\s+){5}RW\s/);
    const symbols = tool("nm", ["-D"]).stdout;
    expect(symbols).toContain("__stack_chk_fail");
    expect(symbols).toMatch(/__\w+_chk@/); // _FORTIFY_SOURCE replaced some calls with checked ones
  });
});

const canSandbox = existsSync(SHIM) && spawnSync("setpriv", [...SANDBOX, "true"]).status === 0;
if (!canSandbox) {
  const why = existsSync(SHIM)
    ? "cannot run as nobody in a new user namespace (needs root and user namespaces)"
    : `no shim at ${SHIM}: npm run install`;
  console.log(`shim-fuzz: skipped: ${why}`);
}

describe.skipIf(!canSandbox)(`polis-shim plan decoder fuzz (POLIS_FUZZ_SEED=${seed})`, () => {
  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), "polis-shim-fuzz-"));
    chownSync(workDir, NOBODY, NOBODY);
  });
  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  it("answers every random, truncated or mutated plan with a report or a run, never a crash", async () => {
    const all = cases();
    const failures: string[] = [];
    let refused = 0;
    let ran = 0;
    const check = async ([name, input]: [string, Buffer]) => {
      const verdict = judge(input);
      const r = await feed(input);
      const where = `${name} (${input.length} bytes, seed ${seed}): `;
      if (r.timedOut) return failures.push(`${where}did not end within 5 s`);
      if (r.signal) return failures.push(`${where}killed by ${r.signal}; stderr: ${r.stderr.trim()}`);
      if (verdict.kind === "valid") return ran++;
      refused++;
      const want = { code: 1, messages: [{ type: "error", step: verdict.step, errno: verdict.errno }] };
      const got = { code: r.code, messages: r.messages.map((m) => ({ type: m.type, step: m.step, errno: m.errno })) };
      if (JSON.stringify(got) !== JSON.stringify(want))
        failures.push(`${where}expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    };
    // a few at a time: each case is two execs (unshare, the shim)
    const queue = [...all];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let c = queue.shift(); c; c = queue.shift()) await check(c);
      }),
    );
    expect(failures).toEqual([]);
    // the generator must reach both sides: refusals, and plans that decode and run
    expect(refused).toBeGreaterThan(all.length / 2);
    expect(ran).toBeGreaterThan(0);
  }, 180_000);

  it("refuses clone flags other than new namespaces (CLONE_VM would share the shim's memory)", async () => {
    for (const flags of [0x100 /* CLONE_VM */, 0x200 /* CLONE_FS */, 0x10000 /* CLONE_THREAD */, 0x20000 | 0x8000]) {
      const plan = new Plan()
        .add(OpCode.CLONE, "linux.namespaces", "clone", flags, "", "", "", "wait")
        .add(OpCode.SETSID, "process", "setsid");
      const r = await feed(plan.encode());
      expect({ flags, signal: r.signal, code: r.code, messages: r.messages.map((m) => [m.type, m.step, m.errno]) }).toEqual({
        flags,
        signal: null,
        code: 1,
        messages: [["error", 0, EINVAL]],
      });
    }
  });
});

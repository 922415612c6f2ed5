// linux.resources.devices -> cgroup v2 eBPF device program. The program is checked by running
// it: a tiny interpreter for the few BPF opcodes the compiler emits (decoded here from the
// kernel's numbers, independently of the compiler's table), compared against a plain-TypeScript
// statement of the rule semantics. No privileges: the loader is injected or mocked.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

const bpfMock = vi.hoisted(() => ({ replaceDevicePrograms: vi.fn() }));
vi.mock("../../src/cgroups/v2/bpf.js", () => bpfMock);

import { cgroupManager } from "../../src/cgroups/index.js";
import { parseLayout } from "../../src/cgroups/layout.js";
import { applyDevicesV2, deviceFilterProgram } from "../../src/cgroups/v2/devices.js";
import { effectiveResources } from "../../src/container/cgroup.js";
import type { DeviceCgroupRule } from "../../src/spec/types.js";

// ---- a BPF interpreter for cgroup device programs ----

/** A device access request, as the kernel fills struct bpf_cgroup_dev_ctx. */
interface Req {
  type: "b" | "c";
  major: number;
  minor: number;
  /** any of "rwm" */
  access: string;
}
const ACC: Record<string, number> = { m: 1, r: 2, w: 4 };
const accBits = (s: string) => [...s].reduce((a, c) => a | ACC[c], 0);

interface Decoded {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}
function decode(prog: Buffer): Decoded[] {
  expect(prog.length % 8).toBe(0);
  return Array.from({ length: prog.length / 8 }, (_, k) => ({
    code: prog.readUInt8(8 * k),
    dst: prog.readUInt8(8 * k + 1) & 0xf,
    src: prog.readUInt8(8 * k + 1) >> 4,
    off: prog.readInt16LE(8 * k + 2),
    imm: prog.readInt32LE(8 * k + 4),
  }));
}

const U32 = 0xffffffffn;
const U64 = (1n << 64n) - 1n;

/** Run `prog` on `req`; returns r0 at exit. Throws on any opcode the compiler should not emit. */
function run(prog: Buffer, req: Req): number {
  const insns = decode(prog);
  const ctx = Buffer.alloc(12);
  ctx.writeUInt32LE(((accBits(req.access) << 16) | (req.type === "b" ? 1 : 2)) >>> 0, 0);
  ctx.writeUInt32LE(req.major, 4);
  ctx.writeUInt32LE(req.minor, 8);
  const CTX = 0x1000n; // fake pointer for r1
  const r: (bigint | undefined)[] = new Array(11).fill(undefined);
  r[1] = CTX;
  const get = (n: number) => {
    if (r[n] === undefined) throw new Error(`read of uninitialised r${n}`);
    return r[n]!;
  };
  const sext = (imm: number) => BigInt.asUintN(64, BigInt(imm));
  for (let pc = 0, steps = 0; ; pc++, steps++) {
    if (pc < 0 || pc >= insns.length) throw new Error(`pc ${pc} out of the program`);
    if (steps > 10000) throw new Error("loop");
    const i = insns[pc];
    switch (i.code) {
      case 0x61: {
        // ldx w
        const addr = get(i.src) + BigInt(i.off) - CTX;
        if (get(i.src) !== CTX || addr < 0n || addr > 8n || addr % 4n !== 0n) throw new Error("bad ctx load");
        r[i.dst] = BigInt(ctx.readUInt32LE(Number(addr)));
        break;
      }
      case 0x54:
        r[i.dst] = get(i.dst) & BigInt(i.imm >>> 0) & U32;
        break; // and32 k
      case 0x74:
        r[i.dst] = (get(i.dst) & U32) >> BigInt(i.imm);
        break; // rsh32 k
      case 0xb7:
        r[i.dst] = sext(i.imm);
        break; // mov64 k
      case 0xbc:
        r[i.dst] = get(i.src) & U32;
        break; // mov32 x
      case 0x05:
        pc += i.off;
        break; // ja
      case 0x15:
        if (get(i.dst) === sext(i.imm)) pc += i.off;
        break; // jeq k
      case 0x55:
        if (get(i.dst) !== sext(i.imm)) pc += i.off;
        break; // jne k
      case 0x45:
        if ((get(i.dst) & sext(i.imm) & U64) !== 0n) pc += i.off;
        break; // jset k
      case 0x95:
        return Number(get(0)); // exit
      default:
        throw new Error(`unexpected opcode 0x${i.code.toString(16)} at ${pc}`);
    }
  }
}

/** The kernel verifier refuses unreachable instructions and jumps outside the program. */
function expectAllReachable(prog: Buffer): void {
  const insns = decode(prog);
  const seen = new Set<number>();
  const todo = [0];
  while (todo.length) {
    const pc = todo.pop()!;
    if (seen.has(pc)) continue;
    expect(pc >= 0 && pc < insns.length, `jump target ${pc}`).toBe(true);
    seen.add(pc);
    const { code, off } = insns[pc];
    if (code === 0x95) continue;
    if (code === 0x05) todo.push(pc + 1 + off);
    else if ((code & 0x07) === 0x05) todo.push(pc + 1, pc + 1 + off);
    else todo.push(pc + 1);
  }
  expect(seen.size).toBe(insns.length);
}

/** The semantics in plain words: the last rule that matches decides; none matches -> deny. */
function reference(rules: DeviceCgroupRule[], req: Req): number {
  const want = accBits(req.access);
  for (let i = rules.length - 1; i >= 0; i--) {
    const x = rules[i];
    const type = x.type ?? "a";
    if (type !== "a" && type !== req.type) continue;
    if (x.major != null && x.major !== -1 && x.major !== req.major) continue;
    if (x.minor != null && x.minor !== -1 && x.minor !== req.minor) continue;
    const acc = accBits(x.access || "rwm");
    if (x.allow ? (want & ~acc) !== 0 : (want & acc) === 0) continue;
    return x.allow ? 1 : 0;
  }
  return 0;
}

const allow = (type: string, major: number | null, minor: number | null, access = "rwm"): DeviceCgroupRule => ({
  allow: true,
  type,
  major,
  minor,
  access,
});
const deny = (type: string, major: number | null, minor: number | null, access = "rwm"): DeviceCgroupRule => ({
  allow: false,
  type,
  major,
  minor,
  access,
});
const req = (type: "b" | "c", major: number, minor: number, access: string): Req => ({ type, major, minor, access });

function decide(rules: DeviceCgroupRule[], r: Req): number {
  const prog = deviceFilterProgram(rules);
  expectAllReachable(prog);
  const got = run(prog, r);
  expect(got, `reference model for ${JSON.stringify(r)}`).toBe(reference(rules, r));
  return got;
}

describe("deviceFilterProgram", () => {
  it("encodes struct bpf_insn: the prologue loads the context fields", () => {
    const insns = decode(deviceFilterProgram([]));
    // r2 = *(u32 *)(r1 + 0): dst in the low nibble, src in the high one
    expect(deviceFilterProgram([]).subarray(0, 8)).toEqual(Buffer.from([0x61, 0x12, 0, 0, 0, 0, 0, 0]));
    expect(insns.filter((i) => i.code === 0x61).map((i) => [i.dst, i.off])).toEqual([
      [2, 0],
      [3, 0],
      [4, 4],
      [5, 8],
    ]);
    // no rules: deny everything
    expect(insns.slice(-2)).toEqual([
      { code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 },
      { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
    ]);
    expect(run(deviceFilterProgram([]), req("c", 1, 3, "r"))).toBe(0);
  });

  it("runc's default set: deny all, then the always-allowed devices", () => {
    const devices = effectiveResources({
      ociVersion: "1.0.2",
      linux: { resources: { devices: [{ allow: false, access: "rwm" }] } },
    } as never)!.devices!;
    expect(devices.length).toBeGreaterThan(10);
    expect(decide(devices, req("c", 1, 3, "rw"))).toBe(1); // /dev/null
    expect(decide(devices, req("c", 1, 5, "r"))).toBe(1); // /dev/zero
    expect(decide(devices, req("c", 1, 9, "r"))).toBe(1); // /dev/urandom
    expect(decide(devices, req("c", 136, 7, "rw"))).toBe(1); // /dev/pts/7
    expect(decide(devices, req("c", 5, 2, "rw"))).toBe(1); // /dev/ptmx
    expect(decide(devices, req("c", 10, 200, "rw"))).toBe(1); // /dev/net/tun
    expect(decide(devices, req("c", 1, 1, "r"))).toBe(0); // /dev/mem
    expect(decide(devices, req("c", 10, 229, "rw"))).toBe(0); // /dev/fuse
    expect(decide(devices, req("b", 8, 0, "r"))).toBe(0); // /dev/sda
    expect(decide(devices, req("b", 1, 3, "r"))).toBe(0); // block 1:3 is not /dev/null
    // mknod of anything is allowed (c *:* m, b *:* m), using the node is not
    expect(decide(devices, req("b", 8, 0, "m"))).toBe(1);
    expect(decide(devices, req("c", 10, 229, "m"))).toBe(1);
    expect(decide(devices, req("c", 10, 229, "rm"))).toBe(0);
  });

  it("wildcards: a null (or -1) major or minor matches any", () => {
    const rules = [allow("c", 136, null), allow("c", null, 42, "r"), allow("b", -1 as never, -1 as never, "r")];
    expect(decide(rules, req("c", 136, 0, "rw"))).toBe(1);
    expect(decide(rules, req("c", 136, 99999, "w"))).toBe(1);
    expect(decide(rules, req("c", 137, 0, "r"))).toBe(0);
    expect(decide(rules, req("c", 7, 42, "r"))).toBe(1);
    expect(decide(rules, req("c", 7, 42, "w"))).toBe(0);
    expect(decide(rules, req("b", 253, 1, "r"))).toBe(1);
    expect(decide(rules, req("b", 253, 1, "w"))).toBe(0);
  });

  it("access: an allow rule must cover the whole request, a deny rule any part of it", () => {
    const ro = [allow("c", 1, 5, "r")];
    expect(decide(ro, req("c", 1, 5, "r"))).toBe(1);
    expect(decide(ro, req("c", 1, 5, "w"))).toBe(0);
    expect(decide(ro, req("c", 1, 5, "rw"))).toBe(0);
    // two partial allows do not add up to rw (v1 behaves the same)
    expect(decide([allow("c", 1, 5, "r"), allow("c", 1, 5, "w")], req("c", 1, 5, "rw"))).toBe(0);
    const noWrite = [allow("a", null, null), deny("c", 1, 5, "w")];
    expect(decide(noWrite, req("c", 1, 5, "r"))).toBe(1);
    expect(decide(noWrite, req("c", 1, 5, "w"))).toBe(0);
    expect(decide(noWrite, req("c", 1, 5, "rw"))).toBe(0);
    expect(decide(noWrite, req("c", 1, 3, "rw"))).toBe(1);
    // a missing or empty access means rwm, as on v1
    expect(decide([{ allow: true, type: "c", major: 1, minor: 5 }], req("c", 1, 5, "rwm"))).toBe(1);
    expect(decide([{ allow: true, type: "c", major: 1, minor: 5, access: "" }], req("c", 1, 5, "rwm"))).toBe(1);
  });

  it("the last matching rule wins: allow-all then deny, deny then allow-all", () => {
    const rules = [allow("a", null, null), deny("c", 1, 5)];
    expect(decide(rules, req("c", 1, 5, "r"))).toBe(0);
    expect(decide(rules, req("c", 1, 3, "r"))).toBe(1);
    expect(decide(rules, req("b", 8, 0, "rwm"))).toBe(1);
    // a later allow re-opens what an earlier deny closed
    expect(decide([...rules, allow("c", 1, 5, "r")], req("c", 1, 5, "r"))).toBe(1);
    expect(decide([...rules, allow("c", 1, 5, "r")], req("c", 1, 5, "w"))).toBe(0);
    // a trailing match-all decides alone: nothing before it is even compiled (the verifier
    // rejects unreachable code), so the program is the prologue and one return
    const after = [deny("c", 1, 5), allow("c", 1, 3), allow("a", null, null)];
    expect(decide(after, req("c", 1, 5, "r"))).toBe(1);
    expect(decode(deviceFilterProgram(after))).toHaveLength(6 + 2);
    expect(decode(deviceFilterProgram([allow("c", 1, 3), deny("a", null, null)]))).toHaveLength(6 + 2);
    expect(decide([allow("c", 1, 3), deny("a", null, null)], req("c", 1, 3, "r"))).toBe(0);
    // "a" with a restricted access or numbers is an ordinary rule, not a reset
    expect(decide([allow("a", null, null, "m")], req("b", 8, 0, "m"))).toBe(1);
    expect(decide([allow("a", null, null, "m")], req("b", 8, 0, "r"))).toBe(0);
    expect(decide([allow("a", 1, null)], req("b", 1, 0, "r"))).toBe(1);
    expect(decide([allow("a", 1, null)], req("c", 2, 0, "r"))).toBe(0);
  });

  it("agrees with the reference semantics on random rule sets", () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return (seed >>> 16) % n;
    };
    const types = ["a", "b", "c"];
    const accesses = ["r", "w", "m", "rw", "rm", "wm", "rwm"];
    const num = () => (rnd(3) === 0 ? null : rnd(3));
    const outcomes = [0, 0];
    for (let t = 0; t < 300; t++) {
      const rules = Array.from({ length: rnd(6) }, () => ({
        allow: rnd(2) === 0,
        type: types[rnd(3)],
        major: num(),
        minor: num(),
        access: accesses[rnd(7)],
      }));
      for (let k = 0; k < 10; k++) outcomes[decide(rules, req(rnd(2) ? "b" : "c", rnd(3), rnd(3), accesses[rnd(7)]))]++;
    }
    // the generator is not degenerate: both answers come up often
    expect(Math.min(...outcomes)).toBeGreaterThan(200);
  });

  it("validates the rules with the same messages as v1", () => {
    expect(() => deviceFilterProgram([{ allow: true, type: "x" }])).toThrow(/^linux.resources.devices\[0\].type: /);
    expect(() => deviceFilterProgram([allow("c", 1, 1), { allow: true, access: "rwx" }])).toThrow(
      /^linux.resources.devices\[1\].access: /,
    );
    expect(() => deviceFilterProgram([allow("c", -5, 1)])).toThrow(/^linux.resources.devices\[0\].major: /);
    expect(() => deviceFilterProgram([allow("c", 1, 2 ** 31)])).toThrow(
      "linux.resources.devices[0].minor: must be at most 2147483647",
    );
  });
});

describe("applyDevicesV2", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "polis-fakecg-dev-"));
    bpfMock.replaceDevicePrograms.mockReset();
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("hands the compiled program to the injected loader", () => {
    const rules = [deny("a", null, null), allow("c", 1, 3)];
    const calls: [string, Buffer][] = [];
    applyDevicesV2("/sys/fs/cgroup/x", rules, (dir, insns) => calls.push([dir, insns]));
    expect(calls).toEqual([["/sys/fs/cgroup/x", deviceFilterProgram(rules)]]);
    expect(() => applyDevicesV2("/x", [{ allow: true, type: "q" }], () => {})).toThrow(/^linux.resources.devices\[0\].type/);
  });

  function files(dir: string, content: Record<string, string>): void {
    mkdirSync(dir, { recursive: true });
    for (const [f, v] of Object.entries(content)) writeFileSync(join(dir, f), v);
  }

  it("a pure cgroup v2 manager attaches the program to the container's cgroup", () => {
    const mnt = join(root, "cg");
    files(mnt, { "cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": "" });
    const layout = parseLayout(`40 30 0:37 / ${mnt} rw - cgroup2 cgroup2 rw\n`, "0::/\n");
    const m = cgroupManager({ cgroupsPath: "/pod/c1", id: "c1", layout });
    m.create();
    const rules = [deny("a", null, null), allow("c", 1, 3, "rw")];
    m.apply({ devices: rules });
    expect(bpfMock.replaceDevicePrograms).toHaveBeenCalledTimes(1);
    expect(bpfMock.replaceDevicePrograms).toHaveBeenCalledWith(join(mnt, "pod", "c1"), deviceFilterProgram(rules));
    // a loader failure reaches the caller unchanged
    bpfMock.replaceDevicePrograms.mockImplementationOnce(() => {
      throw new Error("linux.resources.devices: attach the device program to x: EPERM");
    });
    expect(() => m.apply({ devices: rules })).toThrow(/^linux.resources.devices: .*EPERM/);
  });

  it("a hybrid host keeps using the v1 devices controller", () => {
    const base = join(root, "sys");
    files(join(base, "devices"), { "cgroup.procs": "" });
    files(join(base, "unified"), { "cgroup.controllers": "hugetlb", "cgroup.subtree_control": "" });
    const mi =
      `31 30 0:28 / ${join(base, "devices")} rw - cgroup cgroup rw,devices\n` +
      `40 30 0:37 / ${join(base, "unified")} rw - cgroup2 cgroup2 rw\n`;
    const m = cgroupManager({ cgroupsPath: "/c1", id: "c1", layout: parseLayout(mi, "0::/\n") });
    m.create();
    // the v1 files are what is read: an allow-list holding c 1:3 gets just that taken away
    // (a plain file's devices.list does not follow the write, hence the error after it)
    files(join(base, "devices", "c1"), { "devices.allow": "", "devices.deny": "", "devices.list": "c 1:3 rwm\n" });
    expect(() => m.apply({ devices: [deny("a", null, null)] })).toThrow(/devices\/c1\/devices.list does not hold/);
    expect(readFileSync(join(base, "devices", "c1", "devices.deny"), "utf8")).toBe("c 1:3 rwm");
    expect(bpfMock.replaceDevicePrograms).not.toHaveBeenCalled();
  });
});

// cgroup v2 has no devices controller: device access is decided by a BPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup. This module compiles
// linux.resources.devices into such a program (a tiny assembler, no toolchain) and hands it to
// the loader in bpf.ts.
//
// Semantics (the same decisions the v1 devices controller makes for these rules):
//   - rules are read in order and the LAST rule that matches a request decides it;
//   - nothing matches: deny (a leading "allow a" rule turns that into allow-by-default);
//   - an allow rule matches only when it grants every access bit requested (an O_RDWR open
//     needs a rule with both r and w), a deny rule matches when it forbids any of them.
// The program therefore tests the rules from last to first and returns on the first match.
import { fieldError } from "../../errors.js";
import type { DeviceCgroupRule } from "../../spec/types.js";
import { deviceRuleLine } from "../v1/device-rules.js";
import { replaceDevicePrograms } from "./bpf.js";

const F = "linux.resources.devices";

/** struct bpf_cgroup_dev_ctx: the program's input (r1 points at it). */
const CTX_ACCESS_TYPE = 0; // u32: low 16 bits device type, high 16 bits access
const CTX_MAJOR = 4;
const CTX_MINOR = 8;
/** BPF_DEVCG_DEV_* and BPF_DEVCG_ACC_* */
const DEV_BLOCK = 1;
const DEV_CHAR = 2;
const ACC: Record<string, number> = { m: 1, r: 2, w: 4 };
const ACC_ALL = 7;

/** Opcodes (linux/bpf_common.h + linux/bpf.h): class | operation | source. */
const OP = {
  LDX_W: 0x61, // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
  AND32_K: 0x54, // BPF_ALU | BPF_AND | BPF_K: dst = (u32)dst & imm
  RSH32_K: 0x74, // BPF_ALU | BPF_RSH | BPF_K: dst = (u32)dst >> imm
  MOV64_K: 0xb7, // BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
  JA: 0x05, // BPF_JMP | BPF_JA: pc += off
  JNE_K: 0x55, // BPF_JMP | BPF_JNE | BPF_K: if (dst != imm) pc += off
  JSET_K: 0x45, // BPF_JMP | BPF_JSET | BPF_K: if (dst & imm) pc += off
  EXIT: 0x95, // BPF_JMP | BPF_EXIT: return r0
} as const;

/** Registers the prologue fills, read by every rule's test. */
const R0 = 0;
const R1 = 1; // context pointer on entry
const R_TYPE = 2;
const R_ACCESS = 3;
const R_MAJOR = 4;
const R_MINOR = 5;

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** a conditional jump to the end of its rule's block: `off` is filled in when the block is done */
  toNext?: boolean;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });
const ldxW = (dst: number, src: number, off: number) => insn(OP.LDX_W, dst, src, off, 0);
const and32 = (dst: number, imm: number) => insn(OP.AND32_K, dst, 0, 0, imm);
const rsh32 = (dst: number, imm: number) => insn(OP.RSH32_K, dst, 0, 0, imm);
const mov = (dst: number, imm: number) => insn(OP.MOV64_K, dst, 0, 0, imm);
const exit = () => insn(OP.EXIT, 0, 0, 0, 0);
const ja = (off: number) => insn(OP.JA, 0, 0, off, 0);
/** "if (dst != imm) skip this rule" */
const skipIfNe = (dst: number, imm: number): Insn => ({ ...insn(OP.JNE_K, dst, 0, 0, imm), toNext: true });
/** "if (dst & imm) skip this rule" */
const skipIfAny = (dst: number, imm: number): Insn => ({ ...insn(OP.JSET_K, dst, 0, 0, imm), toNext: true });

/** One rule, normalised: undefined major/minor are wildcards. */
export interface DeviceMatch {
  allow: boolean;
  type: "a" | "b" | "c";
  major?: number;
  minor?: number;
  /** BPF_DEVCG_ACC_* bits */
  access: number;
}

const MAX_IMM = 0x7fffffff; // jump immediates are signed 32-bit

/** Validate and normalise rule `i` exactly as the v1 path does (same messages, same defaults). */
export function parseDeviceRule(r: DeviceCgroupRule, i: number): DeviceMatch {
  const [type, numbers, access] = deviceRuleLine(r, i).split(" ");
  const [major, minor] = numbers.split(":").map((n, k) => {
    if (n === "*") return undefined;
    const v = Number(n);
    if (v > MAX_IMM) throw fieldError(`${F}[${i}].${k === 0 ? "major" : "minor"}`, `must be at most ${MAX_IMM}`);
    return v;
  });
  let bits = 0;
  for (const c of access) bits |= ACC[c];
  return { allow: r.allow, type: type as DeviceMatch["type"], major, minor, access: bits };
}

/** The instructions of one rule: tests that jump past the block on mismatch, then a return. */
function ruleBlock(m: DeviceMatch): Insn[] {
  const b: Insn[] = [];
  if (m.type !== "a") b.push(skipIfNe(R_TYPE, m.type === "b" ? DEV_BLOCK : DEV_CHAR));
  if (m.major !== undefined) b.push(skipIfNe(R_MAJOR, m.major));
  if (m.minor !== undefined) b.push(skipIfNe(R_MINOR, m.minor));
  if (m.access !== ACC_ALL) {
    if (m.allow) {
      // an allow rule must cover the whole request: skip when any requested bit is outside it
      b.push(skipIfAny(R_ACCESS, ~m.access & 0xffff));
    } else {
      // a deny rule applies when the request asks for any bit it forbids
      b.push(insn(OP.JSET_K, R_ACCESS, 0, 1, m.access), { ...ja(0), toNext: true });
    }
  }
  b.push(mov(R0, m.allow ? 1 : 0), exit());
  b.forEach((x, k) => {
    if (x.toNext) x.off = b.length - k - 1;
  });
  return b;
}

/** A rule that matches every request: nothing before it can matter. */
const matchesAll = (m: DeviceMatch) => m.type === "a" && m.major === undefined && m.minor === undefined && m.access === ACC_ALL;

function encode(prog: Insn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((x, k) => {
    // struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; } (little-endian)
    buf.writeUInt8(x.code, 8 * k);
    buf.writeUInt8((x.src << 4) | x.dst, 8 * k + 1);
    buf.writeInt16LE(x.off, 8 * k + 2);
    buf.writeInt32LE(x.imm | 0, 8 * k + 4);
  });
  return buf;
}

/**
 * Compile linux.resources.devices into a BPF_PROG_TYPE_CGROUP_DEVICE program (struct bpf_insn[]
 * bytes): returns 1 (allow) or 0 (deny) for each device access the cgroup's processes attempt.
 */
export function deviceFilterProgram(rules: DeviceCgroupRule[]): Buffer {
  const matches = rules.map(parseDeviceRule);
  const prog: Insn[] = [
    ldxW(R_TYPE, R1, CTX_ACCESS_TYPE),
    and32(R_TYPE, 0xffff),
    ldxW(R_ACCESS, R1, CTX_ACCESS_TYPE),
    rsh32(R_ACCESS, 16),
    ldxW(R_MAJOR, R1, CTX_MAJOR),
    ldxW(R_MINOR, R1, CTX_MINOR),
  ];
  for (let i = matches.length - 1; i >= 0; i--) {
    prog.push(...ruleBlock(matches[i]));
    // The verifier rejects unreachable instructions: stop after a rule that always returns.
    if (matchesAll(matches[i])) return encode(prog);
  }
  prog.push(mov(R0, 0), exit()); // no rule matched: deny
  return encode(prog);
}

/** Installs a compiled program on a cgroup2 directory (injected by unit tests). */
export type DeviceProgramLoader = (dir: string, insns: Buffer) => void;

/** linux.resources.devices on cgroup v2: compile, then attach in place of the previous program. */
export function applyDevicesV2(
  dir: string,
  rules: DeviceCgroupRule[],
  loader: DeviceProgramLoader = replaceDevicePrograms,
): void {
  loader(dir, deviceFilterProgram(rules));
}

// compileSeccomp with the host's libseccomp: the BPF it exports is checked structurally and then
// *run* by a small classic-BPF interpreter on hand-made seccomp_data, so rule semantics (errno
// values, argument filters, architectures, skipped names) are proven without a kernel.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compileSeccomp } from "../../src/seccomp/compile.js";
import { PolisError } from "../../src/errors.js";
import type { Seccomp } from "../../src/spec/types.js";

const DOCKER_LIKE: Seccomp = JSON.parse(readFileSync(new URL("../fixtures/seccomp-docker-like.json", import.meta.url), "utf8"));

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const X32_BIT = 0x40000000;
const NR = { getpid: 39, mkdir: 83, personality: 135, clone: 56, mount: 165, unshare: 272, clone3: 435, cachestat: 451 };
const ALLOW = 0x7fff0000;
const errno = (e: number) => (0x00050000 | e) >>> 0;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

function decode(bpf: Buffer): Insn[] {
  expect(bpf.length % 8).toBe(0);
  return Array.from({ length: bpf.length / 8 }, (_, i) => ({
    code: bpf.readUInt16LE(i * 8),
    jt: bpf[i * 8 + 2],
    jf: bpf[i * 8 + 3],
    k: bpf.readUInt32LE(i * 8 + 4),
  }));
}

/** Run a classic-BPF seccomp program on seccomp_data {nr, arch, ip, args}; returns the action. */
function run(bpf: Buffer, nr: number, arch = AUDIT_ARCH_X86_64, args: bigint[] = []): number {
  const data = Buffer.alloc(64);
  data.writeInt32LE(nr, 0);
  data.writeUInt32LE(arch, 4);
  for (const [i, a] of args.entries()) data.writeBigUInt64LE(a, 16 + 8 * i);
  const prog = decode(bpf);
  let A = 0,
    X = 0;
  const M = new Array<number>(16).fill(0);
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc];
    const src = code & 0x08 ? X : k;
    switch (code & 0x07) {
      case 0x00: // LD
        if ((code & 0xe0) === 0x20 && (code & 0x18) === 0) {
          expect(k % 4).toBe(0);
          A = data.readUInt32LE(k);
        } else if ((code & 0xe0) === 0x00)
          A = k; // LD IMM
        else if ((code & 0xe0) === 0x60) A = M[k];
        else throw new Error(`unsupported ld 0x${code.toString(16)}`);
        break;
      case 0x01:
        X = (code & 0xe0) === 0x60 ? M[k] : k;
        break; // LDX MEM / IMM
      case 0x02:
        M[k] = A;
        break;
      case 0x03:
        M[k] = X;
        break;
      case 0x04: {
        // ALU
        const op = code & 0xf0;
        if (op === 0x50) A = (A & src) >>> 0;
        else if (op === 0x40) A = (A | src) >>> 0;
        else if (op === 0x00) A = (A + src) >>> 0;
        else if (op === 0x10) A = (A - src) >>> 0;
        else throw new Error(`unsupported alu 0x${code.toString(16)}`);
        break;
      }
      case 0x05: {
        // JMP
        const op = code & 0xf0;
        if (op === 0x00) {
          pc += k;
          break;
        }
        const cond =
          op === 0x10 ? A === src : op === 0x20 ? A > src : op === 0x30 ? A >= src : op === 0x40 ? (A & src) !== 0 : null;
        if (cond === null) throw new Error(`unsupported jmp 0x${code.toString(16)}`);
        pc += cond ? jt : jf;
        expect(pc + 1).toBeLessThan(prog.length);
        break;
      }
      case 0x06:
        return (code & 0x18) === 0x10 ? A : k; // RET A / RET K
      case 0x07:
        if (code & 0x80) A = X;
        else X = A;
        break; // MISC TXA/TAX
    }
  }
  throw new Error("fell off the end of the program");
}

describe("compileSeccomp", () => {
  it("compiles the docker-like profile into a well-formed program", () => {
    const { bpf, flags, notify } = compileSeccomp(DOCKER_LIKE);
    const prog = decode(bpf);
    expect(prog.length).toBeGreaterThan(50);
    expect(prog.length).toBeLessThanOrEqual(4096);
    expect(prog[0]).toEqual({ code: 0x20, jt: 0, jf: 0, k: 4 }); // ld [4]: the architecture first
    expect(prog[prog.length - 1].code & 0x07).toBe(0x06); // ends with a RET
    expect(flags).toBe(0);
    expect(notify).toBe(false);
  });

  it("makes the docker-like profile allow, deny and filter arguments", () => {
    const { bpf } = compileSeccomp(DOCKER_LIKE);
    expect(run(bpf, NR.getpid)).toBe(ALLOW);
    expect(run(bpf, NR.mkdir)).toBe(ALLOW);
    expect(run(bpf, NR.mount)).toBe(errno(1));
    expect(run(bpf, NR.unshare)).toBe(errno(1));
    expect(run(bpf, NR.clone3)).toBe(errno(38));
    expect(run(bpf, NR.personality, AUDIT_ARCH_X86_64, [0xffffffffn])).toBe(ALLOW);
    expect(run(bpf, NR.personality, AUDIT_ARCH_X86_64, [8n])).toBe(ALLOW);
    expect(run(bpf, NR.personality, AUDIT_ARCH_X86_64, [0x0040000n])).toBe(errno(1));
    // the upper 32 bits are compared too
    expect(run(bpf, NR.personality, AUDIT_ARCH_X86_64, [0x1_0000_0000n])).toBe(errno(1));
    expect(run(bpf, NR.clone, AUDIT_ARCH_X86_64, [0x11n /* SIGCHLD */])).toBe(ALLOW);
    expect(run(bpf, NR.clone, AUDIT_ARCH_X86_64, [0x00020000n | 0x11n /* CLONE_NEWNS */])).toBe(errno(1));
    // x86 (i386) and x32 are covered; an architecture not listed is killed
    expect(run(bpf, 20 /* i386 getpid */, AUDIT_ARCH_I386)).toBe(ALLOW);
    expect(run(bpf, 21 /* i386 mount */, AUDIT_ARCH_I386)).toBe(errno(1));
    expect(run(bpf, (X32_BIT | NR.getpid) >>> 0, AUDIT_ARCH_X86_64)).toBe(ALLOW);
    expect(run(bpf, NR.getpid, AUDIT_ARCH_AARCH64)).toBe(0);
  });

  it("uses defaultErrnoRet and per-rule errnoRet, EPERM when absent", () => {
    const { bpf } = compileSeccomp({
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 38,
      syscalls: [
        { names: ["getpid", "exit_group"], action: "SCMP_ACT_ALLOW" },
        { names: ["mkdir"], action: "SCMP_ACT_ERRNO" },
        { names: ["mount"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
      ],
    });
    expect(run(bpf, NR.getpid)).toBe(ALLOW);
    expect(run(bpf, NR.mkdir)).toBe(errno(1));
    expect(run(bpf, NR.mount)).toBe(errno(13));
    expect(run(bpf, NR.unshare)).toBe(errno(38));
  });

  it("encodes every action", () => {
    const actions: [string, number, number][] = [
      ["SCMP_ACT_KILL", NR.mount, 0],
      ["SCMP_ACT_KILL_PROCESS", NR.mkdir, 0x80000000],
      ["SCMP_ACT_TRAP", NR.unshare, 0x00030000],
      ["SCMP_ACT_TRACE", NR.clone3, 0x7ff00001],
      ["SCMP_ACT_LOG", NR.personality, 0x7ffc0000],
      ["SCMP_ACT_NOTIFY", NR.clone, 0x7fc00000],
    ];
    const names = ["mount", "mkdir", "unshare", "clone3", "personality", "clone"];
    const { bpf, flags, notify } = compileSeccomp({
      defaultAction: "SCMP_ACT_ALLOW",
      listenerPath: "/run/agent.sock",
      syscalls: actions.map(([action], i) => ({ names: [names[i]], action })),
    });
    for (const [, nr, expected] of actions) expect(run(bpf, nr)).toBe(expected);
    expect(run(bpf, NR.getpid)).toBe(ALLOW);
    expect(notify).toBe(true);
    expect(flags).toBe(8); // SECCOMP_FILTER_FLAG_NEW_LISTENER
  });

  it("ANDs conditions on different arguments and ORs repeated indexes (runc's rule)", () => {
    const { bpf } = compileSeccomp({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        {
          names: ["personality"],
          action: "SCMP_ACT_ERRNO",
          args: [
            { index: 0, value: 1, op: "SCMP_CMP_EQ" },
            { index: 0, value: 2, op: "SCMP_CMP_EQ" },
          ],
        },
        {
          names: ["mkdir"],
          action: "SCMP_ACT_ERRNO",
          args: [
            { index: 1, value: 0o700, op: "SCMP_CMP_EQ" },
            { index: 0, value: 100, op: "SCMP_CMP_GT" },
          ],
        },
        {
          names: ["mount"],
          action: "SCMP_ACT_ERRNO",
          args: [{ index: 3, value: 0xff, valueTwo: 0x21, op: "SCMP_CMP_MASKED_EQ" }],
        },
      ],
    });
    expect(run(bpf, NR.personality, undefined, [1n])).toBe(errno(1));
    expect(run(bpf, NR.personality, undefined, [2n])).toBe(errno(1));
    expect(run(bpf, NR.personality, undefined, [3n])).toBe(ALLOW);
    expect(run(bpf, NR.mkdir, undefined, [101n, 0o700n])).toBe(errno(1));
    expect(run(bpf, NR.mkdir, undefined, [100n, 0o700n])).toBe(ALLOW);
    expect(run(bpf, NR.mkdir, undefined, [101n, 0o755n])).toBe(ALLOW);
    expect(run(bpf, NR.mount, undefined, [0n, 0n, 0n, 0x1321n])).toBe(errno(1));
    expect(run(bpf, NR.mount, undefined, [0n, 0n, 0n, 0x1322n])).toBe(ALLOW);
  });

  it("skips unknown syscalls and rules that repeat the default action", () => {
    const { bpf, skipped } = compileSeccomp({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        { names: ["polis_no_such_syscall", "getpid"], action: "SCMP_ACT_ALLOW" },
        { names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }, // == default: dropped, not an error
        { names: [], action: "SCMP_ACT_ALLOW" },
      ],
    });
    expect(skipped).toEqual(["polis_no_such_syscall"]);
    expect(run(bpf, NR.getpid)).toBe(ALLOW);
    expect(run(bpf, NR.mkdir)).toBe(errno(1));
  });

  it("turns flags into seccomp(2) flag bits", () => {
    const flagsOf = (flags: string[], extra: Partial<Seccomp> = {}) =>
      compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", flags, ...extra }).flags;
    expect(flagsOf(["SECCOMP_FILTER_FLAG_LOG"])).toBe(2);
    expect(flagsOf(["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"])).toBe(6);
    // WAIT_KILLABLE_RECV only means something with a listener
    expect(flagsOf(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])).toBe(0);
    expect(
      flagsOf(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC"], {
        listenerPath: "/s",
        syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_NOTIFY" }],
      }),
    ).toBe(8 | 32);
  });

  it("adds the native architecture without complaint and reports unusable ones", () => {
    expect(() => compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64"] })).not.toThrow();
    const arm = compileSeccomp({
      defaultAction: "SCMP_ACT_ALLOW",
      architectures: ["SCMP_ARCH_AARCH64"],
      syscalls: [{ names: ["mkdirat"], action: "SCMP_ACT_ERRNO" }],
    });
    expect(run(arm.bpf, 34 /* aarch64 mkdirat */, AUDIT_ARCH_AARCH64)).toBe(errno(1));
    expect(run(arm.bpf, 258 /* x86_64 mkdirat */)).toBe(errno(1));
    let err: unknown;
    try {
      compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_FOO"] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolisError);
    expect((err as PolisError).message).toBe('linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_FOO"');
    expect((err as PolisError).detail.field).toBe("linux.seccomp.architectures[1]");
  });

  it("reports libseccomp failures with the field, the step and the errno name", () => {
    // the same condition with two different actions is a conflict libseccomp refuses
    const cond = [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }];
    let err: unknown;
    try {
      compileSeccomp({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [
          { names: ["getpid"], action: "SCMP_ACT_ERRNO", args: cond },
          { names: ["mkdir", "getpid"], action: "SCMP_ACT_KILL", args: cond },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect((err as PolisError).message).toBe("linux.seccomp.syscalls[1].names[1]: seccomp_rule_add_array(getpid) failed: EEXIST");
    expect((err as PolisError).detail).toEqual({
      field: "linux.seccomp.syscalls[1].names[1]",
      step: "seccomp_rule_add_array(getpid)",
      errno: "EEXIST",
    });
  });

  it("uses the field prefix it is given", () => {
    expect(() => compileSeccomp({ defaultAction: "nope" }, "process.seccomp")).toThrow(
      'process.seccomp.defaultAction: unknown action "nope"',
    );
  });
});

describe("syscalls newer than the profile", () => {
  const profile: Seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{ names: ["getpid", "mkdir", "personality"], action: "SCMP_ACT_ALLOW" }],
  };

  it("get ENOSYS (so glibc falls back), while older unnamed ones get the default action", () => {
    const { bpf } = compileSeccomp(profile);
    expect(run(bpf, NR.getpid)).toBe(ALLOW);
    expect(run(bpf, NR.clone)).toBe(errno(1)); // 56, below personality (135): the profile's default
    expect(run(bpf, NR.mount)).toBe(errno(38)); // 165, above anything named: ENOSYS
    expect(run(bpf, NR.clone3)).toBe(errno(38));
    // x32 numbers and other architectures are left to the profile.
    expect(run(bpf, NR.clone3 | X32_BIT)).toBe(run(compileSeccomp(profile).bpf.subarray(48), NR.clone3 | X32_BIT));
  });

  it("only when the default refuses", () => {
    const { bpf } = compileSeccomp({
      ...profile,
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
    });
    expect(run(bpf, NR.clone3)).toBe(ALLOW);
  });
});

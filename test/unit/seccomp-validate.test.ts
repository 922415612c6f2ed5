// Pure checks of linux.seccomp: names, ranges, runc's rules; action encoding; condition grouping;
// the listener payload. No libseccomp is loaded here.
import { describe, expect, it } from "vitest";
import { conditionGroups, encodeAction } from "../../src/seccomp/compile.js";
import { fillPid, listenerPayload, PID_PLACEHOLDER, seccompOpArgs } from "../../src/seccomp/notify.js";
import { usesNotify, validateSeccomp } from "../../src/seccomp/validate.js";
import type { Seccomp } from "../../src/spec/types.js";

const base = (extra: Partial<Seccomp> = {}): Seccomp => ({ defaultAction: "SCMP_ACT_ALLOW", ...extra });
const rule = (r: object) => base({ syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", ...r }] });
const fails = (s: unknown) => () => validateSeccomp(s as Seccomp);

describe("validateSeccomp", () => {
  it("accepts every action, operator, flag and architecture of the spec", () => {
    const actions = [
      "SCMP_ACT_KILL",
      "SCMP_ACT_KILL_PROCESS",
      "SCMP_ACT_KILL_THREAD",
      "SCMP_ACT_TRAP",
      "SCMP_ACT_ERRNO",
      "SCMP_ACT_TRACE",
      "SCMP_ACT_ALLOW",
      "SCMP_ACT_LOG",
      "SCMP_ACT_NOTIFY",
    ];
    const ops = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];
    expect(() =>
      validateSeccomp({
        defaultAction: "SCMP_ACT_ERRNO",
        defaultErrnoRet: 38,
        architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64"],
        flags: [
          "SECCOMP_FILTER_FLAG_TSYNC",
          "SECCOMP_FILTER_FLAG_LOG",
          "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
          "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        ],
        listenerPath: "/run/agent.sock",
        syscalls: [
          ...actions.map((action) => ({ names: ["getpid"], action })),
          {
            names: ["personality"],
            action: "SCMP_ACT_ALLOW",
            args: ops.map((op, i) => ({ index: i % 6, value: 1, valueTwo: 2, op })),
          },
          { names: [], action: "SCMP_ACT_ALLOW" },
          { names: ["no_such_syscall_anywhere"], action: "SCMP_ACT_ALLOW" },
        ],
      }),
    ).not.toThrow();
  });

  it("names the field of an unknown action", () => {
    expect(fails(base({ defaultAction: "SCMP_ACT_FOO" }))).toThrow('linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"');
    expect(fails({ syscalls: [] })).toThrow("linux.seccomp.defaultAction: must be set");
    const s = base({
      syscalls: [
        { names: ["a"], action: "SCMP_ACT_ALLOW" },
        { names: ["b"], action: "SCMP_ACT_ALLOW" },
        { names: ["c"], action: "SCMP_ACT_ALLOW" },
        { names: ["d"], action: "SCMP_ACT_FOO" },
      ],
    });
    expect(fails(s)).toThrow('linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"');
  });

  it("names the field of an unknown operator, architecture or flag", () => {
    expect(
      fails(
        rule({
          args: [
            { index: 0, value: 1, op: "SCMP_CMP_EQ" },
            { index: 1, value: 1, op: "EQ" },
          ],
        }),
      ),
    ).toThrow('linux.seccomp.syscalls[0].args[1].op: unknown operator "EQ"');
    expect(fails(base({ architectures: ["SCMP_ARCH_X86_64", "x86_64"] }))).toThrow(
      'linux.seccomp.architectures[1]: unknown architecture "x86_64"',
    );
    expect(fails(base({ flags: ["SECCOMP_FILTER_FLAG_FOO"] }))).toThrow(
      'linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_FOO"',
    );
  });

  it("checks argument indexes and values", () => {
    expect(fails(rule({ args: [{ index: 6, value: 1, op: "SCMP_CMP_EQ" }] }))).toThrow(
      "linux.seccomp.syscalls[0].args[0].index: must be an integer from 0 to 5",
    );
    expect(fails(rule({ args: [{ index: 0, value: -1, op: "SCMP_CMP_EQ" }] }))).toThrow(
      "linux.seccomp.syscalls[0].args[0].value: must be an unsigned 64-bit integer",
    );
    expect(fails(rule({ args: [{ index: 0, value: 1.5, op: "SCMP_CMP_EQ" }] }))).toThrow("args[0].value");
    expect(fails(rule({ args: [{ index: 0, value: 1, valueTwo: 2 ** 64, op: "SCMP_CMP_EQ" }] }))).toThrow("args[0].valueTwo");
    expect(() => validateSeccomp(rule({ args: [{ index: 5, value: 2 ** 63, op: "SCMP_CMP_EQ" }] }))).not.toThrow();
  });

  it("checks errno values and syscall names", () => {
    expect(fails(rule({ errnoRet: 65536 }))).toThrow("linux.seccomp.syscalls[0].errnoRet: must be an integer from 0 to 65535");
    expect(fails(base({ defaultErrnoRet: -1 }))).toThrow("linux.seccomp.defaultErrnoRet");
    expect(fails(rule({ names: ["mkdir", ""] }))).toThrow("linux.seccomp.syscalls[0].names[1]: must be a non-empty syscall name");
    expect(fails(rule({ names: "mkdir" }))).toThrow("linux.seccomp.syscalls[0].names: must be an array");
  });

  it("enforces runc's SCMP_ACT_NOTIFY rules", () => {
    expect(fails(base({ defaultAction: "SCMP_ACT_NOTIFY", listenerPath: "/s" }))).toThrow(
      "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
    );
    expect(fails(rule({ action: "SCMP_ACT_NOTIFY" }))).toThrow(
      "linux.seccomp.listenerPath: must be set: linux.seccomp.syscalls[0].action is SCMP_ACT_NOTIFY",
    );
    const withListener = (names: string[]) => ({ ...rule({ action: "SCMP_ACT_NOTIFY", names }), listenerPath: "/s" });
    expect(fails(withListener(["openat", "write"]))).toThrow(
      "linux.seccomp.syscalls[0].names: SCMP_ACT_NOTIFY cannot be used for the write syscall",
    );
    expect(fails(withListener(["sendmsg"]))).toThrow("sendmsg");
    expect(() => validateSeccomp(withListener(["openat"]))).not.toThrow();
    expect(usesNotify(withListener(["openat"]))).toBe(true);
    expect(usesNotify(rule({}))).toBe(false);
  });
});

describe("encodeAction", () => {
  it("encodes the kernel's SECCOMP_RET values, errnoRet defaulting to EPERM", () => {
    expect(encodeAction("SCMP_ACT_KILL")).toBe(0);
    expect(encodeAction("SCMP_ACT_KILL_THREAD")).toBe(0);
    expect(encodeAction("SCMP_ACT_KILL_PROCESS")).toBe(0x80000000);
    expect(encodeAction("SCMP_ACT_TRAP")).toBe(0x00030000);
    expect(encodeAction("SCMP_ACT_ERRNO")).toBe(0x00050001);
    expect(encodeAction("SCMP_ACT_ERRNO", 38)).toBe(0x00050026);
    expect(encodeAction("SCMP_ACT_ERRNO", 0)).toBe(0x00050000);
    expect(encodeAction("SCMP_ACT_TRACE")).toBe(0x7ff00001);
    expect(encodeAction("SCMP_ACT_TRACE", 7)).toBe(0x7ff00007);
    expect(encodeAction("SCMP_ACT_LOG", 7)).toBe(0x7ffc0000); // errnoRet ignored, as runc does
    expect(encodeAction("SCMP_ACT_ALLOW")).toBe(0x7fff0000);
    expect(encodeAction("SCMP_ACT_NOTIFY")).toBe(0x7fc00000);
  });
});

describe("conditionGroups", () => {
  const decode = (b: Buffer | null) =>
    b
      ? Array.from({ length: b.length / 24 }, (_, k) => [
          b.readUInt32LE(k * 24),
          b.readUInt32LE(k * 24 + 4),
          b.readBigUInt64LE(k * 24 + 8),
          b.readBigUInt64LE(k * 24 + 16),
        ])
      : null;

  it("packs distinct indexes into one ANDed rule (struct scmp_arg_cmp, 24 bytes each)", () => {
    const groups = conditionGroups([
      { index: 0, value: 2 ** 32 + 5, op: "SCMP_CMP_EQ" },
      { index: 2, value: 0x7e020000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" },
    ]);
    expect(groups).toHaveLength(1);
    expect(groups[0].count).toBe(2);
    expect(decode(groups[0].buffer)).toEqual([
      [0, 4, 4294967301n, 0n],
      [2, 7, 0x7e020000n, 0n],
    ]);
  });

  it("splits conditions on a repeated index into separate (ORed) rules, like runc", () => {
    const groups = conditionGroups([
      { index: 0, value: 1, op: "SCMP_CMP_EQ" },
      { index: 0, value: 2, op: "SCMP_CMP_EQ" },
      { index: 1, value: 3, op: "SCMP_CMP_NE" },
    ]);
    expect(groups.map((g) => decode(g.buffer))).toEqual([[[0, 4, 1n, 0n]], [[0, 4, 2n, 0n]], [[1, 1, 3n, 0n]]]);
  });

  it("has one unconditional rule when there are no args", () => {
    expect(conditionGroups([])).toEqual([{ count: 0, buffer: null }]);
  });
});

describe("listener payload", () => {
  const state = { ociVersion: "1.2.0", id: "c1", status: "created" as const, bundle: "/b", annotations: { a: "\u0001x" } };

  it("is the OCI ContainerProcessState once the shim puts the pid in", () => {
    const payload = listenerPayload(state, "meta");
    expect(JSON.parse(fillPid(payload, 4242))).toEqual({
      ociVersion: "1.2.0",
      fds: ["seccompFd"],
      pid: 4242,
      metadata: "meta",
      state: { ociVersion: "1.2.0", id: "c1", status: "creating", bundle: "/b", annotations: { a: "\u0001x" }, pid: 4242 },
    });
  });

  it("holds the placeholder byte exactly where the two pids go, never inside strings", () => {
    const payload = listenerPayload(state, "\u0001");
    expect(payload.filter((b) => b === PID_PLACEHOLDER).length).toBe(2);
  });

  it("gives the SECCOMP op its four arguments", () => {
    const compiled = { bpf: Buffer.from([6, 0, 0, 0, 0, 0, 0xff, 0x7f]), flags: 8, notify: true, skipped: [] };
    const payload = listenerPayload(state);
    expect(seccompOpArgs(compiled, "/run/agent.sock", payload)).toEqual([compiled.bpf, 8, "/run/agent.sock", payload]);
    expect(seccompOpArgs({ ...compiled, flags: 0, notify: false }, "/ignored")).toEqual([compiled.bpf, 0, "", ""]);
  });
});

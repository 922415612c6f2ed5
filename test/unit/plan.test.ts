// The plan wire format, shim messages, and how failures are told to the user.
import { describe, expect, it } from "vitest";
import { OpCode, Plan } from "../../src/linux/plan.js";
import {
  ShimError,
  decodeMessages,
  decodeWaitStatus,
  describeFailure,
  errnoName,
  errnoText,
  type ShimMessage,
} from "../../src/linux/shim.js";

/** An independent decoder of PROTOCOL.md's record format (what the C side does in plan.c). */
function decodePlan(buf: Buffer): { code: number; args: Buffer[] }[] {
  const ops: { code: number; args: Buffer[] }[] = [];
  let off = 0;
  for (;;) {
    const code = buf.readUInt32LE(off);
    const nargs = buf.readUInt32LE(off + 4);
    off += 8;
    const args: Buffer[] = [];
    for (let i = 0; i < nargs; i++) {
      const len = buf.readUInt32LE(off);
      args.push(buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    ops.push({ code, args });
    if (code === OpCode.END) break;
  }
  expect(off).toBe(buf.length); // nothing after END
  return ops;
}

/** A message as the shim writes it (sync.c). */
function encodeMessage(type: number, step: number, errno: number, value: bigint, detail: string): Buffer {
  const bytes = Buffer.from(detail);
  const h = Buffer.alloc(24);
  h.writeUInt32LE(type, 0);
  h.writeInt32LE(step, 4);
  h.writeInt32LE(errno, 8);
  h.writeBigInt64LE(value, 12);
  h.writeUInt32LE(bytes.length, 20);
  return Buffer.concat([h, bytes]);
}

describe("plan encoding", () => {
  it("round-trips ops, argument kinds and the END record", () => {
    const bpf = Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]); // binary, with NULs
    const plan = new Plan()
      .add(OpCode.CLONE, "linux.namespaces", "clone", 0x20020000, "0 1000 1\n", "", "deny", "detach")
      .add(OpCode.SETSID, "process", "setsid")
      .add(OpCode.RLIMIT, "process.rlimits[0]", "set RLIMIT_NOFILE", 7, 1024n, -1)
      .add(OpCode.SETHOSTNAME, "hostname", "set hostname", "hôte")
      .add(OpCode.SECCOMP, "linux.seccomp", "load seccomp", bpf, "0", "", "");
    const ops = decodePlan(plan.encode());
    expect(ops.map((o) => o.code)).toEqual([
      OpCode.CLONE,
      OpCode.SETSID,
      OpCode.RLIMIT,
      OpCode.SETHOSTNAME,
      OpCode.SECCOMP,
      OpCode.END,
    ]);
    expect(ops[0].args.map(String)).toEqual([String(0x20020000), "0 1000 1\n", "", "deny", "detach"]);
    expect(ops[1].args).toEqual([]);
    expect(ops[2].args.map(String)).toEqual(["7", "1024", "-1"]);
    expect(ops[3].args[0]).toEqual(Buffer.from("hôte", "utf8"));
    expect(ops[3].args[0].length).toBe(5); // lengths are bytes, not characters
    expect(ops[4].args[0]).toEqual(bpf);
    expect(ops[5].args).toEqual([]);
  });

  it("encodes an empty plan as END alone", () => {
    expect(new Plan().encode()).toEqual(Buffer.alloc(8));
  });
});

describe("shim messages", () => {
  it("decodes several messages, keeping a partial one for later", () => {
    const a = encodeMessage(1, 3, 0, 4242n, "");
    const b = encodeMessage(4, 7, 2, 0n, "/proc/mounts");
    const c = encodeMessage(5, 3, 0, 0x8b00n, "");
    const all = Buffer.concat([a, b, c]);
    const first = decodeMessages(all.subarray(0, a.length + b.length + 10));
    expect(first.messages).toEqual([
      { type: "pid", step: 3, errno: 0, value: 4242, detail: "" },
      { type: "error", step: 7, errno: 2, value: 0, detail: "/proc/mounts" },
    ]);
    expect(first.rest.length).toBe(10);
    const second = decodeMessages(Buffer.concat([first.rest, all.subarray(a.length + b.length + 10)]));
    expect(second.messages).toEqual([{ type: "exited", step: 3, errno: 0, value: 0x8b00, detail: "" }]);
    expect(second.rest.length).toBe(0);
  });

  it("decodes a step of -1 (failure before the plan was read)", () => {
    const { messages } = decodeMessages(encodeMessage(4, -1, 32, 0n, "read plan"));
    expect(messages[0].step).toBe(-1);
  });
});

describe("errno names", () => {
  it.each([
    [1, "EPERM"],
    [2, "ENOENT"],
    [13, "EACCES"],
    [16, "EBUSY"],
    [17, "EEXIST"],
    [18, "EXDEV"],
    [19, "ENODEV"],
    [20, "ENOTDIR"],
    [22, "EINVAL"],
    [28, "ENOSPC"],
    [40, "ELOOP"],
    [3, "ESRCH"],
    [11, "EAGAIN"],
  ])("%i is %s", (n, name) => {
    expect(errnoName(n)).toBe(name);
  });

  it("gives short lower-case texts", () => {
    expect(errnoText(2)).toBe("no such file or directory");
    expect(errnoText(19)).toBe("no such device");
    expect(errnoText(1)).toBe("operation not permitted");
    expect(errnoText(3)).toBe("no such process");
  });

  it("names unknown numbers without inventing a meaning", () => {
    expect(errnoName(9999)).toBe("E9999");
    expect(errnoText(9999)).toBe("error 9999");
  });
});

describe("describeFailure", () => {
  const plan = new Plan()
    .add(OpCode.CLONE, "linux.namespaces", "clone", 0, "", "", "", "detach")
    .add(OpCode.MOUNT, "mounts[2]", "mount proc on /proc", "proc", "/proc", "proc", "0", "", "/r");
  const msg = (step: number, errno: number, detail = ""): ShimMessage => ({ type: "error", step, errno, value: 0, detail });

  it("names the field, the step and the errno", () => {
    const e = describeFailure(plan, msg(1, 19, "mount proc on /proc"));
    expect(e).toBeInstanceOf(ShimError);
    expect(e.message).toBe("mounts[2]: mount proc on /proc: no such device (ENODEV)");
    expect(e.detail).toEqual({ field: "mounts[2]", step: "mount proc on /proc", errno: "ENODEV" });
    expect(e.report.step).toBe(1);
  });

  it("falls back to the shim's detail for a step it cannot map", () => {
    expect(describeFailure(plan, msg(9, 22, "op 99: unknown")).message).toBe(
      "polis-shim step 9: op 99: unknown: invalid argument (EINVAL)",
    );
    expect(describeFailure(plan, msg(-1, 32, "read plan")).message).toBe("polis-shim: read plan: broken pipe (EPIPE)");
  });

  it("uses the detail when there is no errno", () => {
    const e = describeFailure(plan, msg(0, 0, "something odd"));
    expect(e.message).toBe("linux.namespaces: clone: something odd");
    expect(e.detail.errno).toBeUndefined();
  });
});

describe("decodeWaitStatus", () => {
  it("decodes exits and deaths by signal", () => {
    expect(decodeWaitStatus(0)).toEqual({ code: 0, signal: null, exitCode: 0 });
    expect(decodeWaitStatus(3 << 8)).toEqual({ code: 3, signal: null, exitCode: 3 });
    expect(decodeWaitStatus(9)).toEqual({ code: null, signal: "SIGKILL", exitCode: 137 });
    expect(decodeWaitStatus(15 | 0x80)).toEqual({ code: null, signal: "SIGTERM", exitCode: 143 }); // core dumped
  });
});

// Name tables: capabilities, rlimits, namespaces, process attributes.
import { describe, expect, it } from "vitest";
import { capBits, capMask, capNumber } from "../../src/linux/capabilities.js";
import {
  JOIN_ORDER,
  cloneFlags,
  idMapString,
  namespaceSetup,
  namespacesToJoin,
  nsInode,
  timeOffsetsString,
} from "../../src/linux/namespaces.js";
import { ioprioArgs, personalityValue, schedArgs } from "../../src/linux/process-attrs.js";
import { rlimitNumber, rlimitValue } from "../../src/linux/rlimits.js";
import { CAPABILITIES, NAMESPACE_TYPES, RLIMITS } from "../../src/spec/names.js";

describe("capabilities", () => {
  it("has all 41 in kernel order", () => {
    expect(Object.keys(CAPABILITIES)).toHaveLength(41);
    expect(capNumber("CAP_CHOWN")).toBe(0);
    expect(capNumber("CAP_NET_BIND_SERVICE")).toBe(10);
    expect(capNumber("CAP_SYS_ADMIN")).toBe(21);
    expect(capNumber("CAP_SYS_RESOURCE")).toBe(24);
    expect(capNumber("CAP_AUDIT_WRITE")).toBe(29);
    expect(capNumber("CAP_SETFCAP")).toBe(31);
    expect(capNumber("CAP_AUDIT_READ")).toBe(37);
    expect(capNumber("CAP_CHECKPOINT_RESTORE")).toBe(40);
    expect(capNumber("cap_chown")).toBeUndefined();
  });

  it("masks: runc's default set, empty, all, above bit 31", () => {
    expect(capMask(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"], "f")).toBe("0x20000420");
    expect(capMask([], "f")).toBe("0x0");
    expect(capMask(undefined, "f")).toBe("0x0");
    expect(capMask(Object.keys(CAPABILITIES), "f")).toBe("0x1ffffffffff");
    expect(capBits(["CAP_MAC_ADMIN", "CAP_MAC_ADMIN"], "f")).toBe(1n << 33n);
  });

  it("an unknown name is an error naming its index", () => {
    expect(() => capMask(["CAP_KILL", "CAP_CHOWN", "CAP_FLY"], "process.capabilities.bounding")).toThrow(
      'process.capabilities.bounding[2]: unknown capability "CAP_FLY"',
    );
  });
});

describe("rlimits", () => {
  it("maps every RLIMIT_* to its resource number", () => {
    expect(Object.keys(RLIMITS)).toHaveLength(16);
    expect(rlimitNumber("RLIMIT_CPU", "x")).toBe(0);
    expect(rlimitNumber("RLIMIT_NOFILE", "x")).toBe(7);
    expect(rlimitNumber("RLIMIT_RTTIME", "x")).toBe(15);
  });
  it("unknown type names the field", () => {
    expect(() => rlimitNumber("RLIMIT_FOO", "process.rlimits[1]")).toThrow(
      'process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"',
    );
    expect(() => rlimitNumber("toString", "process.rlimits[0]")).toThrow(/unknown rlimit/);
  });
  it("values: decimal, infinity as -1", () => {
    expect(rlimitValue(1024)).toBe("1024");
    expect(rlimitValue(0)).toBe("0");
    expect(rlimitValue(JSON.parse("18446744073709551615"))).toBe("-1");
    expect(rlimitValue(0xffffffffffffffffn)).toBe("-1");
    expect(rlimitValue(2 ** 40)).toBe("1099511627776");
  });
});

describe("namespaces", () => {
  it("CLONE_NEW values", () => {
    expect(NAMESPACE_TYPES).toEqual({
      mount: 0x20000,
      cgroup: 0x02000000,
      uts: 0x04000000,
      ipc: 0x08000000,
      user: 0x10000000,
      pid: 0x20000000,
      network: 0x40000000,
      time: 0x80,
    });
  });

  it("splits create from join, joins in a safe order", () => {
    const s = namespaceSetup([
      { type: "mount", path: "/proc/9/ns/mnt" },
      { type: "pid" },
      { type: "network", path: "/run/netns/a" },
      { type: "user", path: "/proc/9/ns/user" },
      { type: "time" },
    ]);
    expect([...s.create]).toEqual(["pid", "time"]);
    expect(s.join.map((j) => [j.type, j.index])).toEqual([
      ["user", 3],
      ["network", 2],
      ["mount", 0],
    ]);
    expect(JOIN_ORDER[0]).toBe("user");
    expect(JOIN_ORDER.at(-1)).toBe("mount");
  });

  it("clone flags exclude time (it goes through TIMENS)", () => {
    expect(cloneFlags(["pid", "network", "ipc", "uts", "mount"])).toBe(0x6c020000);
    expect(cloneFlags(["user", "cgroup", "time"])).toBe(0x12000000);
    expect(cloneFlags([])).toBe(0);
  });

  it("rejects unknown and duplicate types", () => {
    expect(() => namespaceSetup([{ type: "pid" }, { type: "bogus" as never }])).toThrow(
      'linux.namespaces[1].type: unknown namespace type "bogus"',
    );
    expect(() => namespaceSetup([{ type: "pid" }, { type: "pid", path: "/x" }])).toThrow(
      'linux.namespaces[1]: duplicate namespace type "pid"',
    );
  });

  it("id map text", () => {
    expect(
      idMapString([
        { containerID: 0, hostID: 100000, size: 65536 },
        { containerID: 65536, hostID: 0, size: 1 },
      ]),
    ).toBe("0 100000 65536\n65536 0 1\n");
    expect(idMapString(undefined)).toBe("");
  });

  it("time offsets text", () => {
    expect(timeOffsetsString({ monotonic: { secs: 10, nanosecs: 5 }, boottime: { secs: -3 } })).toBe(
      "monotonic 10 5\nboottime -3 0\n",
    );
    expect(() => timeOffsetsString({ realtime: { secs: 1 } })).toThrow(/^linux\.timeOffsets\.realtime: unknown clock/);
  });

  it("namespacesToJoin skips the ones we already share", () => {
    // our own process shares every namespace with itself
    expect(namespacesToJoin(process.pid, ["mount", "network", "user"])).toEqual([]);
    expect(nsInode("self", "mount")).toBeGreaterThan(0);
  });
});

describe("process attributes", () => {
  it("io priority classes", () => {
    expect(ioprioArgs({ class: "IOPRIO_CLASS_RT", priority: 3 })).toEqual([1, 3]);
    expect(ioprioArgs({ class: "IOPRIO_CLASS_BE", priority: 0 })).toEqual([2, 0]);
    expect(ioprioArgs({ class: "IOPRIO_CLASS_IDLE", priority: 7 })).toEqual([3, 7]);
    expect(() => ioprioArgs({ class: "IOPRIO_CLASS_X", priority: 0 })).toThrow(
      'process.ioPriority.class: unknown io priority class "IOPRIO_CLASS_X"',
    );
    expect(() => ioprioArgs({ class: "IOPRIO_CLASS_BE", priority: 8 })).toThrow(/^process\.ioPriority\.priority:/);
  });

  it("scheduler policies and flags", () => {
    expect(schedArgs({ policy: "SCHED_OTHER", nice: -5 })).toEqual(["0", "0", "-5", "0", "0", "0", "0"]);
    expect(schedArgs({ policy: "SCHED_FIFO", priority: 10 })[0]).toBe("1");
    expect(schedArgs({ policy: "SCHED_RR" })[0]).toBe("2");
    expect(schedArgs({ policy: "SCHED_BATCH" })[0]).toBe("3");
    expect(schedArgs({ policy: "SCHED_IDLE" })[0]).toBe("5");
    expect(
      schedArgs({
        policy: "SCHED_DEADLINE",
        runtime: 10_000_000,
        deadline: 20_000_000,
        period: 30_000_000,
        flags: ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"],
      }),
    ).toEqual(["6", "0", "0", "5", "10000000", "20000000", "30000000"]);
    expect(() => schedArgs({ policy: "SCHED_OTHER", flags: ["SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_NOPE"] })).toThrow(
      'process.scheduler.flags[1]: unknown scheduler flag "SCHED_FLAG_NOPE"',
    );
    expect(() => schedArgs({ policy: "SCHED_LAZY" })).toThrow(/^process\.scheduler\.policy:/);
  });

  it("personality", () => {
    expect(personalityValue({ domain: "LINUX" })).toBe(0);
    expect(personalityValue({ domain: "LINUX32" })).toBe(8);
    expect(() => personalityValue({ domain: "BSD" })).toThrow(/^linux\.personality\.domain: unknown personality domain "BSD"/);
    expect(() => personalityValue({ domain: "LINUX", flags: ["X"] })).toThrow(/^linux\.personality\.flags\[0\]: .*not supported/);
  });
});

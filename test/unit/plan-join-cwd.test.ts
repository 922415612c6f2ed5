// A createContainer hook starts in the container's rootfs (runc chdirs there before running
// it): after joining the mount namespace, "/" is still the host's tree until pivot_root.
import { describe, expect, it } from "vitest";
import { buildJoinPlan } from "../../src/container/plan-join.js";
import { OpCode } from "../../src/linux/plan.js";

describe("a join plan's working directory", () => {
  const input = {
    pid: 4242,
    namespaces: ["mount" as const, "pid" as const],
    cgroupProcs: [],
    mode: "wait" as const,
    path: "/bin/sh",
    argv: ["sh", "-c", "touch ./etc/x"],
    env: [],
  };

  it("changes into it in the child, after the mount namespace is joined and before the exec", () => {
    const ops = buildJoinPlan({ ...input, cwd: { path: "/bundles/b/rootfs", field: "root.path" } }).ops;
    const at = (code: OpCode) => ops.findIndex((o) => o.code === code);
    const chdir = ops[at(OpCode.CHDIR)];
    expect(chdir).toMatchObject({ field: "root.path", args: ["/bundles/b/rootfs"] });
    const lastSetns = ops.map((o) => o.code).lastIndexOf(OpCode.SETNS);
    expect(at(OpCode.CHDIR)).toBeGreaterThan(Math.max(lastSetns, at(OpCode.CLONE)));
    expect(at(OpCode.CHDIR)).toBeLessThan(at(OpCode.EXEC));
  });

  it("without one nothing changes (exec's cwd comes with its process spec)", () => {
    expect(buildJoinPlan(input).ops.some((o) => o.code === OpCode.CHDIR)).toBe(false);
  });
});

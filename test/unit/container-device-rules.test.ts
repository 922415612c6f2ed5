// The device cgroup rules a container gets, as runc builds them: config.json's rules decide,
// then runc's always-allowed devices; linux.devices entries add nothing.
import { describe, expect, it } from "vitest";
import { effectiveResources } from "../../src/container/cgroup.js";

const kmsg = { path: "/dev/kmsg", type: "c", major: 1, minor: 11 };

describe("effectiveResources", () => {
  it("a deny-all is not undone by a linux.devices entry", () => {
    const res = effectiveResources({
      ociVersion: "1.0.2",
      linux: { devices: [kmsg], resources: { devices: [{ allow: false, access: "rwm" }] } },
    } as never);
    expect(res.devices![0]).toEqual({ allow: false, access: "rwm" });
    expect(res.devices!.some((r) => r.allow && r.major === 1 && r.minor === 11)).toBe(false);
    // runc's defaults follow the config's rules: /dev/null, ptys, tun, mknod of anything
    expect(res.devices!.some((r) => r.allow && r.type === "c" && r.major === 1 && r.minor === 3 && r.access === "rwm")).toBe(
      true,
    );
    expect(res.devices!.some((r) => r.allow && r.type === "c" && r.major === null && r.access === "m")).toBe(true);
  });

  it("the config's own allow rule stays, in order, before the defaults", () => {
    const rules = [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 11, access: "w" },
    ];
    const res = effectiveResources({ ociVersion: "1.0.2", linux: { devices: [kmsg], resources: { devices: rules } } } as never);
    expect(res.devices!.slice(0, 2)).toEqual(rules);
  });

  it("no rules at all: runc's starting point is deny-all, not every host device", () => {
    for (const linux of [{}, { resources: {} }, { resources: { devices: [] } }]) {
      const res = effectiveResources({ ociVersion: "1.0.2", linux } as never);
      expect(res.devices![0]).toEqual({ allow: false, access: "rwm" });
      expect(res.devices!.slice(1).every((r) => r.allow)).toBe(true);
    }
  });

  it("keeps the other resources as they are", () => {
    const res = effectiveResources({
      ociVersion: "1.0.2",
      linux: { resources: { memory: { limit: 1 << 20 }, pids: { limit: 5 } } },
    } as never);
    expect(res.memory).toEqual({ limit: 1 << 20 });
    expect(res.pids).toEqual({ limit: 5 });
  });
});

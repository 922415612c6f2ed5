// --debug's one-line summary of a validated config.json.
import { describe, expect, it } from "vitest";
import { configSummary } from "../../src/spec/summary.js";

describe("configSummary", () => {
  it("names what runs, as whom, where, and what surrounds it", () => {
    const s = configSummary({
      ociVersion: "1.2.0",
      root: { path: "rootfs", readonly: true },
      process: {
        args: ["sh", "-c", "x"],
        cwd: "/w",
        user: { uid: 1, gid: 2, additionalGids: [3] },
        env: ["A=b"],
        terminal: true,
      },
      mounts: [
        { destination: "/proc", type: "proc", source: "proc" },
        { destination: "/data", source: "/srv", options: ["bind"] },
      ],
      hostname: "h",
      hooks: { prestart: [{ path: "/a" }, { path: "/b" }], poststop: [] },
      linux: {
        namespaces: [{ type: "pid" }, { type: "network", path: "/run/netns/x" }],
        cgroupsPath: "/polis/x",
        resources: { memory: { limit: 1 }, devices: [] },
        seccomp: { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read", "write"], action: "SCMP_ACT_ALLOW" }] },
        devices: [{ path: "/dev/kmsg", type: "c", major: 1, minor: 11 }],
      },
    } as never);
    expect(s).toEqual({
      args: "sh -c x",
      cwd: "/w",
      user: "1:2+3",
      terminal: true,
      noNewPrivileges: false,
      env: 1,
      root: "rootfs (ro)",
      namespaces: "pid,network=/run/netns/x",
      mounts: "/proc(proc) /data(bind)",
      devices: "/dev/kmsg",
      cgroupsPath: "/polis/x",
      resources: "memory,devices",
      seccomp: "SCMP_ACT_ERRNO with 2 syscall rules",
      hooks: "prestart=2",
      hostname: "h",
    });
  });

  it("says when every namespace is inherited", () => {
    expect(configSummary({ ociVersion: "1.2.0", root: { path: "r" } } as never).namespaces).toBe("none (all inherited)");
  });
});

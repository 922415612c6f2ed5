import { describe, expect, it } from "vitest";
import { DEFAULT_DEVICES, deviceList, planDevices } from "../../src/linux/devices.js";
import { MS } from "../../src/spec/names.js";
import { OpCode, Plan } from "../../src/linux/plan.js";
import type { Device, Spec } from "../../src/spec/types.js";

const R = "/b/rootfs";
const spec = (devices?: Device[]): Spec => ({
  ociVersion: "1.0.2",
  linux: { devices },
});
function run(s: Spec, userns = false, hostHasKcore = true) {
  const plan = new Plan();
  planDevices(plan, s, { rootfs: R, userns, hostHasKcore });
  return plan.ops.map((o) => [OpCode[o.code], ...o.args.map(String)]);
}

describe("deviceList", () => {
  it("runc's defaults: 0666 char devices with the standard numbers", () => {
    expect(DEFAULT_DEVICES.map((d) => [d.path, d.major, d.minor, d.fileMode])).toEqual([
      ["/dev/null", 1, 3, 0o666],
      ["/dev/random", 1, 8, 0o666],
      ["/dev/full", 1, 7, 0o666],
      ["/dev/tty", 5, 0, 0o666],
      ["/dev/zero", 1, 5, 0o666],
      ["/dev/urandom", 1, 9, 0o666],
    ]);
  });

  it("config devices follow the defaults and replace a default with the same path", () => {
    const list = deviceList(
      spec([
        { path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o20600, uid: 1, gid: 2 },
        { path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o600 },
      ]),
    );
    expect(list.map((d) => d.path)).toEqual([
      "/dev/random",
      "/dev/full",
      "/dev/tty",
      "/dev/zero",
      "/dev/urandom",
      "/dev/fuse",
      "/dev/null",
    ]);
    expect(list[5]).toMatchObject({ fileMode: 0o600, uid: 1, gid: 2, field: "linux.devices[0]" });
    expect(list[6]).toMatchObject({ fileMode: 0o600, field: "linux.devices[1]" });
  });

  it("defaults fileMode to 0666 and names bad entries", () => {
    expect(deviceList(spec([{ path: "/dev/sda", type: "b", major: 8, minor: 0 }])).at(-1)).toMatchObject({
      fileMode: 0o666,
      uid: 0,
      gid: 0,
    });
    expect(() => deviceList(spec([{ path: "/dev/x", type: "q", major: 1, minor: 1 }]))).toThrow(
      'linux.devices[0].type: unknown device type "q"',
    );
    expect(() => deviceList(spec([{ path: "/dev/x", type: "c" }]))).toThrow(/^linux\.devices\[0\]: /);
  });
});

describe("planDevices", () => {
  it("mknod each device (one mkdir per directory), then the /dev links", () => {
    const ops = run(spec([{ path: "/dev/net/tun", type: "c", major: 10, minor: 200 }]));
    expect(ops).toEqual([
      ["MKDIRS", "/dev", R, "dir"],
      ["MKNOD", "/dev/null", "c", "1", "3", "438", "0", "0", R],
      ["MKNOD", "/dev/random", "c", "1", "8", "438", "0", "0", R],
      ["MKNOD", "/dev/full", "c", "1", "7", "438", "0", "0", R],
      ["MKNOD", "/dev/tty", "c", "5", "0", "438", "0", "0", R],
      ["MKNOD", "/dev/zero", "c", "1", "5", "438", "0", "0", R],
      ["MKNOD", "/dev/urandom", "c", "1", "9", "438", "0", "0", R],
      ["MKDIRS", "/dev/net", R, "dir"],
      ["MKNOD", "/dev/net/tun", "c", "10", "200", "438", "0", "0", R],
      ["SYMLINK", "pts/ptmx", "/dev/ptmx", R],
      ["SYMLINK", "/proc/self/fd", "/dev/fd", R],
      ["SYMLINK", "/proc/self/fd/0", "/dev/stdin", R],
      ["SYMLINK", "/proc/self/fd/1", "/dev/stdout", R],
      ["SYMLINK", "/proc/self/fd/2", "/dev/stderr", R],
      ["SYMLINK", "/proc/kcore", "/dev/core", R],
    ]);
  });

  it("in a new user namespace binds the host's nodes instead of mknod", () => {
    const ops = run(spec(), true, false);
    expect(ops.slice(0, 2)).toEqual([
      ["MKDIRS", "/dev/null", R, "file"],
      ["MOUNT", "/dev/null", "/dev/null", "", String(MS.BIND), "", R],
    ]);
    expect(ops.filter((o) => o[0] === "MKNOD")).toEqual([]);
    // no /proc/kcore on the host: no /dev/core
    expect(ops.at(-1)).toEqual(["SYMLINK", "/proc/self/fd/2", "/dev/stderr", R]);
  });

  it("never creates a /dev/ptmx node: it is the devpts link", () => {
    const ops = run(spec([{ path: "/dev/ptmx", type: "c", major: 5, minor: 2 }]));
    expect(ops.some((o) => o[1] === "/dev/ptmx" && o[0] === "MKNOD")).toBe(false);
  });
});

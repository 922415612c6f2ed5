// linux.devices paths are cleaned as runc cleans them (SecureJoin), so a trailing slash or a
// doubled one names the same node, and a config entry still replaces the default it redefines.
import { describe, expect, it } from "vitest";
import { cleanDevicePath, deviceList } from "../../src/linux/devices.js";

describe("device paths", () => {
  it("drops trailing and doubled slashes", () => {
    expect(cleanDevicePath("/dev/kmsg/")).toBe("/dev/kmsg");
    expect(cleanDevicePath("/dev//net///tun//")).toBe("/dev/net/tun");
    expect(cleanDevicePath("/dev/./x/../kmsg")).toBe("/dev/kmsg");
    expect(cleanDevicePath("/")).toBe("/");
  });

  it("a trailing slash names the node itself and still overrides a default", () => {
    const list = deviceList({
      ociVersion: "1.0.2",
      linux: {
        devices: [
          { path: "/dev/null/", type: "c", major: 1, minor: 3, fileMode: 0o600 },
          { path: "/dev/kmsg/", type: "c", major: 1, minor: 11 },
        ],
      },
    } as never);
    expect(list.filter((d) => d.path === "/dev/null")).toHaveLength(1);
    expect(list.find((d) => d.path === "/dev/null")!.fileMode).toBe(0o600);
    expect(list.find((d) => d.path === "/dev/kmsg")).toMatchObject({ major: 1, minor: 11, field: "linux.devices[1]" });
  });
});

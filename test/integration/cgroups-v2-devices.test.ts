// Real eBPF device programs. On a hybrid host the devices controller is v1, but BPF device
// programs work on any cgroup2 directory whatever its controllers, so each test makes its own
// <cgroup2 mount>/polis-test-<run>-<random>, puts a probe process in it and checks which
// devices that process can open. The test runner itself stays outside (its opens must not change).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { applyResources } from "../../src/cgroups/apply.js";
import { detachDevicePrograms, devicePrograms } from "../../src/cgroups/v2/bpf.js";
import { applyDevicesV2 } from "../../src/cgroups/v2/devices.js";
import type { DeviceCgroupRule } from "../../src/spec/types.js";
import { layout, TEST_CGROUP_PARENT } from "../helpers/host.js";

const UNIFIED = layout().unified?.mountpoint ?? "/nonexistent"; // the cgroup2 mount, wherever it is
const usable = process.getuid?.() === 0 && existsSync(join(UNIFIED, "cgroup.procs"));

let dirs: string[] = [];
let children: ChildProcess[] = [];

function newCgroup(): string {
  const dir = join(UNIFIED, `${TEST_CGROUP_PARENT.slice(1)}-${randomBytes(4).toString("hex")}`);
  mkdirSync(dir);
  dirs.push(dir);
  return dir;
}

/**
 * A process that opens a device for each "path flags" line it reads ("r", "w", "rw") and answers
 * "ok" or the errno name: the device check happens in this process, at open time.
 */
interface Probe {
  pid: number;
  open(path: string, flags: string): Promise<string>;
}
async function startProbe(dir: string): Promise<Probe> {
  const script = `
    const fs = require("fs");
    const flags = { r: fs.constants.O_RDONLY, w: fs.constants.O_WRONLY, rw: fs.constants.O_RDWR };
    require("readline").createInterface({ input: process.stdin }).on("line", (l) => {
      const [p, f] = l.split(" ");
      try { fs.closeSync(fs.openSync(p, flags[f])); console.log("ok"); } catch (e) { console.log(e.code); }
    });
    console.log("ready");`;
  const c = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(c);
  const lines = createInterface({ input: c.stdout! })[Symbol.asyncIterator]();
  expect((await lines.next()).value).toBe("ready");
  writeFileSync(join(dir, "cgroup.procs"), String(c.pid));
  // the probe is in the test cgroup of the cgroup2 hierarchy (and nowhere else changed)
  expect(readFileSync(`/proc/${c.pid}/cgroup`, "utf8")).toContain(`0::/${dir.slice(UNIFIED.length + 1)}\n`);
  return {
    pid: c.pid!,
    async open(path, flags) {
      c.stdin!.write(`${path} ${flags}\n`);
      return (await lines.next()).value as string;
    },
  };
}

const exited = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r())));

afterEach(async () => {
  for (const c of children) {
    c.kill("SIGKILL");
    await exited(c);
  }
  for (const d of dirs.reverse()) {
    try {
      detachDevicePrograms(d);
    } catch {}
    try {
      rmdirSync(d);
    } catch {}
  }
  children = [];
  dirs = [];
});

const allowAll: DeviceCgroupRule = { allow: true, type: "a", access: "rwm" };
const zero = (allow: boolean, access = "rwm"): DeviceCgroupRule => ({ allow, type: "c", major: 1, minor: 5, access });

/** The test runner (outside the cgroup) must never be affected. */
function runnerCanOpenZero(): boolean {
  closeSync(openSync("/dev/zero", "r"));
  return true;
}

describe.skipIf(!usable)("cgroup v2 eBPF device programs", () => {
  it("denies /dev/zero to a process in the cgroup, then allows it after an update", async () => {
    const dir = newCgroup();
    const probe = await startProbe(dir);
    expect(devicePrograms(dir)).toEqual([]);
    expect(await probe.open("/dev/zero", "r")).toBe("ok"); // nothing attached yet

    // the container code path on a pure v2 host: only a "unified" path
    applyResources({ unified: dir }, { devices: [allowAll, zero(false)] });
    const first = devicePrograms(dir);
    expect(first).toHaveLength(1);
    expect(await probe.open("/dev/zero", "r")).toBe("EPERM");
    expect(await probe.open("/dev/zero", "w")).toBe("EPERM");
    expect(await probe.open("/dev/null", "rw")).toBe("ok");
    expect(runnerCanOpenZero()).toBe(true);

    // update: read-only /dev/zero. The old program is gone (not merely joined by the new one:
    // programs on one cgroup all have to agree, so a leftover deny would still refuse reads)
    applyDevicesV2(dir, [allowAll, zero(false), zero(true, "r")]);
    const second = devicePrograms(dir);
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first[0]);
    expect(await probe.open("/dev/zero", "r")).toBe("ok");
    expect(await probe.open("/dev/zero", "w")).toBe("EPERM");
    expect(await probe.open("/dev/zero", "rw")).toBe("EPERM");

    // runc's usual shape: deny everything, allow a list
    applyDevicesV2(dir, [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    ]);
    expect(devicePrograms(dir)).toHaveLength(1);
    expect(await probe.open("/dev/null", "rw")).toBe("ok");
    expect(await probe.open("/dev/zero", "r")).toBe("EPERM");
    expect(await probe.open("/dev/full", "r")).toBe("EPERM");

    detachDevicePrograms(dir);
    expect(devicePrograms(dir)).toEqual([]);
    expect(await probe.open("/dev/zero", "rw")).toBe("ok");
  });

  it("reports failures against linux.resources.devices with the errno", () => {
    const notCgroup = mkdtempSync(join(tmpdir(), "polis-notcg-"));
    try {
      expect(() => applyDevicesV2(notCgroup, [allowAll])).toThrow(
        new RegExp(`^linux.resources.devices: query the device programs of ${notCgroup}: EBADF$`),
      );
    } finally {
      rmdirSync(notCgroup);
    }
    const gone = join(UNIFIED, `${TEST_CGROUP_PARENT.slice(1)}-${randomBytes(4).toString("hex")}`);
    try {
      applyDevicesV2(gone, [allowAll]);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toBe(`linux.resources.devices: open ${gone}: ENOENT`);
      expect((e as { detail: object }).detail).toMatchObject({ field: "linux.resources.devices", errno: "ENOENT" });
    }
  });
});

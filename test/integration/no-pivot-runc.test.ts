// --no-pivot against runc on this host. Without pivot_root the host's procfs and sysfs stay in the
// container's mount namespace (under the moved rootfs), and in a user namespace the kernel lets a
// container mount a fresh procfs/sysfs when a "fully visible" one is in its namespace. Those host
// mounts cannot be hidden from the kernel's check: they are locked (copied into the new user
// namespace), and covering them before the user namespace exists makes the container's own /proc
// mount fail (EPERM). So polis does what runc does, and this test holds it to runc's outcome for
// nested procfs and sysfs mounts, with and without pivot_root.
import { spawnSync } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { polis, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";
import { lacking } from "../helpers/host.js";

type Config = Record<string, any>;

// A skip with its reason where runc is missing (an error in CI, which installs it).
const runc = !lacking("no-pivot comparison with runc", { packages: ["runc"] }) && spawnSync("runc", ["--version"]).status === 0;
const HOST_ID = 230000;

let root: string;
let runcRoot: string;
let bundle: string;
beforeAll(() => {
  root = tempRoot();
  runcRoot = mkdtempSync(join(tmpdir(), "polis-runc-root-"));
  bundle = busyboxBundle((c: Config) => {
    c.process.args = ["sh", "-c", "mount -t proc proc /x; echo proc=$?; mount -t sysfs sysfs /y; echo sysfs=$?"];
    for (const set of ["bounding", "effective", "permitted"]) c.process.capabilities[set].push("CAP_SYS_ADMIN");
    c.root.readonly = false;
    c.linux.namespaces.push({ type: "user" });
    c.linux.uidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
    c.linux.gidMappings = [{ containerID: 0, hostID: HOST_ID, size: 65536 }];
    c.mounts = c.mounts.filter((m: Config) => m.type !== "cgroup");
  });
  for (const d of ["x", "y"]) {
    mkdirSync(join(bundle, "rootfs", d));
    chownSync(join(bundle, "rootfs", d), HOST_ID, HOST_ID);
  }
});
afterAll(() => {
  for (const d of [root, runcRoot, bundle]) if (d) rmSync(d, { recursive: true, force: true });
});

function outcome(stdout: string): string {
  return stdout
    .split("\n")
    .filter((l) => /^(proc|sysfs)=/.test(l))
    .join(" ");
}

describe.skipIf(!runc)("nested procfs/sysfs mounts in a user namespace: as runc on this host", () => {
  for (const noPivot of [true, false]) {
    it(noPivot ? "with --no-pivot" : "with pivot_root", () => {
      const flags = noPivot ? ["--no-pivot"] : [];
      const rid = uniqueId("runc");
      const r = spawnSync("runc", ["--root", runcRoot, "run", ...flags, rid], { cwd: bundle, encoding: "utf8", timeout: 30_000 });
      spawnSync("runc", ["--root", runcRoot, "delete", "-f", rid]);
      const pid = uniqueId("np");
      const p = polis(root, ["run", ...flags, "--bundle", bundle, pid]);
      polis(root, ["delete", "--force", pid]);
      expect(p.code, p.stderr).toBe(r.status);
      expect(outcome(p.stdout)).toBe(outcome(r.stdout));
      expect(outcome(p.stdout)).toMatch(/^proc=\d+ sysfs=\d+$/);
    });
  }
});

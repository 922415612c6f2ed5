// Containers sharing one cgroup (the same linux.cgroupsPath, as pods and joined containers do)
// share one v1 devices rule set. Creating the second one must not take a device away from the
// first, not even for a moment: polis writes only the difference to devices.list (runc's devices
// emulator), never "deny all, then allow again". Seen from outside: a loop in the running
// container opens /dev/null all the time and counts every failure in a file on the host.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { POLIS, polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";
import { cgroupPathDir, lacking, layout, TEST_CGROUP_PARENT } from "../helpers/host.js";

type Config = Record<string, any>;

const v1Devices = layout().v1.some((h) => h.controllers.includes("devices"));
const skip = v1Devices ? lacking("shared-cgroup devices", { root: true }) : "no v1 devices controller on this host";
if (!v1Devices) console.warn(`skipping cgroups-shared-devices: ${skip}`);
const runc = !skip && !lacking("devices.list comparison with runc", { packages: ["runc"] });

const root = tempRoot();
const made: string[] = [];
afterAll(() => {
  for (const d of [root, ...made]) rmSync(d, { recursive: true, force: true });
});

/**
 * Counts failed opens of /dev/null in /fails (a line per failure) and appends its round number to
 * /rounds every 200 rounds, so the test can see that the loop really ran while the others were made.
 * `true`, not `:`: a failed redirection of a special builtin ends the shell (POSIX).
 */
const OPEN_LOOP =
  "i=0; while :; do i=$((i+1)); true > /dev/null || echo $i >> /fails; " + "[ $((i % 200)) = 0 ] && echo $i >> /rounds; done";

// Rules of the config's own that a GPU or storage pod may well have: the longer the list, the
// longer a rewrite from scratch leaves the cgroup without /dev/null (runc's defaults come last).
const manyRules = Array.from({ length: 300 }, (_, i) => ({ allow: true, type: "c", major: 240, minor: i, access: "rw" }));

function sharedBundle(cgroupsPath: string, args: string[], devices?: object[]): string {
  const b = busyboxBundle((c: Config) => {
    c.process.args = args;
    c.root.readonly = false;
    c.linux.cgroupsPath = cgroupsPath;
    if (devices) c.linux.resources.devices.push(...devices);
  });
  made.push(b);
  return b;
}

/** The loop's round count: the last line it appended to /rounds. */
function rounds(bundle: string): number {
  const lines = readFileSync(join(bundle, "rootfs", "rounds"), "utf8")
    .split("\n")
    .filter(Boolean);
  return Number(lines.at(-1) ?? 0);
}
const failures = (bundle: string) => {
  const f = join(bundle, "rootfs", "fails");
  return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean).length : 0;
};
const devicesList = (cgroupsPath: string) => readFileSync(join(cgroupPathDir("devices", cgroupsPath), "devices.list"), "utf8");

/** Run `looper` detached, call `during` while its loop runs, and return how often its opens failed. */
async function whileLooping(cgroupsPath: string, devices: object[] | undefined, during: (id: string) => void): Promise<number> {
  const looper = sharedBundle(cgroupsPath, ["sh", "-c", OPEN_LOOP], devices);
  const id = uniqueId("looper");
  try {
    polisOk(root, ["run", "--detach", "--bundle", looper, id]);
    await waitFor(() => existsSync(join(looper, "rootfs", "rounds")), 10_000);
    const before = rounds(looper);
    during(id);
    const seen = rounds(looper);
    // the loop kept running all along (a test that cannot fail is a defect)
    expect(seen).toBeGreaterThan(before);
    return failures(looper);
  } finally {
    polis(root, ["delete", "--force", id]);
  }
}

describe.skipIf(!!skip)("device rules of containers sharing one cgroup (v1)", () => {
  it("creating more containers in the cgroup never takes /dev/null from the one running there", async () => {
    const cgroupsPath = `${TEST_CGROUP_PARENT}/${uniqueId("shared")}`;
    const other = sharedBundle(cgroupsPath, ["sleep", "1000"], manyRules);
    let listBefore = "";
    const failed = await whileLooping(cgroupsPath, manyRules, () => {
      listBefore = devicesList(cgroupsPath);
      for (let i = 0; i < 5; i++) {
        const id = uniqueId("joiner");
        try {
          polisOk(root, ["create", "--bundle", other, id]);
        } finally {
          polis(root, ["delete", "--force", id]);
        }
      }
      // the rule set itself did not change either
      expect(devicesList(cgroupsPath)).toBe(listBefore);
    });
    expect(listBefore).toContain("c 1:3 rwm");
    expect(listBefore).toContain("c 240:299 rw");
    expect(failed, "opens of /dev/null that failed while the others were created").toBe(0);
  }, 120_000);

  it("the same with runc's default rules only, creates racing each other", async () => {
    const cgroupsPath = `${TEST_CGROUP_PARENT}/${uniqueId("shared")}`;
    const other = sharedBundle(cgroupsPath, ["sleep", "1000"]);
    const failed = await whileLooping(cgroupsPath, undefined, () => {
      for (let i = 0; i < 3; i++) {
        const ids = [uniqueId("joiner"), uniqueId("joiner")];
        // two creates at once: both read, diff and write the same cgroup
        const script = ids.map((id) => `"$1" --root "$2" create --bundle "$3" ${id} & `).join("") + "wait";
        // output to a file: the created containers keep polis's stdio open (a pipe would never end)
        const errFile = join(root, "racing-creates.err");
        const err = openSync(errFile, "w");
        spawnSync("sh", ["-c", script, "sh", POLIS, root, other], { stdio: ["ignore", "ignore", err], timeout: 60_000 });
        closeSync(err);
        for (const id of ids) {
          const state = polis(root, ["state", id]);
          expect(state.code, `create ${id}: ${readFileSync(errFile, "utf8")}`).toBe(0);
          polis(root, ["delete", "--force", id]);
        }
      }
    });
    expect(failed, "opens of /dev/null that failed while the others were created").toBe(0);
  }, 120_000);

  it("update of the device rules writes only the change: the running loop never fails", async () => {
    const cgroupsPath = `${TEST_CGROUP_PARENT}/${uniqueId("upd")}`;
    const file = join(mkdtempSync(join(tmpdir(), "polis-devupd-")), "resources.json");
    made.push(join(file, ".."));
    const failed = await whileLooping(cgroupsPath, manyRules, (id) => {
      // containerd's CRI hands the whole device list again on every update; here with one more
      const devices = [
        { allow: false, access: "rwm" },
        ...manyRules,
        { allow: true, type: "c", major: 10, minor: 229, access: "rw" },
      ];
      writeFileSync(file, JSON.stringify({ devices }));
      polisOk(root, ["update", "--resources", file, id]);
      const list = devicesList(cgroupsPath);
      expect(list).toContain("c 10:229 rw");
      // runc's always-allowed devices stay: the update's rules come first, as at create
      expect(list).toContain("c 1:3 rwm");
      expect(list).toContain("c 136:* rwm");
      // the same rules again: nothing changes
      polisOk(root, ["update", "--resources", file, id]);
      expect(devicesList(cgroupsPath)).toBe(list);
      // a rule the v1 controller cannot express is refused by name, the cgroup left as it was
      writeFileSync(
        file,
        JSON.stringify({
          devices: [
            { allow: true, type: "c", access: "rwm" },
            { allow: false, type: "c", major: 1, minor: 3, access: "w" },
          ],
        }),
      );
      const bad = polis(root, ["update", "--resources", file, id]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("linux.resources.devices[1]: [c 1:3 w] cannot be taken out of the wider rule [c *:* rwm]");
      expect(devicesList(cgroupsPath)).toBe(list);
    });
    expect(failed, "opens of /dev/null that failed during the updates").toBe(0);
  }, 120_000);

  it.skipIf(!runc)("a fresh cgroup gets the same devices.list as runc gives the same bundle", () => {
    const mine = `${TEST_CGROUP_PARENT}/${uniqueId("fresh")}`;
    const theirs = `${TEST_CGROUP_PARENT}/${uniqueId("runc")}`;
    const extra = [
      { allow: true, type: "c", major: 10, minor: 229, access: "rw" },
      { allow: true, type: "b", major: 7, access: "r" },
      { allow: true, type: "c", major: 1, minor: 3, access: "r" }, // merges into runc's c 1:3 rwm
    ];
    const polisBundle = sharedBundle(mine, ["sleep", "1000"], extra);
    const runcBundle = sharedBundle(theirs, ["sleep", "1000"], extra);
    const runcRoot = mkdtempSync(join(tmpdir(), "polis-runc-root-"));
    made.push(runcRoot);
    const pid = uniqueId("fresh");
    const rid = uniqueId("runc");
    try {
      polisOk(root, ["create", "--bundle", polisBundle, pid]);
      // runc's output to a file: the container keeps its stdio open (a pipe would never end)
      const errFile = join(runcRoot, "stderr");
      const err = openSync(errFile, "w");
      const r = spawnSync("runc", ["--root", runcRoot, "create", "--bundle", runcBundle, rid], {
        stdio: ["ignore", "ignore", err],
        timeout: 30_000,
      });
      closeSync(err);
      expect(r.status, readFileSync(errFile, "utf8")).toBe(0);
      expect(devicesList(mine)).toBe(devicesList(theirs));
      expect(devicesList(mine)).toMatch(/^b \*:\* m\nc \*:\* m\nc 1:3 rwm\n(.*\n)*b 7:\* r\n/);
    } finally {
      polis(root, ["delete", "--force", pid]);
      spawnSync("runc", ["--root", runcRoot, "delete", "--force", rid]);
    }
  });
});

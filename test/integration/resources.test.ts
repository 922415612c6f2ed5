// linux.resources through the CLI: enforcement seen from inside, values read back from cgroupfs.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runScript, withRunning } from "../helpers/containers.js";
import { polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";
import { frozen, memoryLimit, pidsMax, TEST_CGROUP_PARENT } from "../helpers/host.js";

const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

// /dev/fuse (c 10:229): opening it needs no capability, only the device cgroup's permission.
const fuse = { destination: "/dev/fuse", type: "bind", source: "/dev/fuse", options: ["bind"] };

describe("linux.resources", () => {
  it("devices: a device outside the allowed set cannot be opened, and a rule can allow it", () => {
    // runc's default rules deny everything but the standard /dev nodes; /dev/fuse is not one.
    const denied = runScript(root, "head -c 0 /dev/fuse && echo opened", (c) => c.mounts.push(fuse));
    expect(denied.stdout).not.toContain("opened");
    expect(denied.stderr).toContain("Operation not permitted");
    const allowed = runScript(root, "head -c 0 /dev/fuse && echo opened", (c) => {
      c.mounts.push(fuse);
      c.linux.resources.devices.push({ allow: true, type: "c", major: 10, minor: 229, access: "rw" });
    });
    expect(allowed.stdout).toContain("opened");
  });

  it("memory: a hog is OOM-killed at its limit and the kill shows as 137", async () => {
    const cgroup = `${TEST_CGROUP_PARENT}/${uniqueId("oom")}`;
    const r = runScript(root, "head -c 200m /dev/zero | tail > /dev/null", (c) => {
      c.linux.cgroupsPath = cgroup;
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "pid");
      c.linux.resources.memory = { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 };
    });
    // The pipeline's tail is killed: the shell reports 128+9.
    expect(r.code, r.stderr).toBe(137);
  });

  it("pids: forks fail beyond pids.limit", () => {
    const r = runScript(root, "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; wait", (c) => {
      c.linux.resources.pids = { limit: 4 };
    });
    expect(r.stdout + r.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
  });

  it("update changes limits of a running container (flags and --resources)", async () => {
    await withRunning(
      root,
      (c) => (c.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${uniqueId("upd")}`),
      (id, pid) => {
        const limit = () => memoryLimit(pid);
        polisOk(root, ["update", "--memory", "64m", id]);
        expect(limit()).toBe(String(64 * 1024 * 1024));
        const file = join(root, `${id}-resources.json`);
        writeFileSync(file, JSON.stringify({ memory: { limit: 96 * 1024 * 1024 }, pids: { limit: 50 } }));
        polisOk(root, ["update", `--resources=${file}`, id]);
        expect(limit()).toBe(String(96 * 1024 * 1024));
        expect(pidsMax(pid)).toBe("50");
        const bad = polis(root, ["update", `--resources=${file}x`, id]);
        expect(bad.code).toBe(1);
      },
    );
  });

  it("pause and resume freeze and thaw the container", async () => {
    await withRunning(
      root,
      () => {},
      (id, pid) => {
        // v1 freezer.state or cgroup2's cgroup.freeze, whichever freezer this host gives the container
        const state = () => (frozen(pid) ? "FROZEN" : "THAWED");
        polisOk(root, ["pause", id]);
        expect(state()).toBe("FROZEN");
        expect(JSON.parse(polisOk(root, ["state", id]).stdout).status).toBe("paused");
        expect(polis(root, ["pause", id]).stderr).toContain("already paused");
        polisOk(root, ["resume", id]);
        expect(state()).toBe("THAWED");
        expect(JSON.parse(polisOk(root, ["state", id]).stdout).status).toBe("running");
        expect(polis(root, ["resume", id]).stderr).toContain("not paused");
      },
    );
  });

  it("a resource the host cannot enforce is an error naming the field, not a silent skip", () => {
    const r = runScript(root, "true", (c) => (c.linux.resources.network = { classID: 42 }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("linux.resources.network.classID");
  });
});

describe("the foreground shim is not part of the container", () => {
  it("does not count against pids.limit in a foreground run", () => {
    // pids.max 2: the container's shell and one child. A shim left in the cgroup would take a slot.
    const r = runScript(root, "sleep 0.2 & wait && echo forked", (c) => {
      c.linux.resources.pids = { limit: 2 };
    });
    expect(r.stdout + r.stderr).toContain("forked");
  });
});

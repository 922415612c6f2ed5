// `delete --force` of a container whose `polis create` is still running (a monitor's create that
// went on for a moment after its `polis run` was SIGKILLed): the creator is stopped before the
// teardown, so that it cannot make the cgroup after the teardown removed it. The creator here is
// a stand-in that makes the container's cgroup directories a moment after the delete started,
// as a create between its insert and `cgroup.create()` would.
import { spawn } from "node:child_process";
import { rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hostLayout } from "../../src/cgroups/index.js";
import { resolvePaths } from "../../src/cgroups/paths.js";
import { bootId, processStartTime } from "../../src/linux/proc.js";
import { cgroupDirsNamed, pidAlive, polis, tempRoot, uniqueId } from "../helpers/polis.js";
import { insertCreatingRow } from "../helpers/store.js";

const root = tempRoot();
const id = uniqueId("creating");
const paths = resolvePaths(hostLayout(), { id, cgroupsPath: `/polis-test-${id}/${id}` });
afterAll(() => {
  for (const dir of Object.values(paths)) {
    for (const d of [dir, join(dir, "..")]) {
      try {
        rmdirSync(d);
      } catch {
        // not made, or already gone
      }
    }
  }
  rmSync(root, { recursive: true, force: true });
});

describe("delete --force of a container still being created", () => {
  it("stops the creator first: no cgroup is made after the teardown", async () => {
    // the stand-in creator: the cgroup directories 400 ms from now
    const script = `sleep 0.4; ${Object.values(paths)
      .map((p) => `mkdir -p '${p}'`)
      .join("; ")}`;
    const creator = spawn("sh", ["-c", script], { stdio: "ignore" });
    const exited = new Promise((r) => creator.on("exit", r));
    const pid = creator.pid as number;
    insertCreatingRow(root, id, {
      bootId: bootId(),
      creatorPid: pid,
      creatorStartTime: processStartTime(pid) ?? "",
      cgroupPaths: paths,
    });
    expect(polis(root, ["state", id]).stdout).toContain('"status": "creating"');

    const r = polis(root, ["delete", "--force", id]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    await exited; // the stand-in was killed (it would exit 0 after its mkdirs otherwise)
    expect(creator.signalCode).toBe("SIGKILL");
    expect(pidAlive(pid)).toBe(false);
    await new Promise((r) => setTimeout(r, 600)); // past the stand-in's mkdirs, had it lived
    expect(cgroupDirsNamed(id)).toEqual([]);
    expect(polis(root, ["state", id]).stderr).toContain("container does not exist");
  });
});

// `delete --force` when the container's cgroup will not go: a process polis did not start keeps
// it (runc's destroy fails and keeps the container; so does polis, and a second delete finishes),
// or a polis-shim caught half-way through an exec (a health check) does (it goes with the
// container). Checked from outside: the exit code and message, `polis state`, cgroupfs, /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TEST_CGROUP_PARENT } from "../helpers/host.js";
import { cgroupDirsNamed, pidAlive, polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const root = tempRoot();
const scratch = mkdtempSync(join(tmpdir(), "polis-busy-"));
const started: ChildProcess[] = [];
afterAll(() => {
  for (const p of started) if (p.exitCode === null) p.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

/** A running container (own pid namespace) and a process of ours moved into its cgroup, in every hierarchy. */
async function containerWithIntruder(exe: string) {
  const id = uniqueId("busy");
  const bundle = busyboxBundle((c) => (c.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${id}`));
  polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
  const intruder = spawn(exe, ["1000"], { stdio: "ignore" });
  started.push(intruder);
  await new Promise((r) => intruder.once("spawn", r));
  const dirs = cgroupDirsNamed(id);
  expect(dirs.length).toBeGreaterThan(0);
  for (const d of dirs) writeFileSync(join(d, "cgroup.procs"), String(intruder.pid));
  return { id, bundle, intruder, dirs };
}

describe("delete --force and a cgroup that will not go", () => {
  it("a process polis did not start keeps it: delete fails naming the cgroup and keeps the container; a second delete finishes", async () => {
    const { id, bundle, intruder } = await containerWithIntruder("sleep");
    const first = polis(root, ["delete", "--force", id]);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/remove the cgroup: remove cgroup \/sys\/fs\/cgroup\/\S+: EBUSY/);
    expect(first.stderr).toContain("(1 process(es) still in it)");
    expect(first.stderr).toContain(`container ${id} is kept until its cgroup can be removed (delete it again)`);
    expect(first.stderr.trim().split("\n")).toHaveLength(1);
    // the container is still there (its init is dead), and so is its cgroup: nothing is lost track of
    expect(JSON.parse(polisOk(root, ["state", id]).stdout)).toMatchObject({ id, status: "stopped", pid: 0 });
    expect(cgroupDirsNamed(id).length).toBeGreaterThan(0);
    expect(pidAlive(intruder.pid!)).toBe(true); // not ours to kill

    intruder.kill("SIGKILL");
    await waitFor(() => intruder.exitCode !== null || intruder.signalCode !== null);
    polisOk(root, ["delete", "--force", id]);
    expect(polis(root, ["state", id]).stderr).toContain("container does not exist");
    expect(cgroupDirsNamed(id)).toEqual([]);
    rmSync(bundle, { recursive: true, force: true });
  }, 60_000);

  it("a polis-shim still in it (an exec caught half-way) goes with the container", async () => {
    // Stand-in for a shim that joined the cgroup for an exec and has not reached the pid
    // namespace: a long-lived process whose executable is what POLIS_SHIM names.
    const shim = join(scratch, "polis-shim");
    copyFileSync("/bin/sleep", shim);
    chmodSync(shim, 0o755);
    const { id, bundle, intruder } = await containerWithIntruder(shim);
    polisOk(root, ["delete", "--force", id], { env: { POLIS_SHIM: shim } });
    await waitFor(() => intruder.exitCode !== null || intruder.signalCode !== null);
    expect(intruder.signalCode).toBe("SIGKILL");
    expect(polis(root, ["state", id]).stderr).toContain("container does not exist");
    expect(cgroupDirsNamed(id)).toEqual([]);
    rmSync(bundle, { recursive: true, force: true });
  }, 60_000);
});

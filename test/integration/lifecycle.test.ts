// The container lifecycle through the CLI, checked from outside: /proc, cgroupfs, the state file.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { busyboxBundle } from "../helpers/rootfs.js";
import { cgroupDirsNamed, nsInode, pidAlive, polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { cgroupPathDir, pidCgroupDir, TEST_CGROUP_PARENT } from "../helpers/host.js";

const root = tempRoot();
afterAll(() => {
  for (const c of JSON.parse(polis(root, ["list", "--format", "json"]).stdout || "null") ?? [])
    polis(root, ["delete", "--force", c.id]);
  rmSync(root, { recursive: true, force: true });
});

function state(id: string) {
  return JSON.parse(polisOk(root, ["state", id]).stdout);
}

describe("create / start / kill / delete", () => {
  it("walks created → running → stopped → deleted, leaving nothing behind", async () => {
    const id = uniqueId("life");
    const bundle = busyboxBundle((c) => (c.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${id}`));
    const pidFile = join(bundle, "init.pid");
    polisOk(root, ["create", "--bundle", bundle, "--pid-file", pidFile, id]);

    const created = state(id);
    expect(created).toMatchObject({ ociVersion: "1.3.0", id, status: "created", bundle, rootfs: join(bundle, "rootfs") });
    expect(created.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const pid = created.pid;
    expect(readFileSync(pidFile, "utf8")).toBe(String(pid));
    expect(pidAlive(pid)).toBe(true);
    // The init is blocked on the exec fifo: not yet running the user's program.
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).not.toContain("sleep");
    for (const ns of ["pid", "mnt", "ipc", "uts", "net"]) expect(nsInode(pid, ns)).not.toBe(nsInode("self", ns));
    // It was placed in its cgroup before running anything.
    expect(pidCgroupDir(pid, "pids")).toBe(cgroupPathDir("pids", `${TEST_CGROUP_PARENT}/${id}`));

    polisOk(root, ["start", id]);
    expect(state(id).status).toBe("running");
    await waitFor(() => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep"));

    polisOk(root, ["kill", id, "KILL"]);
    await waitFor(() => !pidAlive(pid));
    expect(state(id)).toMatchObject({ status: "stopped", pid: 0 });

    polisOk(root, ["delete", id]);
    const gone = polis(root, ["state", id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("container does not exist");
    expect(cgroupDirsNamed(id)).toEqual([]);
    expect(existsSync(join(root, "containers", id))).toBe(false);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("refuses to delete a running container without --force, and --force kills it", async () => {
    const id = uniqueId("force");
    const bundle = busyboxBundle();
    polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
    const pid = state(id).pid;
    const r = polis(root, ["delete", id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("is not stopped");
    expect(pidAlive(pid)).toBe(true);
    polisOk(root, ["delete", "--force", id]);
    await waitFor(() => !pidAlive(pid));
    expect(polis(root, ["state", id]).code).toBe(1);
    // containerd calls delete --force twice: the second must succeed.
    expect(polis(root, ["delete", "--force", id]).code).toBe(0);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("says what containerd expects for absent and stopped containers", async () => {
    const missing = uniqueId("missing");
    for (const args of [
      ["kill", missing],
      ["delete", missing],
      ["state", missing],
      ["start", missing],
    ]) {
      const r = polis(root, args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr).toContain("container does not exist");
    }
    const id = uniqueId("stopped");
    const bundle = busyboxBundle((c) => (c.process.args = ["true"]));
    polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
    await waitFor(() => state(id).status === "stopped");
    const k = polis(root, ["kill", id, "TERM"]);
    expect(k.code).toBe(1);
    expect(k.stderr).toContain("container not running");
    polisOk(root, ["delete", id]);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("kill --all signals every process in the cgroup", async () => {
    const id = uniqueId("killall");
    const bundle = busyboxBundle((c) => {
      c.process.args = ["sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & wait"];
      c.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${id}`;
    });
    polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
    const procs = () =>
      readFileSync(join(cgroupPathDir("pids", `${TEST_CGROUP_PARENT}/${id}`), "cgroup.procs"), "utf8")
        .trim()
        .split("\n")
        .filter(Boolean);
    await waitFor(() => procs().length === 3);
    polisOk(root, ["kill", "--all", id, "9"]);
    await waitFor(() => procs().length === 0);
    polisOk(root, ["delete", id]);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("lists containers in runc's table and JSON formats", () => {
    const id = uniqueId("list");
    const bundle = busyboxBundle();
    polisOk(root, ["create", "--bundle", bundle, id]);
    const table = polisOk(root, ["list"]).stdout.split("\n");
    expect(table[0]).toMatch(/^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
    expect(table.some((l) => l.startsWith(id) && l.includes("created") && l.includes(bundle))).toBe(true);
    const json = JSON.parse(polisOk(root, ["list", "--format", "json"]).stdout);
    expect(json.find((c: { id: string }) => c.id === id)).toMatchObject({ id, status: "created", bundle });
    expect(polisOk(root, ["list", "-q"]).stdout.split("\n")).toContain(id);
    polisOk(root, ["delete", id]);
    rmSync(bundle, { recursive: true, force: true });
  });
});

describe("run in the foreground", () => {
  it("passes stdout, stderr and the exit code through, then deletes the container", () => {
    const id = uniqueId("fg");
    const bundle = busyboxBundle((c) => (c.process.args = ["sh", "-c", "echo out; echo err >&2; exit 7"]));
    const r = polis(root, ["run", "--bundle", bundle, id]);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n");
    expect(r.code).toBe(7);
    expect(polis(root, ["state", id]).code).toBe(1);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("returns 128+N when the container is killed by signal N, and --keep keeps it", () => {
    const id = uniqueId("sig");
    // Outside a pid namespace, so that the shell is not an init immune to its own SIGKILL.
    const bundle = busyboxBundle((c) => {
      c.process.args = ["sh", "-c", "kill -9 $$"];
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "pid");
    });
    const r = polis(root, ["run", "--keep", "--bundle", bundle, id]);
    expect(r.code).toBe(137);
    expect(state(id).status).toBe("stopped");
    polisOk(root, ["delete", id]);
    rmSync(bundle, { recursive: true, force: true });
  });
});

describe("signals in the foreground", () => {
  it("forwards SIGTERM and SIGINT from polis run to the container's process", async () => {
    const { spawn } = await import("node:child_process");
    const { POLIS } = await import("../helpers/polis.js");
    for (const [sig, code] of [
      ["SIGTERM", 3],
      ["SIGINT", 4],
    ] as const) {
      const id = uniqueId("fwd");
      const marker = `/tmp/${id}.ready`;
      const bundle = busyboxBundle((c) => {
        c.root.readonly = false;
        c.process.args = ["sh", "-c", `trap 'exit 3' TERM; trap 'exit 4' INT; touch ${marker}; while :; do sleep 0.1; done`];
      });
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      const child = spawn(POLIS, ["--root", root, "run", "--bundle", bundle, id], { env, stdio: "ignore" });
      await waitFor(() => existsSync(join(bundle, "rootfs", marker)), 10_000);
      child.kill(sig);
      const exit = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
      expect(exit, sig).toBe(code);
      expect(polis(root, ["state", id]).code).toBe(1); // deleted after the run, as without a signal
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

describe("liveness survives pid reuse and reboots", () => {
  it("a recorded init whose start time or boot id no longer matches is stopped", async () => {
    const { Store } = await import("../../src/state/store.js");
    const id = uniqueId("reuse");
    const bundle = busyboxBundle();
    polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
    const pid = state(id).pid;
    const store = Store.open(root);
    const real = store.get(id)!;
    try {
      // Same pid, other start time: the pid was reused by an unrelated process.
      store.update(id, { pidStartTime: String(Number(real.pidStartTime) + 1) });
      expect(state(id)).toMatchObject({ status: "stopped", pid: 0 });
      // Same pid and start time, but recorded during another boot.
      store.update(id, { pidStartTime: real.pidStartTime, bootId: "00000000-0000-0000-0000-000000000000" });
      expect(state(id).status).toBe("stopped");
      const k = polis(root, ["kill", id, "KILL"]);
      expect(k.stderr).toContain("container not running");
      expect(pidAlive(pid)).toBe(true); // the signal did not reach the process that merely has the pid
    } finally {
      store.update(id, { bootId: real.bootId, pidStartTime: real.pidStartTime });
      store.close();
    }
    expect(state(id).status).toBe("running");
    polisOk(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
  });
});

describe("the init while created", () => {
  it("cannot be reached through /proc/1/fd by other processes in the container", () => {
    const id = uniqueId("dumpable");
    const bundle = busyboxBundle();
    polisOk(root, ["create", "--bundle", bundle, id]);
    // The init holds the exec fifo (and, with a seccomp agent, its socket) until it execs.
    const r = polis(root, ["exec", id, "sh", "-c", "ls -l /proc/1/fd/ 2>&1; cat /proc/1/fd/* 2>&1 | head -1"]);
    expect(r.stdout).toMatch(/Permission denied|Operation not permitted/);
    expect(r.stdout).not.toContain("exec.fifo");
    polisOk(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
  });
});

describe("shared cgroups and stray processes", () => {
  it("delete of one container leaves another in the same cgroup running", async () => {
    const cgroupsPath = `${TEST_CGROUP_PARENT}/${uniqueId("shared")}`;
    const a = uniqueId("sha");
    const b = uniqueId("shb");
    const bundle = busyboxBundle((c) => (c.linux.cgroupsPath = cgroupsPath));
    polisOk(root, ["run", "--detach", "--bundle", bundle, a]);
    polisOk(root, ["run", "--detach", "--bundle", bundle, b]);
    const pidA = state(a).pid;
    polisOk(root, ["delete", "--force", b]);
    expect(pidAlive(pidA)).toBe(true);
    expect(state(a).status).toBe("running");
    polisOk(root, ["delete", "--force", a]);
    expect(cgroupDirsNamed(cgroupsPath.split("/").pop()!)).toEqual([]);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("kill --all reaches processes left in the cgroup after the init exited", async () => {
    const id = uniqueId("leftover");
    const bundle = busyboxBundle((c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "pid");
      c.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${id}`;
      c.process.args = ["sh", "-c", "sleep 300 & exit 0"];
    });
    polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
    const procs = () =>
      readFileSync(join(cgroupPathDir("pids", `${TEST_CGROUP_PARENT}/${id}`), "cgroup.procs"), "utf8")
        .trim()
        .split("\n")
        .filter(Boolean);
    await waitFor(() => state(id).status === "stopped" && procs().length === 1);
    expect(polis(root, ["kill", id, "9"]).stderr).toContain("container not running");
    polisOk(root, ["kill", "--all", id, "9"]);
    await waitFor(() => procs().length === 0);
    polisOk(root, ["delete", id]);
    rmSync(bundle, { recursive: true, force: true });
  });
});

describe("exec --pid-file", () => {
  it("is written in the foreground too, as runc does", () => {
    const id = uniqueId("execpid");
    const bundle = busyboxBundle();
    polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
    const pidFile = join(bundle, "exec.pid");
    polisOk(root, ["exec", "--pid-file", pidFile, id, "true"]);
    expect(readFileSync(pidFile, "utf8")).toMatch(/^\d+$/);
    polisOk(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
  });
});

// How a monitored container ended, recorded by its monitor and read through `polis inspect` and
// `polis events --all`: a normal exit, a kill, an OOM kill; `state` keeps runc's JSON.
import { spawn } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runMonitored, until } from "../helpers/monitor.js";
import { POLIS, polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";
import { TEST_CGROUP_PARENT } from "../helpers/host.js";

const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

const events = (id: string) =>
  polisOk(root, ["events", "--all", "--format", "json", "--filter", `id=${id}`])
    .stdout.trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

const finished = (c: { inspect: () => any }) =>
  until("the recorded exit", () => (c.inspect().State.FinishedAt ? c.inspect() : undefined));

describe("exit status", () => {
  it("a container that exited: its code and time, an exit event, runc's state unchanged", async () => {
    const c = runMonitored(root, "exit 3", ["--logs"]);
    try {
      const i = await finished(c);
      expect(i.State.ExitCode).toBe(3);
      expect(i.State.Status).toBe("stopped");
      expect(i.State.OOMKilled).toBe(false);
      // StartedAt is the core's `start` event, appended just after the init was released: a
      // process as short as `exit 3` may be done a few milliseconds before it.
      expect(Date.parse(i.State.FinishedAt)).toBeGreaterThan(Date.parse(i.State.StartedAt) - 200);
      const state = JSON.parse(polisOk(root, ["state", c.id]).stdout);
      expect(Object.keys(state).sort()).toEqual(["bundle", "created", "id", "ociVersion", "owner", "pid", "rootfs", "status"]);
      const exit = events(c.id).find((e) => e.action === "exit");
      expect(exit.attributes).toMatchObject({ exitCode: 3, oomKilled: false });
      expect(events(c.id).map((e) => e.action)).toEqual(["create", "start", "exit"]);
    } finally {
      c.remove();
    }
    // delete appends its event after the monitor's rows are gone
    expect(
      events(c.id)
        .map((e) => e.action)
        .at(-1),
    ).toBe("delete");
  });

  it("a killed container: 128 + the signal", async () => {
    const c = runMonitored(root, "sleep 1000", ["--logs"]);
    try {
      polisOk(root, ["kill", c.id, "KILL"]);
      const i = await finished(c);
      expect(i.State.ExitCode).toBe(137);
      expect(events(c.id).find((e) => e.action === "exit").attributes.signal).toBe(9);
    } finally {
      c.remove();
    }
  });

  it("an OOM-killed container: OOMKilled and an oom event", async () => {
    const c = runMonitored(root, "head -c 200m /dev/zero | tail > /dev/null", ["--logs"], (cfg) => {
      cfg.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${uniqueId("oom")}`;
      cfg.linux.resources.memory = { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 };
    });
    try {
      const i = await finished(c);
      expect(i.State.OOMKilled).toBe(true);
      expect(i.State.ExitCode).toBe(137);
      expect(events(c.id).map((e) => e.action)).toEqual(expect.arrayContaining(["oom", "exit"]));
    } finally {
      c.remove();
    }
  });

  it("run --rm: the container is deleted once its exit is recorded", async () => {
    const c = runMonitored(root, "echo bye; exit 4", ["--rm"]);
    try {
      await until("the delete", () => polis(root, ["state", c.id]).code !== 0);
      expect(polis(root, ["state", c.id]).stderr).toContain("container does not exist");
      const actions = events(c.id).map((e) => e.action);
      expect(actions).toEqual(["create", "start", "exit", "delete"]);
      expect(existsSync(join(root, "monitors", c.id))).toBe(false);
    } finally {
      c.remove();
    }
  });

  it("the event history keeps only monitor.eventRetention (applied as exits come in)", async () => {
    const config = join(root, "retention.yaml");
    writeFileSync(config, "monitor:\n  eventRetention: 2s\n");
    const old = runMonitored(root, "exit 0", ["--logs"]);
    try {
      await finished(old);
      expect(events(old.id).length).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 2500));
      const id = uniqueId("ret");
      const bundle = busyboxBundle((cfg) => (cfg.process.args = ["true"]));
      polisOk(root, ["run", "-d", "--rm", "--bundle", bundle, id], { env: { POLIS_CONFIG: config } });
      await until("the second container's delete", () => polis(root, ["state", id]).code !== 0);
      rmSync(bundle, { recursive: true, force: true });
      expect(events(old.id)).toEqual([]);
      expect(events(id).map((e) => e.action)).toContain("exit");
    } finally {
      old.remove();
    }
  }, 60000);

  it("events --all --follow streams new events as they are appended", async () => {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const since = new Date().toISOString();
    const f = spawn(
      POLIS,
      ["--root", root, "events", "--all", "--follow", "--since", since, "--format", "json", "--filter", "action=exit"],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    f.stdout.on("data", (d) => (out += d));
    try {
      const c = runMonitored(root, "exit 7", ["--logs"]);
      try {
        const line = await until("the streamed exit", () => out.split("\n").find((l) => l.includes(c.id)));
        expect(JSON.parse(line)).toMatchObject({ type: "container", action: "exit", id: c.id, attributes: { exitCode: 7 } });
      } finally {
        c.remove();
      }
    } finally {
      f.kill("SIGTERM");
    }
  });

  it("an exit the monitor wrote but could not report (killed before `polis exited`) is recorded by inspect", async () => {
    const c = runMonitored(root, "sleep 1000", ["--logs"]);
    try {
      process.kill(c.inspect().Monitor.Pid, "SIGKILL");
      await until("the monitor's death", () => !c.inspect().Monitor.Running);
      polisOk(root, ["kill", c.id, "KILL"]);
      // what polis-monitor writes (native/monitor/polis-monitor.c write_exit_file) before its hook
      writeFileSync(join(root, "monitors", c.id, "exit"), "exitCode 137\nsignal 9\nfinishedAt 2026-01-01T00:00:00.000000001Z\n");
      expect(c.inspect().State).toMatchObject({ ExitCode: 137, FinishedAt: "2026-01-01T00:00:00.000000001Z" });
      c.inspect(); // a second look records nothing twice
      expect(events(c.id).filter((e) => e.action === "exit")).toHaveLength(1);
    } finally {
      c.remove();
    }
  });

  it("inspect: an unknown container fails like every runtime command", () => {
    const r = polis(root, ["inspect", "nope"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("container does not exist");
  });
});

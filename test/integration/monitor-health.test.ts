// Health checks run by the container's monitor, with docker's semantics, checked through
// `polis inspect`, `polis events --all` and /proc: turning unhealthy after retries, the start
// period, a hanging check killed at its timeout, --health-on-failure kill and restart.
import { readFileSync, rmSync, unlinkSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { runMonitored, statusOf, until } from "../helpers/monitor.js";
import { polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

const events = (id: string) =>
  polisOk(root, ["events", "--all", "--format", "json", "--filter", `id=${id}`])
    .stdout.trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe("health checks", () => {
  it("healthy, then unhealthy after `retries` failures in a row; one health_status event per change", async () => {
    const c = runMonitored(root, "touch /dev/shm/ok; sleep 1000", [
      "--health-cmd",
      "test -e /dev/shm/ok",
      "--health-interval",
      "300ms",
      "--health-retries",
      "3",
    ]);
    try {
      expect(c.inspect().State.Health.Status).toBe("starting");
      await until("healthy", () => c.inspect().State.Health.Status === "healthy");
      const pid = c.inspect().State.Pid;
      unlinkSync(`/proc/${pid}/root/dev/shm/ok`);
      const h = await until("unhealthy", () =>
        c.inspect().State.Health.Status === "unhealthy" ? c.inspect().State.Health : undefined,
      );
      expect(h.FailingStreak).toBeGreaterThanOrEqual(3); // the monitor may have checked again since
      const fails = h.Log.filter((r: { ExitCode: number }) => r.ExitCode !== 0);
      expect(fails.length).toBeGreaterThanOrEqual(3);
      expect(h.Log.length).toBeLessThanOrEqual(5);
      const changes = events(c.id)
        .filter((e) => e.action === "health_status")
        .map((e) => e.attributes.status);
      expect(changes).toEqual(["healthy", "unhealthy"]);
      // on-failure none: still running; a manual check says so with exit 1
      expect(statusOf(root, c.id)).toBe("running");
      const r = polis(root, ["health", c.id]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("unhealthy\n");
    } finally {
      c.remove();
    }
  }, 60000);

  it("failures in the start period do not count", async () => {
    const PERIOD = 5000;
    const c = runMonitored(root, "sleep 1000", [
      "--health-cmd",
      "false",
      "--health-interval",
      "250ms",
      "--health-retries",
      "1",
      "--health-start-period",
      "5s",
    ]);
    try {
      const i0 = await until("two results", () => {
        const i = c.inspect();
        return i.State.Health.Log.length >= 2 ? i : undefined;
      });
      // Every failure so far started within the period (a loaded host could be slower: then skip)
      const inPeriod = (i: any) =>
        i.State.Health.Log.every((r: { Start: string }) => Date.parse(r.Start) - Date.parse(i.State.StartedAt) < PERIOD);
      if (inPeriod(i0)) {
        expect(i0.State.Health.Status).toBe("starting");
        expect(i0.State.Health.FailingStreak).toBe(0);
      }
      await until("unhealthy after the start period", () => c.inspect().State.Health.Status === "unhealthy", 30_000);
      const i = c.inspect();
      const afterStart = Date.parse(i.State.Health.Log.at(-1).Start) - Date.parse(i.State.StartedAt);
      expect(afterStart).toBeGreaterThanOrEqual(PERIOD);
    } finally {
      c.remove();
    }
  }, 90000);

  it("a hanging check is killed at its timeout, in the container too, and fails", async () => {
    const c = runMonitored(root, "sleep 1000", [
      "--health-cmd",
      "sleep 77",
      "--health-interval",
      "1h",
      "--health-timeout",
      "500ms",
    ]);
    try {
      const t0 = Date.now();
      const r = polis(root, ["health", c.id]);
      expect(r.code).toBe(1);
      expect(Date.now() - t0).toBeLessThan(10_000);
      const last = c.inspect().State.Health.Log.at(-1);
      expect(last.ExitCode).toBe(-1);
      expect(last.Output).toContain("timeout");
      // no `sleep 77` left in the container
      const ps = JSON.parse(polisOk(root, ["ps", "--format", "json", c.id]).stdout) as number[];
      for (const pid of ps) expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).not.toContain("77");
    } finally {
      c.remove();
    }
  });

  it("--health-on-failure kill: the container is killed once unhealthy and its exit recorded", async () => {
    const c = runMonitored(root, "sleep 1000", [
      "--health-cmd",
      "false",
      "--health-interval",
      "300ms",
      "--health-retries",
      "2",
      "--health-on-failure",
      "kill",
    ]);
    try {
      await until("stopped", () => statusOf(root, c.id) === "stopped");
      const i = await until("the exit", () => (c.inspect().State.FinishedAt ? c.inspect() : undefined));
      expect(i.State.ExitCode).toBe(137);
      expect(i.State.Health.Status).toBe("unhealthy");
      const actions = events(c.id).map((e) => e.action);
      expect(actions).toEqual(expect.arrayContaining(["health_status", "kill", "exit"]));
      expect(actions.indexOf("kill")).toBeGreaterThan(actions.indexOf("health_status"));
    } finally {
      c.remove();
    }
  }, 60000);

  it("--health-on-failure restart: a new init under a new monitor, same log file", async () => {
    const c = runMonitored(root, "echo started; test -e /dev/shm/sick || sleep 1000", [
      "--logs",
      "--health-cmd",
      "test ! -e /dev/shm/sick",
      "--health-interval",
      "300ms",
      "--health-retries",
      "1",
      "--health-on-failure",
      "restart",
    ]);
    try {
      await until("healthy", () => c.inspect().State.Health.Status === "healthy");
      const first = c.inspect();
      // sick: /dev/shm is the container's own tmpfs, so the restarted container starts well again
      polisOk(root, ["exec", c.id, "touch", "/dev/shm/sick"]);
      const second = await until(
        "a restart",
        () => {
          try {
            const i = c.inspect();
            return i.State.Pid && i.State.Pid !== first.State.Pid && i.State.Status === "running" ? i : undefined;
          } catch {
            return undefined; // between delete and create
          }
        },
        20_000,
      );
      expect(second.Monitor.Pid).not.toBe(first.Monitor.Pid);
      expect(second.Monitor.Running).toBe(true);
      expect(events(c.id).some((e) => e.action === "restart")).toBe(true);
      await until("two starts in the log", () => polisOk(root, ["logs", c.id]).stdout === "started\nstarted\n");
    } finally {
      c.remove();
    }
  }, 60000);

  it("bad input: no check, unknown container, bad flags name the flag", () => {
    const none = runMonitored(root, "sleep 1000", ["--logs"]);
    try {
      const r = polis(root, ["health", none.id]);
      expect(r.code).toBe(125);
      expect(r.stderr).toContain("has no health check");
    } finally {
      none.remove();
    }
    expect(polis(root, ["health", "nope"]).code).toBe(125);
    const bad = polis(root, [
      "run",
      "--detach",
      "--health-cmd",
      "true",
      "--health-retries",
      "0",
      "--bundle",
      "/nonexistent",
      "x1",
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--health-retries");
    const fg = polis(root, ["run", "--logs", "--bundle", "/nonexistent", "x2"]);
    expect(fg.code).toBe(1);
    expect(fg.stderr).toContain("--detach");
    const lonely = polis(root, ["run", "-d", "--health-interval", "1s", "--bundle", "/nonexistent", "x3"]);
    expect(lonely.stderr).toContain("--health-interval needs --health-cmd");
    // a foreground run deletes its container anyway: --rm is accepted as docker users type it
    const id = uniqueId("fgrm");
    const bundle = busyboxBundle((c) => (c.process.args = ["echo", "hi"]));
    try {
      const fgRm = polis(root, ["run", "--rm", "--bundle", bundle, id]);
      expect(fgRm.code, fgRm.stderr).toBe(0);
      expect(fgRm.stdout).toBe("hi\n");
      expect(polis(root, ["state", id]).code).not.toBe(0);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

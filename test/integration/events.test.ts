// `polis events` on real containers: the stats snapshot and the OOM stream.
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { withRunning } from "../helpers/containers.js";
import { POLIS, pidAlive, polis, polisOk, tempRoot, waitFor } from "../helpers/polis.js";

const root = tempRoot();
afterAll(() => {
  for (const c of JSON.parse(polis(root, ["list", "--format", "json"]).stdout || "null") ?? [])
    polis(root, ["delete", "--force", c.id]);
  rmSync(root, { recursive: true, force: true });
});

const MiB = 1024 * 1024;

describe("polis events", () => {
  it("--stats prints one stats event with runc's fields", async () => {
    await withRunning(
      root,
      (c) => {
        c.linux.resources = { ...(c.linux.resources ?? {}), memory: { limit: 64 * MiB }, pids: { limit: 50 } };
      },
      (id) => {
        const r = polisOk(root, ["events", "--stats", id]);
        const lines = r.stdout.trim().split("\n");
        expect(lines).toHaveLength(1);
        const e = JSON.parse(lines[0]);
        expect(e.type).toBe("stats");
        expect(e.id).toBe(id);
        expect(e.data.memory.usage.usage).toBeGreaterThan(0);
        // the kernel rounds the limit down to whole pages
        expect(e.data.memory.usage.limit).toBe(64 * MiB);
        expect(e.data.pids.current).toBeGreaterThanOrEqual(1);
        expect(e.data.pids.limit).toBe(50);
        expect(e.data.cpu.usage.total).toBeGreaterThan(0);
        expect(Object.keys(e.data.memory.raw)).toContain("rss");
      },
    );
  });

  it("refuses a stopped container", async () => {
    await withRunning(
      root,
      (c) => (c.process.args = ["true"]),
      async (id, pid) => {
        await waitFor(() => !pidAlive(pid));
        const r = polis(root, ["events", "--stats", id]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`container with id ${id} is not running`);
      },
    );
  });

  it("streams stats every interval, reports an OOM kill, and ends when the container stops", async () => {
    await withRunning(
      root,
      (c) => {
        c.linux.resources = { ...(c.linux.resources ?? {}), memory: { limit: 16 * MiB, swap: 16 * MiB } };
      },
      async (id, pid) => {
        const child = spawn(POLIS, ["--root", root, "events", "--interval", "300ms", id], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
        try {
          const events = () =>
            out
              .split("\n")
              .filter(Boolean)
              .map((l) => JSON.parse(l));
          await waitFor(() => events().filter((e) => e.type === "stats").length >= 2, 10_000);
          expect(events().some((e) => e.type === "oom")).toBe(false);
          // busybox tail keeps reading /dev/zero looking for a newline: it grows until OOM-killed
          const hog = polis(root, ["exec", id, "tail", "/dev/zero"]);
          expect(hog.code).toBe(137);
          await waitFor(() => events().some((e) => e.type === "oom"), 5000);
          expect(events().find((e) => e.type === "oom")).toEqual({ type: "oom", id });
          expect(pidAlive(pid)).toBe(true); // only the hog died
          polisOk(root, ["kill", id, "KILL"]);
          const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), 5000))]);
          expect(code, err).toBe(0);
        } finally {
          child.kill("SIGKILL");
        }
      },
    );
  });
});

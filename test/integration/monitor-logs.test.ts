// The container's monitor keeps its output: k8s-file records, interleaved streams, partial lines,
// size rotation under a writer that never stops, `logs -f` across rotations, a log file deleted
// under the monitor, and the monitor SIGKILLed. Checked from the files and through `polis logs`.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lines, records, runMonitored, statusOf, until } from "../helpers/monitor.js";
import { POLIS, pidAlive, polis, polisOk, tempRoot } from "../helpers/polis.js";

const root = tempRoot();
const scratch = mkdtempSync(join(tmpdir(), "polis-logs-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

const RFC3339NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("container logs", () => {
  it("records stdout and stderr, marks partial lines, and `polis logs` puts them back together", async () => {
    const c = runMonitored(root, "echo one; echo two >&2; printf 'hal'; sleep 0.3; echo f; echo three; exit 0", ["--logs"]);
    try {
      const log = await until("the exit", () => (c.inspect().State.FinishedAt ? c.inspect().LogPath : undefined));
      const recs = records(log);
      for (const r of recs) expect(r.time).toMatch(RFC3339NANO);
      expect(recs.filter((r) => r.stream === "stdout").map((r) => `${r.tag}:${r.text}`)).toEqual([
        "F:one",
        "P:hal",
        "F:f",
        "F:three",
      ]);
      expect(recs.filter((r) => r.stream === "stderr").map((r) => `${r.tag}:${r.text}`)).toEqual(["F:two"]);
      const out = polisOk(root, ["logs", c.id]);
      expect(out.stdout).toBe("one\nhalf\nthree\n");
      expect(out.stderr).toBe("two\n");
      expect(polisOk(root, ["logs", "--tail", "1", c.id]).stdout).toBe("three\n");
      const stamped = polisOk(root, ["logs", "-t", c.id]).stdout.trimEnd().split("\n");
      expect(stamped).toHaveLength(3);
      for (const l of stamped) expect(l).toMatch(/^\S+Z \S/);
      expect(polisOk(root, ["logs", "--since", "2999-01-01T00:00:00Z", c.id]).stdout).toBe("");
      expect(polisOk(root, ["logs", "--until", "2000-01-01T00:00:00Z", c.id]).stdout).toBe("");
    } finally {
      c.remove();
    }
  });

  it("a line longer than a read is split into P records and put back together", async () => {
    const c = runMonitored(root, "head -c 20000 /dev/zero | tr '\\0' a; echo; echo short", ["--logs"]);
    try {
      const log = await until("the exit", () => (c.inspect().State.FinishedAt ? c.inspect().LogPath : undefined));
      const recs = records(log);
      expect(recs.map((r) => r.tag).join("")).toMatch(/^P+FF$/);
      expect(
        recs
          .slice(0, -1)
          .map((r) => r.text)
          .join(""),
      ).toBe("a".repeat(20000));
      expect(polisOk(root, ["logs", c.id]).stdout).toBe("a".repeat(20000) + "\nshort\n");
    } finally {
      c.remove();
    }
  });

  it("rotates by size under a writer that never stops: bounded files, no line lost or reordered", async () => {
    const c = runMonitored(root, "i=0; while :; do echo line$i; i=$((i+1)); done", [
      "--logs",
      "--log-max-size",
      "4k",
      "--log-max-files",
      "3",
    ]);
    try {
      const log = c.inspect().LogPath as string;
      await until("two rotations", () => existsSync(`${log}.2`));
      await sleep(500);
      polisOk(root, ["kill", c.id, "KILL"]);
      await until("the exit", () => c.inspect().State.FinishedAt);
      expect(existsSync(`${log}.3`)).toBe(false);
      const files = [`${log}.2`, `${log}.1`, log];
      for (const f of files) expect(statSync(f).size).toBeLessThanOrEqual(4096);
      // Oldest to newest, the kept lines are consecutive: rotation neither drops nor reorders.
      const kept = lines(files.flatMap((f) => records(f)));
      if (!/^line\d+$/.test(kept[0])) kept.shift(); // the tail of a line rotated away
      const numbers = kept.map((l) => Number(l.slice(4)));
      expect(numbers.length).toBeGreaterThan(100);
      for (const [i, n] of numbers.entries()) expect(n).toBe(numbers[0] + i);
      // `polis logs` reads across the files, oldest first
      const printed = polisOk(root, ["logs", c.id]).stdout.trimEnd().split("\n");
      expect(printed[0]).toBe(`line${numbers[0]}`);
      expect(printed.length).toBeGreaterThanOrEqual(numbers.length);
    } finally {
      c.remove();
    }
  }, 60000);

  it("with one file (the default), rotation truncates in place", async () => {
    const c = runMonitored(root, "i=0; while :; do echo line$i; i=$((i+1)); done", ["--logs", "--log-max-size", "1k"]);
    try {
      const log = c.inspect().LogPath as string;
      await until("a few rotations", () => {
        const recs = records(log);
        return recs.length > 0 && Number(recs[0].text.slice(4)) > 200;
      });
      expect(statSync(log).size).toBeLessThanOrEqual(1024);
      expect(existsSync(`${log}.1`)).toBe(false);
    } finally {
      c.remove();
    }
  });

  it("`logs -f` follows across rotations and ends when the container stops", async () => {
    // A follower that falls a whole set of rotated files behind loses lines (docker's and
    // podman's do too): three files and a line every 4 ms leave it ~300 ms of slack under load.
    const c = runMonitored(root, "i=0; while :; do echo line$i; i=$((i+1)); usleep 4000; done", [
      "--logs",
      "--log-max-size",
      "2k",
      "--log-max-files",
      "3",
    ]);
    try {
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      const f = spawn(POLIS, ["--root", root, "logs", "-f", c.id], { env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      f.stdout.on("data", (d) => (out += d));
      const ended = new Promise<number>((r) => f.on("close", (code) => r(code ?? -1)));
      const log = c.inspect().LogPath as string;
      // Several rotations while it follows
      // Rotations counted as changes of the file's inode (numbers of removed files come back).
      const inode = () => statSync(log).ino;
      let current = inode();
      let rotations = 0;
      await until(
        "five rotations",
        () => {
          try {
            const now = inode();
            if (now !== current) rotations++;
            current = now;
          } catch {
            // between rename and re-create
          }
          return rotations >= 5;
        },
        20_000,
        20,
      );
      polisOk(root, ["kill", c.id, "KILL"]);
      expect(await Promise.race([ended, sleep(10_000).then(() => "still following")])).toBe(0);
      const numbers = out
        .trimEnd()
        .split("\n")
        .map((l) => Number(l.slice(4)));
      expect(numbers.length).toBeGreaterThan(80);
      for (const [i, n] of numbers.entries()) expect(n, `line ${i} of logs -f`).toBe(numbers[0] + i);
      // …and up to the very last line the monitor wrote
      const last = lines(records(log)).pop()!;
      expect(numbers[numbers.length - 1]).toBe(Number(last.slice(4)));
    } finally {
      c.remove();
    }
  }, 90000);

  it("a log file deleted under the monitor is recreated by the next line", async () => {
    const c = runMonitored(root, "i=0; while :; do echo line$i; i=$((i+1)); sleep 0.1; done", [
      "--log-path",
      join(scratch, "deleted.log"),
    ]);
    try {
      const log = join(scratch, "deleted.log");
      await until("some lines", () => existsSync(log) && records(log).length > 2);
      unlinkSync(log);
      await until("a new file", () => existsSync(log) && records(log).length > 2);
      expect(statusOf(root, c.id)).toBe("running");
    } finally {
      c.remove();
    }
    // --log-path is the user's file: delete leaves it
    expect(existsSync(join(scratch, "deleted.log"))).toBe(true);
  });

  it("the monitor SIGKILLed: the container keeps running, inspect says the monitor is gone, the logs stay", async () => {
    const c = runMonitored(root, "echo before; sleep 1000", ["--logs"]);
    try {
      await until("the first line", () => polisOk(root, ["logs", c.id]).stdout === "before\n");
      const mon = c.inspect().Monitor;
      expect(mon.Running).toBe(true);
      expect(pidAlive(mon.Pid)).toBe(true);
      process.kill(mon.Pid, "SIGKILL");
      await until("the monitor's death", () => !c.inspect().Monitor.Running);
      expect(statusOf(root, c.id)).toBe("running");
      expect(polisOk(root, ["logs", c.id]).stdout).toBe("before\n");
      // and delete still cleans up everything
      const dir = join(root, "monitors", c.id);
      polisOk(root, ["delete", "--force", c.id]);
      expect(existsSync(dir)).toBe(false);
    } finally {
      c.remove();
    }
  });

  it("bad input: unknown container, a container without logs, a bad --tail", () => {
    const r = polis(root, ["logs", "nope"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("container nope does not exist");
    const t = polis(root, ["logs", "--tail", "x", "nope"]);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain("--tail");
  });
});

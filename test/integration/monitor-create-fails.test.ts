// A monitored create (`run --detach --logs|--log-path|--health-*`) that cannot be made: exit 1,
// one line saying why (the create's own error, not "see monitor.log"), and nothing left: no
// monitor process, no monitor directory, no default log file, no rows, no cgroup.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Store } from "../../src/state/store.js";
import { runMonitored } from "../helpers/monitor.js";
import { cgroupDirsNamed, pidAlive, polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const root = tempRoot();
const bundles: string[] = [];
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  for (const b of bundles) rmSync(b, { recursive: true, force: true });
});

/** polis-monitor processes whose --dir is `dir`. */
function monitorsOf(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      const at = argv.indexOf("--dir");
      if (argv[0].endsWith("polis-monitor") && at >= 0 && argv[at + 1] === dir) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

/** Everything a monitored container of `id` could leave behind, as one comparable object. */
function leftOf(id: string) {
  const store = Store.open(root);
  try {
    return {
      monitors: monitorsOf(join(root, "monitors", id)),
      monitorDir: existsSync(join(root, "monitors", id)), // the default log (ctr.log) is in it
      container: store.get(id) !== undefined,
      resources: store.resourcesOf(id).map((r) => r.kind),
      cgroups: cgroupDirsNamed(id),
    };
  } finally {
    store.close();
  }
}
const NOTHING_LEFT = { monitors: [], monitorDir: false, container: false, resources: [], cgroups: [] };

function bundle(edit: (c: Record<string, any>) => void = () => {}): string {
  const b = busyboxBundle(edit);
  bundles.push(b);
  return b;
}

describe("a monitored create that fails", () => {
  it("inside the monitor's `polis create`: its error on one line, exit 1, nothing left", () => {
    const id = uniqueId("monfail");
    const b = bundle((c) => {
      c.mounts.push({ destination: "/data", type: "bind", source: "/nonexistent-polis-covmon", options: ["bind"] });
    });
    const r = polis(root, ["run", "--detach", "--logs", "--bundle", b, id]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("/nonexistent-polis-covmon");
    expect(r.stderr).not.toContain("monitor.log");
    expect(leftOf(id)).toEqual(NOTHING_LEFT);
  });

  it("--log-path in a directory that does not exist: named, nothing left", () => {
    const id = uniqueId("monlp");
    const log = join(root, "no-such-dir", "c.log");
    const r = polis(root, ["run", "--detach", "--log-path", log, "--bundle", bundle(), id]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`--log-path ${log}: directory ${join(root, "no-such-dir")} does not exist`);
    expect(leftOf(id)).toEqual(NOTHING_LEFT);
  });

  it("a monitor that cannot open its --log-path (a directory): what it said, on one line, nothing left", () => {
    const id = uniqueId("monld");
    const log = join(root, `logdir-${id}`);
    mkdirSync(log);
    const r = polis(root, ["run", "--detach", "--log-path", log, "--bundle", bundle(), id]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    // quoted, not pointed at: the monitor's directory (and its monitor.log) is gone with the undo
    expect(r.stderr).toContain(`polis-monitor: ${log}: Is a directory`);
    expect(leftOf(id)).toEqual(NOTHING_LEFT);
    expect(readdirSync(log)).toEqual([]);
  });

  it("a monitor binary that cannot be run: named in the error, nothing left", () => {
    const id = uniqueId("monbin");
    const missing = join(root, "no-polis-monitor");
    const r = polis(root, ["run", "--detach", "--logs", "--bundle", bundle(), id], {
      env: { ...process.env, POLIS_MONITOR: missing },
    });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`cannot run polis-monitor ${missing}`);
    expect(r.stderr).toContain("ENOENT");
    expect(leftOf(id)).toEqual(NOTHING_LEFT);
  });

  it("--console-socket with --logs: refused before anything is made", () => {
    const id = uniqueId("moncs");
    const r = polis(root, ["run", "--detach", "--logs", "--console-socket", join(root, "cs.sock"), "--bundle", bundle(), id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--console-socket cannot be used with --logs");
    expect(leftOf(id)).toEqual(NOTHING_LEFT);
  });
});

describe("delete --force of a monitored container whose monitor pid was never recorded", () => {
  it("finds the monitor by its directory and stops it: nothing left", () => {
    // polis SIGKILLed between starting the monitor and recording its pid leaves the row as it
    // was written before the spawn: { dir, logPath, ownsLog } and no pid.
    const c = runMonitored(root, "sleep 1000", ["--logs"]);
    const dir = join(root, "monitors", c.id);
    const [monitor] = monitorsOf(dir);
    expect(monitor).toBeGreaterThan(0);
    const store = Store.open(root);
    try {
      const row = store.resourcesOf(c.id).find((r) => r.kind === "monitor")!;
      const { pid: _pid, startTime: _s, bootId: _b, ...before } = row.data as Record<string, unknown>;
      store.addResource(c.id, "monitor", "monitor", before);
    } finally {
      store.close();
    }
    polisOk(root, ["delete", "--force", c.id]);
    expect(pidAlive(monitor)).toBe(false);
    expect(leftOf(c.id)).toEqual(NOTHING_LEFT);
    rmSync(c.bundle, { recursive: true, force: true });
  });
});

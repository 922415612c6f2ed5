// Give back a container's monitor (the `monitor` resource kind, src/resources/release.ts): let
// it finish recording the exit if the container just died, else stop it; then remove its
// directory (and the log, when it is the default one) and its rows. Idempotent: after a reboot
// the pid is not the monitor any more (start time and boot id differ) and nothing is signalled.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import type { GlobalOptions } from "../container/options.js";
import { bootId, isSameProcess, processStartTime } from "../linux/proc.js";
import { PolisError } from "../errors.js";
import { removeMonitor } from "../state/monitor.js";
import type { Store } from "../state/store.js";
import { recordedCgroup } from "../container/cgroup.js";
import type { ResourceRow } from "../state/types.js";
import type { MonitorResource } from "./spawn.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A polis-monitor process whose --dir is `dir`, with what identifies it. */
function findByDir(dir: string): Partial<MonitorResource> {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    const at = argv.indexOf("--dir");
    if (!argv[0]?.endsWith("polis-monitor") || at < 0 || argv[at + 1] !== dir) continue;
    const pid = Number(name);
    return { pid, startTime: processStartTime(pid) ?? undefined, bootId: bootId() };
  }
  return {};
}

function killLeftovers(store: Store, id: string): void {
  const rec = store.get(id);
  if (!rec) return;
  try {
    if (rec.pid !== null && rec.pidStartTime !== null && isSameProcess(rec.pid, rec.pidStartTime, rec.bootId))
      process.kill(rec.pid, "SIGKILL");
    recordedCgroup(rec).killAll(9);
  } catch {
    // gone meanwhile, or no cgroup: nothing left to kill
  }
}

export function monitorAlive(res: MonitorResource): boolean {
  return (
    res.pid !== undefined &&
    res.startTime !== undefined &&
    res.bootId !== undefined &&
    isSameProcess(res.pid, res.startTime, res.bootId)
  );
}

export async function release(g: GlobalOptions, store: Store, row: ResourceRow): Promise<void> {
  await releaseMonitor(g, store, row);
}

export async function releaseMonitor(_g: GlobalOptions, store: Store, row: ResourceRow): Promise<void> {
  const res = { ...(row.data as MonitorResource) };
  // polis killed between starting the monitor and recording its pid: find it by its directory.
  if (res.pid === undefined) Object.assign(res, findByDir(res.dir));
  // Run from the monitor's own exit hook (run --rm): it exits as soon as we return.
  const fromItsHook = res.pid === process.ppid;
  // Or from the `polis create` the monitor runs, undoing itself after it failed: the monitor is
  // still up, writing into its directory, and the command that started it reads the create's
  // error from there (create.log) before it releases the monitor. Kept: the row stays for it
  // (or for `delete --force` if that command was killed meanwhile).
  if (fromItsHook && store.get(row.containerId)?.phase === "creating")
    throw new PolisError(`the monitor of ${row.containerId} is released by the command that started it`);
  if (!fromItsHook && monitorAlive(res)) {
    // The init is gone by now (delete kills it first): a monitor still up is draining the pipes
    // and recording the exit. Give it a moment, then stop it.
    for (let i = 0; i < 40 && monitorAlive(res); i++) await sleep(50);
    for (const [signal, waits] of [
      ["SIGTERM", 20],
      ["SIGKILL", 40],
    ] as const) {
      if (!monitorAlive(res)) break;
      try {
        process.kill(res.pid!, signal);
      } catch {
        // exited meanwhile
      }
      for (let i = 0; i < waits && monitorAlive(res); i++) await sleep(25);
    }
  }
  // A delete that raced with the monitor's `polis create` (polis killed half-way through run):
  // the create is stopped with the monitor; whatever it made before that goes now.
  if (!fromItsHook) killLeftovers(store, row.containerId);
  if (res.ownsLog) rmSync(res.logPath, { force: true });
  rmSync(res.dir, { recursive: true, force: true });
  removeMonitor(store, row.containerId);
}

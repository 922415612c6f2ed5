// Give back a container's monitor (the `monitor` resource kind, src/resources/release.ts): let
// it finish recording the exit if the container just died, else stop it; then remove its
// directory (and the log, when it is the default one) and its rows. Idempotent: after a reboot
// the pid is not the monitor any more (start time and boot id differ) and nothing is signalled.
import { rmSync } from "node:fs";
import type { GlobalOptions } from "../container/options.js";
import { isSameProcess } from "../linux/proc.js";
import { removeMonitor } from "../state/monitor.js";
import type { Store } from "../state/store.js";
import type { ResourceRow } from "../state/types.js";
import type { MonitorResource } from "./spawn.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function monitorAlive(res: MonitorResource): boolean {
  return res.pid !== undefined && res.startTime !== undefined && res.bootId !== undefined && isSameProcess(res.pid, res.startTime, res.bootId);
}

export async function release(g: GlobalOptions, store: Store, row: ResourceRow): Promise<void> {
  await releaseMonitor(g, store, row);
}

export async function releaseMonitor(_g: GlobalOptions, store: Store, row: ResourceRow): Promise<void> {
  const res = row.data as MonitorResource;
  // Run from the monitor's own exit hook (run --rm): it exits as soon as we return.
  const fromItsHook = res.pid === process.ppid;
  if (!fromItsHook && monitorAlive(res)) {
    // The init is gone by now (delete kills it first): a monitor still up is draining the pipes
    // and recording the exit. Give it a moment, then stop it.
    for (let i = 0; i < 40 && monitorAlive(res); i++) await sleep(50);
    for (const [signal, waits] of [["SIGTERM", 20], ["SIGKILL", 40]] as const) {
      if (!monitorAlive(res)) break;
      try {
        process.kill(res.pid!, signal);
      } catch {
        // exited meanwhile
      }
      for (let i = 0; i < waits && monitorAlive(res); i++) await sleep(25);
    }
  }
  if (res.ownsLog) rmSync(res.logPath, { force: true });
  rmSync(res.dir, { recursive: true, force: true });
  removeMonitor(store, row.containerId);
}

// What follows a monitored container's exit, once its monitor has recorded it (`polis exited`):
//   --health-on-failure restart: the health check marked the container and killed it; it is
//     recreated under a new monitor with the same bundle, log file and health check, and started;
//   run --rm: the container is deleted.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../container/context.js";
import type { GlobalOptions } from "../container/options.js";
import { withContainerLock } from "../container/lock.js";
import { log } from "../log.js";
import type { Store } from "../state/store.js";
import { countEventsSince, getMonitor } from "../state/monitor.js";
import { comparableTime } from "./logfile.js";
import { monitorDir } from "./paths.js";
import { MONITOR_KIND, type MonitorResource } from "./spawn.js";

const MARKER = "restart";

/** run --rm: the exit is recorded (and the event appended); now the container goes. */
async function autoRemove(g: GlobalOptions, id: string): Promise<void> {
  const store = openStore(g);
  try {
    if (!getMonitor(store, id)?.autoRemove) return;
  } finally {
    store.close();
  }
  const { deleteContainer } = await import("../container/delete.js");
  await deleteContainer(g, { id, force: true });
}

export function requestRestart(g: GlobalOptions, id: string): void {
  writeFileSync(join(monitorDir(g.root, id), MARKER), "");
}

export async function afterExit(g: GlobalOptions, id: string): Promise<void> {
  const dir = monitorDir(g.root, id);
  if (!existsSync(join(dir, MARKER))) return autoRemove(g, id);
  // docker's back-off for a restart loop: 100 ms doubling per restart in the last 10 minutes, up to 30 s
  const first = openStore(g);
  let delayMs: number;
  try {
    const recent = countEventsSince(first, id, "restart", comparableTime(new Date(Date.now() - 600_000)));
    delayMs = Math.min(30_000, 100 * 2 ** recent);
  } finally {
    first.close();
  }
  await new Promise((r) => setTimeout(r, delayMs));
  // Delete, create and start as one change of the container: a `delete --force` coming in
  // meanwhile waits for the new container and deletes that (src/container/lock.ts).
  const store = openStore(g);
  try {
    await withContainerLock(store, id, () => restartLocked(g, store, id));
  } finally {
    store.close();
  }
}

async function restartLocked(g: GlobalOptions, store: Store, id: string): Promise<void> {
  const dir = monitorDir(g.root, id);
  // Deleted during the back-off (its rows, its directory and the marker are gone): nothing to restart.
  const rec = store.get(id);
  const m = getMonitor(store, id);
  const row = store.resourcesOf(id).find((r) => r.kind === MONITOR_KIND);
  if (!rec || !m || !row || !existsSync(join(dir, MARKER))) return;
  const plan = { bundle: rec.bundle, m, res: row.data as MonitorResource };
  for (const f of [MARKER, "exit", "init.pid", "create.log"]) rmSync(join(dir, f), { force: true });
  const { deleteContainer } = await import("../container/delete.js");
  // The old monitor's row stays through the delete (its directory and log are the new monitor's
  // too) and is replaced by the new monitor's row: the id is never without a row, so a delete
  // coming in, native or not, always waits for the lock instead of finding nothing.
  await deleteContainer(g, { id, force: true }, { keep: (r) => r.kind === MONITOR_KIND && r.name === MONITOR_KIND });
  const { createUnderMonitor } = await import("./spawn.js");
  const { startContainer } = await import("../container/start.js");
  await createUnderMonitor(
    g,
    { id, bundle: plan.bundle, noPivot: false, noNewKeyring: false, preserveFds: 0 },
    {
      logPath: plan.res.ownsLog ? undefined : plan.m.logPath,
      logMaxSize: plan.m.logMaxSize,
      logMaxFiles: plan.m.logMaxFiles,
      health: plan.m.health,
      autoRemove: plan.m.autoRemove,
      createArgs: plan.m.createArgs,
    },
  );
  await startContainer(g, id);
  store.appendEvent({ type: "container", action: "restart", id, attributes: { reason: "unhealthy" } });
  log.info(`container ${id} restarted after turning unhealthy`);
}

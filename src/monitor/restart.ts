// What follows a monitored container's exit, once its monitor has recorded it (`polis exited`):
//   --health-on-failure restart: the health check marked the container and killed it; it is
//     recreated under a new monitor with the same bundle, log file and health check, and started;
//   run --rm: the container is deleted.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../container/context.js";
import type { GlobalOptions } from "../container/options.js";
import { log } from "../log.js";
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
  const store = openStore(g);
  let plan;
  try {
    const rec = store.get(id);
    const m = getMonitor(store, id);
    const row = store.resourcesOf(id).find((r) => r.kind === MONITOR_KIND);
    if (!rec || !m || !row) return;
    // docker's back-off for a restart loop: 100 ms doubling per restart in the last 10 minutes, up to 30 s
    const recent = countEventsSince(store, id, "restart", comparableTime(new Date(Date.now() - 600_000)));
    plan = { bundle: rec.bundle, m, res: row.data as MonitorResource, delayMs: Math.min(30_000, 100 * 2 ** recent) };
    // The old monitor's row goes first, so that delete leaves its directory and log alone.
    store.removeResource(id, MONITOR_KIND, MONITOR_KIND);
  } finally {
    store.close();
  }
  for (const f of [MARKER, "exit", "init.pid", "create.log"]) rmSync(join(dir, f), { force: true });
  await new Promise((r) => setTimeout(r, plan.delayMs));
  const { deleteContainer } = await import("../container/delete.js");
  await deleteContainer(g, { id, force: true });
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
  const after = openStore(g);
  try {
    after.appendEvent({ type: "container", action: "restart", id, attributes: { reason: "unhealthy" } });
  } finally {
    after.close();
  }
  log.info(`container ${id} restarted after turning unhealthy`);
}

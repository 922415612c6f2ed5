// `polis exited ID`, run by the container's monitor once it has reaped the init: import the exit
// file the monitor wrote (<root>/monitors/<id>/exit) into the state database and append the
// `exit` event (and `oom` when the kernel OOM-killed something in the container's cgroup).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { oomKillCount } from "../cgroups/stats.js";
import { openStore } from "../container/context.js";
import type { GlobalOptions } from "../container/options.js";
import { PolisError } from "../errors.js";
import { getMonitor, recordExit } from "../state/monitor.js";
import type { Store } from "../state/store.js";
import { loadConfig } from "../config/load.js";
import { monitorConfig } from "./config.js";
import { EVENT_RETENTION_MS, pruneOldEvents } from "./events.js";
import { monitorDir } from "./paths.js";

export interface ExitFile {
  exitCode: number;
  signal: number;
  finishedAt: string;
}

/** "exitCode 137\nsignal 9\nfinishedAt 2026-…Z\n" */
export function parseExitFile(text: string): ExitFile | undefined {
  const kv = Object.fromEntries(
    text
      .split("\n")
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]),
  );
  if (kv.exitCode === undefined || kv.finishedAt === undefined) return undefined;
  return { exitCode: Number(kv.exitCode), signal: Number(kv.signal ?? 0), finishedAt: kv.finishedAt };
}

export function readExitFile(root: string, id: string): ExitFile | undefined {
  try {
    return parseExitFile(readFileSync(join(monitorDir(root, id), "exit"), "utf8"));
  } catch {
    return undefined;
  }
}

/** The event history's retention (the config's monitor.eventRetention), applied as exits come in. */
function pruneHistory(g: GlobalOptions): void {
  let retentionMs = EVENT_RETENTION_MS;
  try {
    retentionMs = monitorConfig(loadConfig(g)).eventRetentionMs;
  } catch {
    // a broken config file is `polis monitor`'s error to report, not the exit hook's
  }
  pruneOldEvents(g, retentionMs);
}

/**
 * Records the exit file's content with its events, once (false when there is nothing new: no
 * file, already recorded, or the container was deleted meanwhile).
 */
export function importExit(store: Store, root: string, id: string): boolean {
  const exit = readExitFile(root, id);
  if (!exit) return false;
  const rec = store.get(id);
  // The cgroup outlives the init until delete; a delete racing with us leaves no counter to read.
  let oomKilled = false;
  try {
    oomKilled = rec !== undefined && oomKillCount(rec.cgroupPaths) > 0;
  } catch {
    // cgroup gone
  }
  return store.transaction(() => {
    if (getMonitor(store, id)?.finishedAt) return false;
    if (!recordExit(store, id, { ...exit, oomKilled })) return false;
    if (oomKilled) store.appendEvent({ type: "container", action: "oom", id });
    store.appendEvent({
      type: "container",
      action: "exit",
      id,
      time: exit.finishedAt,
      attributes: { exitCode: exit.exitCode, signal: exit.signal, oomKilled },
    });
    return true;
  });
}

export async function recordExited(g: GlobalOptions, id: string): Promise<void> {
  if (!readExitFile(g.root, id)) throw new PolisError(`container ${id}: no exit recorded by its monitor`);
  const store = openStore(g);
  try {
    importExit(store, g.root, id);
  } finally {
    store.close();
  }
  pruneHistory(g);
  // What happens next: --health-on-failure restart, run --rm.
  const { afterExit } = await import("./restart.js");
  await afterExit(g, id);
}

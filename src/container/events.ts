// `polis events`: the container's cgroup statistics, once (--stats) or every interval, plus an
// "oom" event whenever the kernel OOM-kills something in it; the stream ends when the container stops.
import { PolisError } from "../errors.js";
import { oomKillCount, runcStatsJson } from "../cgroups/stats.js";
import type { CgroupManager } from "../cgroups/types.js";
import type { ContainerEvent, EventsOptions } from "./options.js";
import type { ContainerRecord } from "../state/types.js";
import { recordedCgroup } from "./cgroup.js";
import { initAlive, liveStatus, mustGet, openStore } from "./context.js";
import type { GlobalOptions } from "./options.js";

/**
 * How often the OOM counter and the init are checked between stats events. runc gets an eventfd
 * from the v1 memory cgroup; a counter read is as cheap and works the same on v1 and v2.
 */
const WATCH_MS = 100;

export async function containerEvents(g: GlobalOptions, o: EventsOptions, emit: (e: ContainerEvent) => void): Promise<void> {
  // Read the record once: nothing here needs the store afterwards, and a long-lived reader
  // should not hold it open.
  const store = openStore(g);
  let rec: ContainerRecord;
  let cgroup: CgroupManager;
  try {
    rec = mustGet(store, o.id);
    cgroup = recordedCgroup(rec);
    if (liveStatus(rec, () => cgroup.isFrozen()) === "stopped") throw new PolisError(`container with id ${o.id} is not running`);
  } finally {
    store.close();
  }
  const statsEvent = (): ContainerEvent => ({ type: "stats", id: o.id, data: runcStatsJson(cgroup.stats()) });
  if (o.stats) {
    emit(statsEvent());
    return;
  }
  await stream(rec, cgroup, o, emit, statsEvent);
}

function stream(
  rec: ContainerRecord,
  cgroup: CgroupManager,
  o: EventsOptions,
  emit: (e: ContainerEvent) => void,
  statsEvent: () => ContainerEvent,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let ooms = oomKillCount(cgroup.paths);
    let nextStats = Date.now() + o.intervalMs;
    const watch = Math.min(WATCH_MS, o.intervalMs);
    const timer = setInterval(() => {
      try {
        // OOM first: a container whose init was just OOM-killed must still report it.
        const now = oomKillCount(cgroup.paths);
        if (now > ooms) emit({ type: "oom", id: o.id });
        ooms = Math.max(ooms, now);
        if (!initAlive(rec)) {
          clearInterval(timer);
          resolve();
          return;
        }
        if (Date.now() >= nextStats) {
          nextStats = Math.max(nextStats + o.intervalMs, Date.now());
          emit(statsEvent());
        }
      } catch (e) {
        clearInterval(timer);
        reject(e);
      }
    }, watch);
  });
}

// One look at every container for `polis monitor`: records, live status, monitor rows (health,
// log), image and a fresh sample of each live container's counters.
import { isFrozenAt } from "../cgroups/freezer.js";
import { liveStatus } from "../container/context.js";
import type { Store } from "../state/store.js";
import {
  lastEventTimes,
  latestHealthResults,
  listContainersForScrape,
  listMonitors,
  resourcesByPrefix,
  type HealthResult,
  type MonitorRow,
} from "../state/monitor.js";
import type { ContainerRecord, EngineEvent } from "../state/types.js";
import { sampleContainer, type Sample } from "./sample.js";
import { nameOf } from "./stats.js";

export interface ContainerView {
  rec: ContainerRecord;
  id: string;
  name: string;
  image: string;
  status: string;
  monitor: MonitorRow | undefined;
  /** Only for running/paused containers whose cgroup could be read. */
  sample: Sample | undefined;
  startedAt: string | undefined;
  /** The latest health check, when the container has one. */
  lastHealth: HealthResult | undefined;
}

export interface Snapshot {
  at: number;
  containers: ContainerView[];
  /** Events recorded after the `afterSeq` asked for (none when not asked). */
  events: EngineEvent[];
}

/**
 * `store` stays open: `polis monitor` keeps one connection (opening costs more than the reads).
 * `afterSeq`: also return the events recorded since (the scrape's counters catch up with them).
 */
export function collect(store: Store, afterSeq?: number): Snapshot {
  let views: ContainerView[];
  let events: EngineEvent[] = [];
  {
    const monitors = new Map(listMonitors(store).map((m) => [m.id, m]));
    const images = resourcesByPrefix(store, "image");
    const starts = lastEventTimes(store, "start");
    const health = latestHealthResults(store);
    views = listContainersForScrape(store).map((rec) => {
      const image = images.get(rec.id);
      const data = (image?.data ?? {}) as Record<string, unknown>;
      return {
        rec,
        id: rec.id,
        name: nameOf(rec),
        image: String(data.image ?? data.reference ?? image?.name ?? ""),
        status: liveStatus(rec, () => isFrozenAt(rec.cgroupPaths)),
        monitor: monitors.get(rec.id),
        sample: undefined,
        startedAt: monitors.get(rec.id)?.startedAt ?? starts.get(rec.id),
        lastHealth: health.get(rec.id),
      };
    });
    if (afterSeq !== undefined) events = store.listEvents({ afterSeq });
  }
  for (const v of views) {
    if (v.status !== "running" && v.status !== "paused") continue;
    try {
      v.sample = sampleContainer(v.rec);
    } catch {
      // stopped between the listing and the read
    }
  }
  return { at: Date.now(), containers: views, events };
}

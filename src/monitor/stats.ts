// `polis stats`: sample the chosen containers (all running ones by default) twice per interval
// and hand each round of rows to the caller. The store is opened per round and closed at once:
// a long-running reader must not hold the database.
import { isFrozenAt } from "../cgroups/freezer.js";
import { liveStatus, openStore } from "../container/context.js";
import type { GlobalOptions } from "../container/options.js";
import { PolisError } from "../errors.js";
import type { ContainerRecord } from "../state/types.js";
import { sampleContainer, type Sample } from "./sample.js";
import { statsRow, type StatsRow } from "./usage.js";

export interface StatsOptions {
  ids: string[];
  intervalMs: number;
  /** One round (two samples, `firstGapMs` apart) instead of a stream. */
  noStream: boolean;
  /** Gap between the two samples of --no-stream. */
  firstGapMs?: number;
}

const isLive = (rec: ContainerRecord) => {
  const s = liveStatus(rec, () => isFrozenAt(rec.cgroupPaths));
  return s === "running" || s === "paused";
};

/** The records to sample: the named ones (each must exist and run), else every live one. */
function chosen(g: GlobalOptions, ids: string[], strict: boolean): ContainerRecord[] {
  const store = openStore(g);
  try {
    if (ids.length === 0) return store.list().filter(isLive);
    const out: ContainerRecord[] = [];
    for (const id of ids) {
      const rec = store.get(id);
      if (!rec) throw new PolisError(`container ${id} does not exist`);
      if (!isLive(rec)) {
        if (strict) throw new PolisError(`container ${id} is not running`);
        continue;
      }
      out.push(rec);
    }
    return out;
  } finally {
    store.close();
  }
}

function trySample(rec: ContainerRecord): Sample | undefined {
  try {
    return sampleContainer(rec);
  } catch {
    return undefined; // it stopped (cgroup gone) between listing and reading
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function containerStats(
  g: GlobalOptions,
  o: StatsOptions,
  emit: (rows: StatsRow[]) => void,
  stop?: () => boolean,
): Promise<void> {
  let prev = new Map<string, Sample>();
  const first = chosen(g, o.ids, true);
  for (const rec of first) {
    const s = trySample(rec);
    if (s) prev.set(rec.id, s);
  }
  let recs = first;
  for (;;) {
    await sleep(o.noStream ? (o.firstGapMs ?? Math.min(o.intervalMs, 1000)) : o.intervalMs);
    if (stop?.()) return;
    const next = new Map<string, Sample>();
    const rows: StatsRow[] = [];
    for (const rec of recs) {
      const s = trySample(rec);
      if (!s) continue;
      next.set(rec.id, s);
      rows.push(statsRow(nameOf(rec), prev.get(rec.id), s));
    }
    emit(rows);
    if (o.noStream) return;
    prev = next;
    // New containers join the stream; stopped ones leave it. Named ones that all stopped end it.
    recs = chosen(g, o.ids, false);
    if (o.ids.length > 0 && recs.length === 0) return;
  }
}

/** A container's display name: the one it was given (annotation), else its id. */
export function nameOf(rec: ContainerRecord): string {
  return rec.annotations["io.polis.name"] ?? rec.id;
}

// The engine's event history (`polis events --all`): read from the events table, oldest first,
// and with --follow polled for new rows (by sequence number, so nothing is missed or repeated).
import { openStore } from "../container/context.js";
import type { GlobalOptions } from "../container/options.js";
import { pruneEvents } from "../state/monitor.js";
import type { EngineEvent, EventQuery } from "../state/types.js";
import { comparableTime } from "./logfile.js";

export interface EventsQuery extends Omit<EventQuery, "afterSeq" | "limit"> {
  follow: boolean;
}

const POLL_MS = 250;

export async function engineEvents(
  g: GlobalOptions,
  q: EventsQuery,
  emit: (batch: EngineEvent[]) => void,
  stop?: () => boolean,
): Promise<void> {
  const { follow, ...query } = q;
  let after = 0;
  for (;;) {
    const store = openStore(g);
    let batch: EngineEvent[];
    try {
      batch = store.listEvents({ ...query, afterSeq: after });
    } finally {
      store.close();
    }
    // a batch at a time: one write for all its lines (a write per event made V8 optimise node's fs
    // wrappers with TurboFan, ~3 MiB of peak RSS for a week of events)
    if (batch.length > 0) {
      emit(batch);
      after = batch[batch.length - 1].seq;
    }
    if (!follow || stop?.() || (q.until !== undefined && q.until < comparableTime(new Date()))) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Default retention of the history: a week, as a newcomer would expect to look back that far. */
export const EVENT_RETENTION_MS = 7 * 24 * 3600 * 1000;

/** Drops events older than the retention; returns how many. */
export function pruneOldEvents(g: GlobalOptions, retentionMs = EVENT_RETENTION_MS): number {
  const store = openStore(g);
  try {
    return pruneEvents(store, comparableTime(new Date(Date.now() - retentionMs)));
  } finally {
    store.close();
  }
}

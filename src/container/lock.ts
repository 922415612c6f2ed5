// One multi-step change of a container at a time. `delete` holds the container's lock from its
// first look at the row to the last step, and so does a monitor restarting a container in place
// (src/monitor/restart.ts: delete, then create under a new monitor, then start). Without it a
// `delete --force` that ran between the restart's delete and its create found nothing, said it
// was done, and the restart then made a container nobody would ever delete.
//
// The lock is a row in the state database naming the holder like an init is named (pid, start
// time, boot), so a holder SIGKILLed half-way holds nothing. Re-entrant within one process: the
// restart's own delete runs inside the restart's lock.
import { PolisError } from "../errors.js";
import { bootId, isSameProcess, processStartTime } from "../linux/proc.js";
import { dropContainerLock, type LockHolder, takeContainerLock } from "../state/locks.js";
import type { Store } from "../state/store.js";

/** How long a second changer waits: a restart (delete, create, start) on a loaded host. */
export const LOCK_WAIT_MS = 60_000;

const held = new Map<string, number>();
let me: LockHolder | undefined;

const alive = (h: LockHolder) => isSameProcess(h.pid, h.startTime, h.bootId);

export async function withContainerLock<T>(store: Store, id: string, fn: () => Promise<T>, waitMs = LOCK_WAIT_MS): Promise<T> {
  const depth = held.get(id) ?? 0;
  if (depth === 0) {
    me ??= { pid: process.pid, startTime: processStartTime(process.pid) ?? "", bootId: bootId() };
    const end = Date.now() + waitMs;
    for (;;) {
      const holder = takeContainerLock(store, id, me, alive);
      if (holder === me) break;
      if (Date.now() > end)
        throw new PolisError(`container ${id} is busy: process ${holder.pid} is still changing it (waited ${waitMs / 1000} s)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  held.set(id, depth + 1);
  try {
    return await fn();
  } finally {
    if (depth === 0) {
      held.delete(id);
      dropContainerLock(store, id, me!);
    } else held.set(id, depth);
  }
}

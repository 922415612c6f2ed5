// Per-container locks (table container_locks, made by the "container_locks" migration): which
// process is changing a container in several steps right now. See src/container/lock.ts.
import type { Store } from "./store.js";
import { connectionOf } from "./store.js";

export interface LockHolder {
  pid: number;
  startTime: string;
  bootId: string;
}

/**
 * Takes the lock on `id` for `me` unless a live process (`alive`) other than `me` holds it, in
 * one write transaction (two takers never both win). Returns the holder: `me` when taken.
 */
export function takeContainerLock(store: Store, id: string, me: LockHolder, alive: (h: LockHolder) => boolean): LockHolder {
  return store.transaction(() => {
    const db = connectionOf(store);
    const held = db
      .prepare("SELECT pid, start_time AS startTime, boot_id AS bootId FROM container_locks WHERE container_id = ?")
      .get(id) as LockHolder | undefined;
    if (held && (held.pid !== me.pid || held.startTime !== me.startTime) && alive(held)) return held;
    db.prepare("INSERT OR REPLACE INTO container_locks (container_id, pid, start_time, boot_id) VALUES (?, ?, ?, ?)").run(
      id,
      me.pid,
      me.startTime,
      me.bootId,
    );
    return me;
  });
}

export function dropContainerLock(store: Store, id: string, me: LockHolder): void {
  connectionOf(store)
    .prepare("DELETE FROM container_locks WHERE container_id = ? AND pid = ? AND start_time = ?")
    .run(id, me.pid, me.startTime);
}

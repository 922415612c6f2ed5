// `polis delete`: refuse a live container unless --force; tear everything down; poststop hooks.
import { PolisError } from "../errors.js";
import { recordedCgroup } from "./cgroup.js";
import { cleanupContainer } from "./cleanup.js";
import { liveStatus, openStore } from "./context.js";
import type { DeleteOptions, GlobalOptions } from "./options.js";
import { releaseResources } from "./resources.js";
import { withContainerLock } from "./lock.js";
import type { Store } from "../state/store.js";
import type { ResourceRow } from "../state/types.js";
import { elapsedMs, phase } from "../timing.js";

/**
 * What a room recreating the container in place asks of its delete (src/monitor/restart.ts):
 * resources it keeps, so that the id is never without a row until the new container exists.
 */
export interface DeleteInPlace {
  keep: (row: ResourceRow) => boolean;
}

export async function deleteContainer(g: GlobalOptions, o: DeleteOptions, inPlace?: DeleteInPlace): Promise<void> {
  phase("lifecycle module load");
  const store = openStore(g);
  try {
    // From the first look at the row to the last step: a restart in place (or another delete)
    // never runs beside us.
    await withContainerLock(store, o.id, () => deleteLocked(g, store, o, inPlace));
  } finally {
    store.close();
  }
}

async function deleteLocked(g: GlobalOptions, store: Store, o: DeleteOptions, inPlace?: DeleteInPlace): Promise<void> {
  const rec = store.get(o.id);
  if (!rec) {
    // containerd calls `delete --force` twice: the second must succeed. A polis killed before
    // its container row existed may still have left resources (a generated bundle): free them.
    if (!o.force) throw new PolisError("container does not exist");
    const held = store.resourcesOf(o.id).length;
    await releaseResources(g, store, o.id);
    // A release may have stopped a `polis create` still running for this id (a monitor's): what
    // it made before it was stopped, its row first, goes too.
    const late = held > 0 ? store.get(o.id) : undefined;
    if (late) {
      await cleanupContainer(g, store, late, { runPoststop: false });
      store.appendEvent({ type: "container", action: "delete", id: o.id, attributes: { durationMs: elapsedMs() } });
    }
    return;
  }
  const status = liveStatus(rec, () => recordedCgroup(rec).isFrozen());
  if (!o.force && (status === "running" || status === "paused" || status === "creating")) {
    throw new PolisError(`cannot delete container ${o.id} that is not stopped: ${status}`);
  }
  phase("status");
  try {
    await cleanupContainer(g, store, rec, { runPoststop: true, keep: inPlace?.keep });
  } finally {
    // A step of the cleanup may fail after the row went (it is removed whatever happens): the
    // container is deleted all the same, and the event says so.
    if (!store.get(o.id))
      store.appendEvent({ type: "container", action: "delete", id: o.id, attributes: { durationMs: elapsedMs() } });
  }
  phase("teardown");
}

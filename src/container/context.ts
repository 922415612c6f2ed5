// Shared plumbing for the lifecycle verbs: open the store, find a container, derive its status.
import { existsSync } from "node:fs";
import { PolisError } from "../errors.js";
import { isSameProcess } from "../linux/proc.js";
import type { State, Status } from "../spec/types.js";
import { OCI_VERSION } from "../spec/types.js";
import { Store } from "../state/store.js";
import type { ContainerRecord } from "../state/types.js";
import type { GlobalOptions } from "./options.js";
import { phase } from "../timing.js";

export const FIFO_NAME = "exec.fifo";

export function openStore(g: GlobalOptions): Store {
  const store = Store.open(g.root);
  phase("state open");
  return store;
}

/** The record for `id`, or runc's "container does not exist" error (containerd matches the text). */
export function mustGet(store: Store, id: string): ContainerRecord {
  const rec = store.get(id);
  if (!rec) throw new PolisError("container does not exist");
  return rec;
}

/**
 * Not path.join: `list` asks this of every container, and 100 joins of long paths made V8
 * optimise path.normalize with TurboFan (~3 MiB of RSS for its code and zones). The recorded
 * state directory is already absolute and normalised.
 */
export function fifoPath(rec: Pick<ContainerRecord, "stateDir">): string {
  return `${rec.stateDir}/${FIFO_NAME}`;
}

/** Is the recorded init still the very process we started (not a reused pid, not a past boot)? */
export function initAlive(rec: ContainerRecord): boolean {
  return rec.pid !== null && rec.pidStartTime !== null && isSameProcess(rec.pid, rec.pidStartTime, rec.bootId);
}

/** A `polis create` that is still running (as opposed to one killed half-way). */
export function creatorAlive(rec: ContainerRecord): boolean {
  return isSameProcess(rec.creatorPid, rec.creatorStartTime, rec.bootId);
}

/**
 * The live status, derived from facts rather than trusted from the row (runc does the same):
 * a dead or reused pid is stopped; an init still blocked on its exec fifo is created.
 */
export function liveStatus(rec: ContainerRecord, isFrozen: () => boolean): Status {
  if (rec.phase === "creating") return creatorAlive(rec) ? "creating" : "stopped";
  if (!initAlive(rec)) return "stopped";
  // The fifo goes when the init is released: until then it is created, even while a start runs.
  if (existsSync(fifoPath(rec))) return "created";
  return isFrozen() ? "paused" : "running";
}

export function stateOf(rec: ContainerRecord, status: Status): State {
  const state: State = {
    ociVersion: OCI_VERSION,
    id: rec.id,
    pid: status === "stopped" ? 0 : (rec.pid ?? 0),
    status,
    bundle: rec.bundle,
    rootfs: rec.rootfs,
    created: rec.created,
    owner: rec.owner,
  };
  if (Object.keys(rec.annotations).length > 0) state.annotations = rec.annotations;
  return state;
}

export { rfc3339Nano } from "../time.js";

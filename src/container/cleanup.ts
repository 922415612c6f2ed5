// Tear a container down to nothing: processes, cgroup, resources held by rooms, per-container
// files, state row.
// Used by delete, by a failed create, and by `delete --force` after a create killed half-way.
import { readlinkSync, rmSync } from "node:fs";
import { PolisError } from "../errors.js";
import type { CgroupManager } from "../cgroups/types.js";
import { log } from "../log.js";
import { shimPath } from "../paths.js";
import type { Store } from "../state/store.js";
import type { ContainerRecord, ResourceRow } from "../state/types.js";
import { recordedCgroup } from "./cgroup.js";
import { creatorAlive, initAlive, stateOf } from "./context.js";
import type { GlobalOptions } from "./options.js";
import { releaseResources } from "./resources.js";
import { sharesMountNamespace } from "./shared-mounts.js";

const SIGKILL = 9;

export async function cleanupContainer(
  g: GlobalOptions,
  store: Store,
  rec: ContainerRecord,
  opts: { runPoststop: boolean; keep?: (row: ResourceRow) => boolean },
): Promise<void> {
  // Every step runs even when an earlier one failed, and the first failure is reported at the
  // end, with one exception: a cgroup that cannot be removed keeps the container (runc's destroy
  // stops there too), else nothing would ever remove that cgroup. Otherwise the row goes: a
  // release or a directory that keeps failing must not make the container undeletable. What a
  // failed step leaves is named in the error; resources keep their own rows until released.
  const failures: string[] = [];
  const attempt = async (step: string, fn: () => unknown): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      failures.push(message.includes(step) ? message : `${step}: ${message}`);
    }
  };
  const cgroup = recordedCgroup(rec);
  // A `polis create` still making this container (`delete --force` of one being created: e.g. a
  // monitor's create whose `polis run` was killed) stops first: it could otherwise make the
  // cgroup, or launch the init, after this teardown removed them, and leave them to nobody.
  if (rec.phase === "creating" && rec.creatorPid !== process.pid && creatorAlive(rec)) await stopCreator(rec);
  if (initAlive(rec)) {
    try {
      process.kill(rec.pid!, SIGKILL);
    } catch {
      // exited meanwhile
    }
  }
  try {
    cgroup.thaw();
  } catch {
    // no freezer, or not frozen
  }
  // With a pid namespace of its own, the init's death takes every process of the container with
  // it, and the cgroup may be shared with other containers (runc kills only the init then).
  // Otherwise sweep the cgroup: exec'd processes, or a shim killed mid-create, would outlive it.
  const ownPidNs = rec.pid !== null && (rec.config.linux?.namespaces ?? []).some((n) => n.type === "pid" && !n.path);
  if (!ownPidNs) await attempt("kill the container's processes", () => cgroup.killAll(SIGKILL));
  await waitGone(rec);
  if (sharesMountNamespace(rec.config)) {
    // loaded only here: a container with its own mount namespace takes its mounts with it
    await attempt("detach the container's mounts", async () =>
      (await import("./shared-mounts.js")).detachMountsBelow(rec.rootfs),
    );
  }
  const cgroupGone = removeCgroup(store, rec, cgroup, ownPidNs);
  if (cgroupGone !== true) {
    // Like runc's destroy: a cgroup that cannot be removed stops the delete with the row, state
    // directory and resources kept, so that `delete --force` once more (after whatever holds the
    // cgroup is gone) finishes it. A row removed here would leave the cgroup to nobody.
    for (const more of failures) log.warn(more);
    throw new PolisError(
      `remove the cgroup: ${cgroupGone}; container ${rec.id} is kept until its cgroup can be removed (delete it again)`,
    );
  }
  // What rooms beside the runtime attached (addresses, bundles, monitors), now that no process
  // of the container is left to use it.
  await attempt("release the container's resources", () => releaseResources(g, store, rec.id, opts.keep));
  await attempt(`remove ${rec.stateDir}`, () => rmSync(rec.stateDir, { recursive: true, force: true }));
  await attempt("remove the container's state", () => store.remove(rec.id));
  if (opts.runPoststop && rec.config.hooks?.poststop?.length) {
    // Loaded only here: the hook runner pulls in child_process (~3 ms) that a plain delete never needs.
    const { runHooks } = await import("../hooks/run.js");
    try {
      await runHooks("poststop", rec.config.hooks.poststop, stateOf(rec, "stopped"));
    } catch (err) {
      // The spec: a poststop failure is logged and the delete still succeeds.
      log.warn((err as Error).message);
    }
  }
  if (failures.length) {
    for (const more of failures.slice(1)) log.warn(more);
    throw new PolisError(failures[0]);
  }
}

/** SIGKILLs the recorded creator and waits (briefly) for it to be dead (a zombie counts). */
async function stopCreator(rec: ContainerRecord): Promise<void> {
  try {
    process.kill(rec.creatorPid, SIGKILL);
  } catch {
    return; // exited meanwhile
  }
  for (let i = 0; i < 200 && creatorAlive(rec); i++) await new Promise((r) => setTimeout(r, 5));
}

/** Wait (briefly) until the init is dead; a zombie already counts as dead. */
async function waitGone(rec: ContainerRecord): Promise<void> {
  for (let i = 0; i < 200 && initAlive(rec); i++) await new Promise((r) => setTimeout(r, 5));
}

/**
 * Removes the container's cgroup: true when it is gone (or left on purpose to the other
 * containers sharing it), else why not. With a pid namespace of its own, the init's death took
 * the container's processes, but a polis-shim joining the cgroup for an exec (a health check
 * caught half-way) is outside that namespace: it is the container's all the same and goes too.
 */
function removeCgroup(store: Store, rec: ContainerRecord, cgroup: CgroupManager, ownPidNs: boolean): true | string {
  let why: string;
  try {
    cgroup.destroy(); // waits a moment for exiting processes
    return true;
  } catch (err) {
    why = (err as Error).message;
  }
  const members = cgroup.pids();
  if (ownPidNs && killOurShims(members) > 0) {
    try {
      cgroup.destroy();
      return true;
    } catch (err) {
      why = (err as Error).message;
    }
  }
  const sharing = containersSharing(store, rec);
  if (sharing.length > 0) {
    log.warn(`the container's cgroup is shared with container ${sharing.join(", ")}: not removing it`);
    return true;
  }
  const left = cgroup.pids().length;
  return left > 0 ? `${why} (${left} process(es) still in it)` : why;
}

/** SIGKILLs the processes among `pids` that run polis's own shim; returns how many. */
function killOurShims(pids: number[]): number {
  const shim = shimPath();
  let n = 0;
  for (const pid of pids) {
    let exe = "";
    try {
      exe = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      continue; // gone meanwhile
    }
    if (exe !== shim && exe !== `${shim} (deleted)`) continue;
    try {
      process.kill(pid, SIGKILL);
      n++;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

/** Other containers whose cgroup is (in some hierarchy) this container's. */
function containersSharing(store: Store, rec: ContainerRecord): string[] {
  const mine = new Set(Object.values(rec.cgroupPaths));
  return store
    .list()
    .filter((other) => other.id !== rec.id && Object.values(other.cgroupPaths).some((d) => mine.has(d)))
    .map((other) => other.id);
}

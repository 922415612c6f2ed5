// Tear a container down to nothing: processes, cgroup, resources held by rooms, per-container
// files, state row.
// Used by delete, by a failed create, and by `delete --force` after a create killed half-way.
import { rmSync } from "node:fs";
import { log } from "../log.js";
import type { Store } from "../state/store.js";
import type { ContainerRecord } from "../state/types.js";
import { recordedCgroup } from "./cgroup.js";
import { initAlive, stateOf } from "./context.js";
import type { GlobalOptions } from "./options.js";
import { releaseResources } from "./resources.js";
import { sharesMountNamespace } from "./shared-mounts.js";

const SIGKILL = 9;

export async function cleanupContainer(
  g: GlobalOptions,
  store: Store,
  rec: ContainerRecord,
  opts: { runPoststop: boolean },
): Promise<void> {
  const cgroup = recordedCgroup(rec);
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
  if (!ownPidNs) cgroup.killAll(SIGKILL);
  await waitGone(rec);
  if (sharesMountNamespace(rec.config)) {
    // loaded only here: a container with its own mount namespace takes its mounts with it
    const { detachMountsBelow } = await import("./shared-mounts.js");
    await detachMountsBelow(rec.rootfs);
  }
  try {
    cgroup.destroy(); // waits a moment for exiting processes
  } catch (err) {
    const others = ownPidNs ? cgroup.pids().length : 0;
    if (others === 0) throw err;
    log.warn(`the container's cgroup is shared with ${others} other process(es): not removing it`);
  }
  // What rooms beside the runtime attached (addresses, bundles, monitors), now that no process
  // of the container is left to use it.
  await releaseResources(g, store, rec.id);
  rmSync(rec.stateDir, { recursive: true, force: true });
  store.remove(rec.id);
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
}

/** Wait (briefly) until the init is dead; a zombie already counts as dead. */
async function waitGone(rec: ContainerRecord): Promise<void> {
  for (let i = 0; i < 200 && initAlive(rec); i++) await new Promise((r) => setTimeout(r, 5));
}

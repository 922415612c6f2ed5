// Tear a container down to nothing: processes, cgroup, resources held by rooms, per-container
// files, state row.
// Used by delete, by a failed create, and by `delete --force` after a create killed half-way.
import { rmSync } from "node:fs";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import type { Store } from "../state/store.js";
import type { ContainerRecord, ResourceRow } from "../state/types.js";
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
  opts: { runPoststop: boolean; keep?: (row: ResourceRow) => boolean },
): Promise<void> {
  // Like runc's destroy: every step runs even when an earlier one failed, and the first failure
  // is reported at the end. Above all the row goes: a row that cannot be removed can never be
  // deleted (`delete --force` would fail on the same step forever). What a failed step leaves
  // (a cgroup, a directory) is named in the error; resources keep their own rows until released.
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
  await attempt("remove the cgroup", () => {
    try {
      cgroup.destroy(); // waits a moment for exiting processes
    } catch (err) {
      const others = ownPidNs ? cgroup.pids().length : 0;
      if (others === 0) throw err;
      log.warn(`the container's cgroup is shared with ${others} other process(es): not removing it`);
    }
  });
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

/** Wait (briefly) until the init is dead; a zombie already counts as dead. */
async function waitGone(rec: ContainerRecord): Promise<void> {
  for (let i = 0; i < 200 && initAlive(rec); i++) await new Promise((r) => setTimeout(r, 5));
}

// `polis create`: validate the bundle, claim the id, make the cgroup, run the init plan through
// the shim up to the exec fifo, and record everything. Any failure undoes every step.
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { PolisError, fieldError } from "../errors.js";
import { debugEnabled, log } from "../log.js";
import { bootId, processStartTime } from "../linux/proc.js";
import { loadSpec } from "../spec/load.js";
import { checkLsm } from "../spec/semantic.js";
import { validateId } from "../spec/id.js";
import type { Spec } from "../spec/types.js";
import type { ContainerRecord } from "../state/types.js";
import { rfc3339Nano, openStore } from "./context.js";
import { cleanupContainer } from "./cleanup.js";
import { launchInit, planInit, type InitLaunch } from "./launch.js";
import { checkTerminal } from "./plan-init.js";
import type { CreateOptions, GlobalOptions } from "./options.js";
import { effectiveResources, newCgroupManager } from "./cgroup.js";
import { writePidFile } from "./pidfile.js";
import { ownerName, statePathFor } from "./records.js";
import { rootfsOf } from "./rootfs.js";
import { sessionKeyringName } from "./plan-init.js";
import { elapsedMs, phase } from "../timing.js";
import { preexistingFrozen } from "../cgroups/freezer.js";
import { hostLayout, ownProcsFiles } from "../cgroups/index.js";
import { ShimSession } from "../linux/shim.js";

/**
 * What a caller beside the runtime (src/engine/) adds to a create. `afterInit` runs once the init
 * exists with its namespaces and before it is recorded as created (a network attaches there); if
 * it throws, the create fails and is undone like any other failure, resources included.
 */
export interface CreateExtras {
  /** Changes to the loaded config.json before anything is made (a network's netns and mounts). */
  editSpec?: (spec: Spec) => void;
  afterInit?: (pid: number) => Promise<void>;
}

/** Create a container and leave its init blocked on the exec fifo. Returns the live launch for `run`. */
export async function createContainer(
  g: GlobalOptions,
  o: CreateOptions,
  mode: "detach" | "wait" = "detach",
  extras: CreateExtras = {},
): Promise<InitLaunch> {
  phase("lifecycle module load");
  validateId(o.id);
  const bundle = resolve(o.bundle);
  const spec: Spec = loadConfig(bundle);
  extras.editSpec?.(spec);
  checkLsm(spec);
  const rootfs = rootfsOf(bundle, spec);
  checkTerminal(spec, o.consoleSocket, mode);
  const cgroup = newCgroupManager(g, spec, o.id);
  if (debugEnabled()) {
    const { configSummary } = await import("../spec/summary.js");
    log.debug("config.json validated", { bundle, rootfs, ...configSummary(spec) });
    log.debug("cgroup paths", cgroup.paths);
  }
  // runc's words: the init would join the frozen cgroup and create would wait for it forever.
  if (preexistingFrozen(cgroup.paths)) throw fieldError("linux.cgroupsPath", "container's cgroup unexpectedly frozen");
  phase("validation");

  // The shim starts now, while the row, the cgroups and the plan are made (see spawnEarly).
  const shim = spawnShimEarly(o);
  try {
    return await recordAndLaunch(g, o, mode, extras, { bundle, rootfs, spec, cgroup, shim });
  } catch (err) {
    if (shim && !shim.planSent) await shim.dismiss();
    throw err;
  }
}

/** A shim for this create, before the plan exists; none when preserve-fds is bad (start reports it). */
function spawnShimEarly(o: CreateOptions): ShimSession | undefined {
  const preserve = o.preserveFds ?? 0;
  if (!Number.isInteger(preserve) || preserve < 0) return undefined;
  let warm: string | undefined;
  try {
    warm = ownProcsFiles(hostLayout())[0];
  } catch {
    // no cgroup layout to read: the shim only starts early
  }
  return ShimSession.spawnEarly({ preserveFds: o.preserveFds }, warm);
}

/** The validated create: claim the id, make the cgroup, launch the init, record it (or undo it all). */
async function recordAndLaunch(
  g: GlobalOptions,
  o: CreateOptions,
  mode: "detach" | "wait",
  extras: CreateExtras,
  {
    bundle,
    rootfs,
    spec,
    cgroup,
    shim,
  }: { bundle: string; rootfs: string; spec: Spec; cgroup: ReturnType<typeof newCgroupManager>; shim?: ShimSession },
): Promise<InitLaunch> {
  const store = openStore(g);
  const boot = bootId();
  const rec: ContainerRecord = {
    id: o.id,
    bundle,
    rootfs,
    phase: "creating",
    pid: null,
    pidStartTime: null,
    bootId: boot,
    creatorPid: process.pid,
    creatorStartTime: processStartTime(process.pid) ?? "",
    created: rfc3339Nano(),
    owner: ownerName(),
    annotations: spec.annotations ?? {},
    config: spec,
    cgroupPaths: cgroup.paths,
    stateDir: statePathFor(g.root, o.id),
    sessionKeyring: o.noNewKeyring ? null : sessionKeyringName(o.id),
  };
  // The primary key makes the id claim atomic: of two concurrent creates, exactly one gets here.
  store.insert(rec);
  phase("state open and insert");

  let launch: InitLaunch | undefined;
  try {
    mkdirSync(rec.stateDir, { recursive: true, mode: 0o700 });
    // The plan before the cgroups: the early shim's first cgroup move holds the kernel's cgroup
    // lock for ~10 ms (ShimSession.spawnEarly), making a cgroup waits for that lock, the plan not.
    const plan = await planInit({ g, o, spec, rec, cgroup, mode });
    cgroup.create();
    // runc warns too: a cgroup shared with other processes is allowed, but their limits are shared.
    const sharing = cgroup.pids().length;
    if (sharing > 0) log.warn(`the container's cgroup is not empty: ${sharing} process(es) found`);
    const resources = effectiveResources(spec);
    if (resources) cgroup.apply(resources);
    phase("cgroup setup");
    launch = await launchInit({ g, o, spec, rec, store, cgroup, mode, shim, plan });
    if (extras.afterInit) await extras.afterInit(launch.pid);
    if (o.pidFile) writePidFile(o.pidFile, launch.pid);
    store.update(o.id, { phase: "created" });
    store.appendEvent({ type: "container", action: "create", id: o.id, attributes: { bundle, durationMs: elapsedMs() } });
    phase("record created");
    // A detached init lives on its own; `run` keeps the session to learn the exit status.
    if (mode === "detach") {
      await launch.session.reaped();
      launch.session.close();
    }
    return launch;
  } catch (err) {
    launch?.abandon();
    const current = store.get(o.id);
    try {
      await cleanupContainer(g, store, current ?? rec, { runPoststop: false });
    } catch (cleanupErr) {
      // The create's own error is the one to report; `delete --force` can finish the cleanup.
      log.warn(`cleaning up after the failed create: ${(cleanupErr as Error).message}`);
    }
    // A `delete --force` that ran meanwhile explains the failure better than how the shim ended.
    if (!current) throw new PolisError(`container ${o.id} was deleted while it was being created`);
    throw err instanceof PolisError ? err : new PolisError(String((err as Error)?.message ?? err));
  } finally {
    store.close();
  }
}

/**
 * config.json, validated. A config that breaks a rule is reported with runc's words ("invalid
 * configuration", which scripts match) before the field path and the problem.
 */
function loadConfig(bundle: string): Spec {
  try {
    return loadSpec(bundle);
  } catch (err) {
    if (err instanceof PolisError && err.detail.field) throw new PolisError(`invalid configuration: ${err.message}`, err.detail);
    throw err;
  }
}

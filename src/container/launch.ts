// Drive the shim through an init plan: record the pid the moment it is known, run the create-time
// hooks at the pause before pivot_root, and return once the init waits on its exec fifo.
import { existsSync } from "node:fs";
import type { CgroupManager } from "../cgroups/types.js";
import { runHooks } from "../hooks/run.js";
import { mountPointOf } from "../linux/mountinfo.js";
import { phase } from "../timing.js";
import { processStartTime } from "../linux/proc.js";
import { ShimSession } from "../linux/shim.js";
import { OpCode, type Plan } from "../linux/plan.js";
import type { Spec } from "../spec/types.js";
import type { Store } from "../state/store.js";
import type { ContainerRecord } from "../state/types.js";
import { fifoPath, stateOf } from "./context.js";
import { hookSpawnerInContainer } from "./enter.js";
import type { CreateOptions, GlobalOptions } from "./options.js";
import { hostLayout, ownProcsFiles } from "../cgroups/index.js";
import { buildInitPlan } from "./plan-init.js";
import { needsHome, readHostFile, withHome } from "../linux/in-root.js";
import { cleanDestination, isBindMount } from "../linux/mounts.js";
import { resolve } from "node:path";

export interface InitLaunch {
  pid: number;
  session: ShimSession;
  /** Kill the half-made init (on a failure after the pid is known). */
  abandon(): void;
}

export interface LaunchInput {
  g: GlobalOptions;
  o: CreateOptions;
  spec: Spec;
  rec: ContainerRecord;
  store: Store;
  cgroup: CgroupManager;
  mode: "detach" | "wait";
  /** a shim spawned early (ShimSession.spawnEarly), waiting for this plan; else one is started */
  shim?: ShimSession;
}

/** The init's plan: pure work on config.json and host facts; it needs no cgroup directory yet. */
export async function planInit({ o, spec, rec, cgroup, mode }: Omit<LaunchInput, "store" | "shim">): Promise<Plan> {
  const fifo = fifoPath(rec);
  const plan = buildInitPlan({
    spec: withInitHome(spec, rec.rootfs, rec.bundle),
    rootfs: rec.rootfs,
    fifoPath: fifo,
    consoleSocket: o.consoleSocket,
    noPivot: o.noPivot,
    cgroupProcs: cgroup.procsFiles(),
    cgroupPaths: cgroup.paths,
    mode,
    parentCgroupProcs: mode === "wait" ? ownProcsFiles(hostLayout()) : undefined,
    hostHasKcore: existsSync("/proc/kcore"),
    bundle: rec.bundle,
    rootfsParentMount: spec.linux?.rootfsPropagation?.includes("shared") ? mountPointOf(rec.rootfs) : undefined,
    // libseccomp is loaded only for a container that has a filter
    seccomp: spec.linux?.seccomp
      ? (await import("../seccomp/notify.js")).prepareSeccomp(spec.linux.seccomp, stateOf(rec, "creating"))
      : undefined,
    sessionKeyring: rec.sessionKeyring ?? undefined,
  });
  // The shim makes the exec fifo as its first step (mode 0622 whatever the umask: the init may
  // have dropped to any uid by the time it opens it); loading koffi for mkfifo(3) cost ~14 ms.
  plan.prepend(OpCode.MKFIFO, "process", `make the exec fifo ${fifo}`, fifo, 0o622);
  phase("plan");
  return plan;
}

export async function launchInit({ o, spec, rec, store, shim, plan }: LaunchInput & { plan: Plan }): Promise<InitLaunch> {
  let session: ShimSession;
  if (shim) {
    session = shim;
    session.send(plan);
  } else {
    session = ShimSession.start(plan, { preserveFds: o.preserveFds });
  }
  let pid = 0;
  const abandon = () => {
    session.abort();
    if (pid > 0) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  try {
    for (;;) {
      const msg = await session.next();
      if (msg.type === "pid") {
        phase("shim spawn and clone");
        pid = msg.value;
        store.update(rec.id, { pid, pidStartTime: processStartTime(pid) });
      } else if (msg.type === "pause") {
        phase("namespaces and mounts");
        await runCreateHooks(spec, { ...rec, pid, pidStartTime: null });
        phase("create hooks");
        session.resume();
      } else if (msg.type === "ready") {
        phase("pivot and process setup");
        return { pid, session, abandon };
      } else {
        throw new Error(`unexpected message from the shim: ${msg.type}`);
      }
    }
  } catch (err) {
    abandon();
    throw err;
  }
}

/**
 * The process runc's init would exec: with HOME from the rootfs's /etc/passwd when process.env
 * has none. Only the plan gets it; the recorded config stays as written (exec starts from it).
 */
function withInitHome(spec: Spec, rootfs: string, bundle: string): Spec {
  const proc = spec.process;
  if (!proc || !needsHome(proc.env)) return spec;
  // runc reads the file once the mounts are made: a file bound onto /etc/passwd (the last one
  // wins) is the one the container sees.
  const bound = (spec.mounts ?? []).filter((m) => isBindMount(m) && cleanDestination(m.destination) === "/etc/passwd").pop();
  const passwd = bound?.source ? () => readHostFile(resolve(bundle, bound.source!)) : undefined;
  return { ...spec, process: { ...proc, env: withHome(proc.env ?? [], proc.user?.uid ?? 0, rootfs, passwd) } };
}

/** prestart and createRuntime run in the runtime's namespaces; createContainer inside the container's. */
async function runCreateHooks(spec: Spec, rec: ContainerRecord): Promise<void> {
  const hooks = spec.hooks;
  if (!hooks) return;
  const state = stateOf(rec, "creating");
  // runc runs these from the bundle directory (it chdirs there to read config.json).
  await runHooks("prestart", hooks.prestart, state, { cwd: rec.bundle });
  await runHooks("createRuntime", hooks.createRuntime, state, { cwd: rec.bundle });
  if (hooks.createContainer?.length) {
    // In the container's mount namespace the host's tree is still "/" (before pivot_root): a hook
    // writing to ./lib must land in the rootfs, as with runc, which chdirs there first.
    const spawn = hookSpawnerInContainer(rec.pid!, spec, rec.cgroupPaths, { cwd: rec.rootfs });
    await runHooks("createContainer", hooks.createContainer, state, { spawn });
  }
}

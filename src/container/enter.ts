// Run a program inside a container's namespaces through the shim (hooks that the spec says run
// "in the container namespace"). The shim stays in the foreground and exits with the program's status.
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ShimSession } from "../linux/shim.js";
import type { SeccompLoad } from "../seccomp/notify.js";
import type { Hook, NamespaceType, Process, Spec } from "../spec/types.js";
import { sharesMountNamespace } from "./shared-mounts.js";
import { buildJoinPlan } from "./plan-join.js";
import { hostLayout, ownProcsFiles } from "../cgroups/index.js";

/** The container's namespaces a hook joins: all it has, except user unless it takes on the
 *  container's process identity (otherwise hooks keep the runtime's). */
export function hookNamespaces(spec: Spec, asProcess = false): NamespaceType[] {
  return (spec.linux?.namespaces ?? []).map((n) => n.type).filter((t) => asProcess || t !== "user");
}

export interface HookContext {
  /** run as the container's process does: its user, capabilities, rlimits, no_new_privs, cwd
   *  (runc runs startContainer hooks from its init, right before the exec) */
  process?: Process;
  /** …and under its seccomp filter */
  seccomp?: SeccompLoad;
  /** where the hook starts (createContainer: the rootfs, as runc's init chdirs there first) */
  cwd?: string;
}

/**
 * A spawner for hooks in the container's namespaces (and cgroup, so that `delete` reaches
 * whatever they leave running). Killing the returned child (a hook timeout) closes the shim's
 * sync socket: the shim then SIGKILLs the hook, which killing the shim alone would orphan.
 */
export function hookSpawnerInContainer(
  pid: number,
  spec: Spec,
  cgroupPaths: Record<string, string> = {},
  ctx: HookContext = {},
): (hook: Hook) => ChildProcess {
  const cgroupProcs = [...new Set(Object.values(cgroupPaths))].map((dir) => join(dir, "cgroup.procs"));
  return (hook: Hook) => {
    const argv = hook.args?.length ? hook.args : [hook.path];
    const plan = buildJoinPlan({
      pid,
      namespaces: hookNamespaces(spec, ctx.process !== undefined),
      cgroupProcs,
      mode: "wait",
      parentCgroupProcs: ownProcsFiles(hostLayout()),
      path: hook.path,
      argv, // args[0] is argv[0], as the spec says; path is what runs
      // runc runs these hooks from its init, whose environment is the container process's by then.
      env: hook.env ?? spec.process?.env ?? [],
      cwd: ctx.cwd === undefined ? undefined : { path: ctx.cwd, field: "root.path" },
      process: ctx.process && { ...ctx.process, args: argv, terminal: false },
      seccomp: ctx.seccomp,
      chroot: sharesMountNamespace(spec) ? `/proc/${pid}/root` : undefined,
    });
    const session = ShimSession.start(plan, { stdio: ["pipe", "pipe", "pipe"] });
    // The shim reports messages we do not need here; its exit status is the hook's.
    session.drain();
    const child = session.child;
    const killShim = child.kill.bind(child);
    child.kill = () => {
      session.close();
      setTimeout(() => killShim("SIGKILL"), 1000).unref();
      return true;
    };
    return child;
  };
}

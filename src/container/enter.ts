// Run a program inside a container's namespaces through the shim (hooks that the spec says run
// "in the container namespace"). The shim stays in the foreground and exits with the program's status.
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ShimSession } from "../linux/shim.js";
import type { Hook, NamespaceType, Spec } from "../spec/types.js";
import { buildJoinPlan } from "./plan-join.js";
import { hostLayout, ownProcsFiles } from "../cgroups/index.js";

/** The container's namespaces a hook joins: all it has, except user (hooks keep the runtime's identity). */
export function hookNamespaces(spec: Spec): NamespaceType[] {
  return (spec.linux?.namespaces ?? []).map((n) => n.type).filter((t) => t !== "user");
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
  opts: { cwd?: string } = {},
): (hook: Hook) => ChildProcess {
  const cgroupProcs = [...new Set(Object.values(cgroupPaths))].map((dir) => join(dir, "cgroup.procs"));
  return (hook: Hook) => {
    const argv = hook.args?.length ? hook.args : [hook.path];
    const plan = buildJoinPlan({
      pid,
      namespaces: hookNamespaces(spec),
      cgroupProcs,
      mode: "wait",
      parentCgroupProcs: ownProcsFiles(hostLayout()),
      path: hook.path,
      argv, // args[0] is argv[0], as the spec says; path is what runs
      // runc runs these hooks from its init, whose environment is the container process's by then.
      env: hook.env ?? spec.process?.env ?? [],
      cwd: opts.cwd === undefined ? undefined : { path: opts.cwd, field: "root.path" },
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

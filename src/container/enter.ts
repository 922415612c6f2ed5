// Run a program inside a container's namespaces through the shim (hooks that the spec says run
// "in the container namespace"). The shim stays in the foreground and exits with the program's status.
import type { ChildProcess } from "node:child_process";
import { ShimSession } from "../linux/shim.js";
import type { Hook, NamespaceType, Spec } from "../spec/types.js";
import { buildJoinPlan } from "./plan-join.js";

/** The container's namespaces a hook joins: all it has, except user (hooks keep the runtime's identity). */
export function hookNamespaces(spec: Spec): NamespaceType[] {
  return (spec.linux?.namespaces ?? []).map((n) => n.type).filter((t) => t !== "user");
}

export function hookSpawnerInContainer(pid: number, spec: Spec): (hook: Hook) => ChildProcess {
  return (hook: Hook) => {
    const argv = hook.args?.length ? hook.args : [hook.path];
    const plan = buildJoinPlan({
      pid,
      namespaces: hookNamespaces(spec),
      cgroupProcs: [],
      mode: "wait",
      argv: [hook.path, ...argv.slice(1)],
      env: hook.env ?? [],
    });
    const session = ShimSession.start(plan, { stdio: ["pipe", "pipe", "pipe"] });
    // The shim reports messages we do not need here; its exit status is the hook's.
    session.drain?.();
    return session.child;
  };
}

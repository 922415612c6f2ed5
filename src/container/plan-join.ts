// The shim's plan for a process that joins a running container: `polis exec`, and the hooks the
// spec runs inside the container (createContainer, startContainer). Pure: the caller decides which
// namespaces differ from ours (namespacesToJoin in src/linux/namespaces.ts).
import { fieldError } from "../errors.js";
import { JOIN_ORDER } from "../linux/namespaces.js";
import { OpCode, Plan } from "../linux/plan.js";
import { NAMESPACE_PROC_NAMES } from "../spec/names.js";
import type { NamespaceType, Process } from "../spec/types.js";
import type { SeccompLoad } from "../seccomp/notify.js";
import {
  addParentCgroups,
  addCgroupJoins,
  addConsole,
  addConsoleSocket,
  addExec,
  addFindExec,
  addProcessOps,
  addSeccomp,
  addSeccompListener,
} from "./plan-init.js";

export interface JoinPlanInput {
  /** the container's init, whose /proc/<pid>/ns/* we join */
  pid: number;
  /** which of its namespaces to join */
  namespaces: NamespaceType[];
  cgroupProcs: string[];
  /** the program to run when it is not argv[0] (a hook's `path`; its argv[0] is `args[0]`) */
  path?: string;
  /** wait mode: the cgroup.procs files the waiting shim moves back to once the process is born */
  parentCgroupProcs?: string[];
  /** exec's process spec (user, caps, rlimits, cwd, noNewPrivileges, terminal); none for hooks */
  process?: Process;
  consoleSocket?: string;
  mode: "detach" | "wait";
  argv: string[];
  env: string[];
  /** where the process starts (a createContainer hook: the rootfs, as runc's); exec's is process.cwd */
  cwd?: { path: string; field: string };
  /** the container's linux.seccomp, compiled with this process's state (prepareSeccomp) */
  seccomp?: SeccompLoad;
  /** the container's session keyring (sessionKeyringName(id)), joined like runc's setns init
   * does; none when the container was created with --no-new-keyring */
  sessionKeyring?: string;
  /** a container without a mount namespace (it shares ours): its root, `/proc/<init>/root`, to
   *  chroot into, since no namespace to join holds it */
  chroot?: string;
}

export function buildJoinPlan(input: JoinPlanInput): Plan {
  if (!input.argv.length) throw fieldError("process.args", "must not be empty");
  const proc = input.process;
  // A terminal goes to --console-socket, or, in the foreground without one, to the shim, which
  // keeps the pty master and proxies it to our stdio (CONSOLE_PAIR), as for `polis run`.
  const terminal = Boolean(proc?.terminal && (input.consoleSocket || input.mode === "wait"));
  const plan = new Plan();
  addParentCgroups(plan, input);
  addCgroupJoins(plan, input.cgroupProcs);
  if (terminal && input.consoleSocket) addConsoleSocket(plan, input.consoleSocket);
  else if (terminal) plan.add(OpCode.CONSOLE_PAIR, "process.terminal", "make the terminal's socketpair");
  // Before the joins: the agent's socket is a path in the runtime's mount namespace.
  if (input.seccomp) addSeccompListener(plan, input.seccomp);
  // Same order as the init's joins (user first, mount last: see JOIN_ORDER).
  for (const type of JOIN_ORDER) {
    if (!input.namespaces.includes(type)) continue;
    const path = `/proc/${input.pid}/ns/${NAMESPACE_PROC_NAMES[type]}`;
    plan.add(OpCode.SETNS, "linux.namespaces", `join the container's ${type} namespace`, type, path);
  }
  // A fork is needed even with no new namespace: setns(pid) only applies to children.
  plan.add(OpCode.CLONE, "process", "create the process", 0, "", "", "", input.mode);
  plan.add(OpCode.SETSID, "process", "start a new session");
  if (input.sessionKeyring) {
    plan.add(OpCode.NEW_KEYRING, "process", `join the session keyring ${input.sessionKeyring}`, input.sessionKeyring);
  }
  // a host path: before any chroot
  if (input.cwd) plan.add(OpCode.CHDIR, input.cwd.field, `chdir to ${input.cwd.path}`, input.cwd.path);
  // before the console: /dev/ptmx must be the container's
  if (input.chroot)
    plan.add(
      OpCode.CHROOT,
      "linux.namespaces",
      `chroot to the container's root ${input.chroot} (no mount namespace)`,
      input.chroot,
    );
  if (terminal) addConsole(plan, proc, "allocate the process's terminal");
  if (proc) addProcessOps(plan, proc, undefined, input.seccomp);
  addFindExec(plan, input.argv, input.env, input.path, input.path ? "path" : undefined);
  // addProcessOps loaded it already unless no_new_privs (then: as late as possible, like runc);
  // without a process spec nothing is dropped, so late is possible too.
  if (input.seccomp && (!proc || proc.noNewPrivileges)) addSeccomp(plan, input.seccomp);
  addExec(plan, input.argv, input.env);
  return plan;
}

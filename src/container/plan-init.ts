// config.json -> the shim's plan for a container's init process (`polis create` / `run`).
// Pure: every decision about order, flags and paths is made here and unit-tested; the shim only
// executes (native/PROTOCOL.md). The order follows runc 1.1 (nsexec + prepareRootfs +
// standard_init_linux), noted step by step below.
import { fieldError } from "../errors.js";
import { capBits, hexMask } from "../linux/capabilities.js";
import { planDevices } from "../linux/devices.js";
import {
  cleanDestination,
  describeFlags,
  hostPathKind,
  isBindMount,
  planMount,
  planOpenedSources,
  propagationName,
  rootfsPropagationFlags,
  type DeferredRemount,
  type PathKind,
} from "../linux/mounts.js";
import { cloneFlags, idMapString, namespaceSetup, timeOffsetsString, type NamespaceSetup } from "../linux/namespaces.js";
import { OpCode, Plan } from "../linux/plan.js";
import { ioprioArgs, personalityValue, schedArgs } from "../linux/process-attrs.js";
import { rlimitNumber, rlimitValue } from "../linux/rlimits.js";
import type { SeccompLoad } from "../seccomp/notify.js";
import { DEFAULT_PATH } from "../paths.js";
import { MS } from "../spec/names.js";
import { checkTerminal as checkTerminalRules } from "./terminal.js";
import type { NamespaceType, Process, Spec } from "../spec/types.js";

export interface InitPlanInput {
  spec: Spec;
  /** absolute host path of the rootfs */
  rootfs: string;
  fifoPath: string;
  consoleSocket?: string;
  noPivot: boolean;
  /** cgroup.procs files to join */
  cgroupProcs: string[];
  /** controller (or "unified") -> the container's cgroup directory */
  cgroupPaths: Record<string, string>;
  mode: "detach" | "wait";
  hostHasKcore?: boolean;
  /** bundle directory: relative bind-mount sources are relative to it (runc) */
  bundle?: string;
  /** what a bind source is on the host (default: stat it); injectable so tests stay pure */
  sourceKind?: (hostPath: string) => PathKind;
  /** wait mode: the cgroup.procs files the waiting shim moves back to once the init is born */
  parentCgroupProcs?: string[];
  /** the mount point holding the rootfs; needed for a shared rootfsPropagation */
  rootfsParentMount?: string;
  /** linux.seccomp, compiled (prepareSeccomp in src/seccomp/notify.ts); none = no filter */
  seccomp?: SeccompLoad;
  /** the session keyring to create and join (sessionKeyringName); none = keep the caller's
   * (--no-new-keyring) */
  sessionKeyring?: string;
}

/** runc's name for a container's session keyring. */
export function sessionKeyringName(containerId: string): string {
  return `_ses.${containerId}`;
}

/** runc's terminal rules for create/run (src/container/terminal.ts). */
export function checkTerminal(spec: Spec, consoleSocket: string | undefined, mode: "detach" | "wait"): void {
  checkTerminalRules(spec.process?.terminal === true, consoleSocket, mode === "detach", "create");
}

/** Where a shim that stays in the foreground goes back to once the process is born (first op). */
export function addParentCgroups(plan: Plan, input: { mode: "detach" | "wait"; parentCgroupProcs?: string[] }): void {
  if (input.mode !== "wait" || !input.parentCgroupProcs?.length) return;
  plan.add(
    OpCode.PARENT_CGROUPS,
    "linux.cgroupsPath",
    "open polis's own cgroups to return to",
    input.parentCgroupProcs.join("\n"),
  );
}

export function buildInitPlan(input: InitPlanInput): Plan {
  const c = checkInput(input);
  const plan = new Plan();
  addBeforeClone(plan, input, c);
  addClone(plan, input, c);
  const deferred = addRootfs(plan, input, c);
  // prestart/createRuntime/createContainer run while the old root is still reachable.
  plan.add(OpCode.PAUSE, "hooks", "run the prestart, createRuntime and createContainer hooks", "hooks");
  addFinishRootfs(plan, input, c, deferred);
  const proc = c.proc;
  const personality = input.spec.linux?.personality ? personalityValue(input.spec.linux.personality) : undefined;
  addProcessOps(plan, proc, personality, input.seccomp);
  addFindExec(plan, proc.args!, proc.env ?? []);
  plan.add(OpCode.READY, "process", "report the container created");
  plan.add(OpCode.FIFO_WAIT, "process", "wait for polis start on the exec fifo");
  // With no_new_privs the filter needs no privilege: load it as late as possible (runc), so the
  // profile need not allow what the runtime itself does before exec.
  if (input.seccomp && proc.noNewPrivileges) addSeccomp(plan, input.seccomp);
  addExec(plan, proc.args!, proc.env ?? []);
  return plan;
}

/** What the phases share, derived once from the config. */
interface Checked {
  proc: Process;
  ns: NamespaceSetup;
  rootProp: number | undefined;
  newUser: boolean;
  /** a console is set up: process.terminal with a --console-socket, or a foreground run (the
   *  shim receives the pty master itself and proxies it: CONSOLE_PAIR) */
  terminal: boolean;
  /** a mount namespace is joined by path (host paths must be opened before that) */
  joinsMount: boolean;
  /** no mount namespace listed: the runtime's is shared (mounts land there; chroot, no pivot) */
  sharedMounts: boolean;
  /** mounts[i] -> its OPEN_TREE copy (a container in a user namespace) */
  openedSources?: Map<number, number>;
}

/** Rules spanning several fields that only the plan can check (runc's validator has them too). */
function checkInput(input: InitPlanInput): Checked {
  const { spec } = input;
  const proc = spec.process;
  if (!proc) throw fieldError("process", "is required to create a container");
  if (!proc.args?.length) throw fieldError("process.args", "must not be empty");
  const ns = namespaceSetup(spec.linux?.namespaces);
  const sharedMounts = !ns.index.has("mount");
  if (sharedMounts) checkSharedMounts(spec);
  // Like runc, the names may be set in whatever UTS namespace the container has (new or joined).
  if (spec.hostname && !ns.index.has("uts")) {
    throw fieldError("hostname", "unable to set hostname without a private UTS namespace");
  }
  if (spec.domainname && !ns.index.has("uts")) {
    throw fieldError("domainname", "unable to set domainname without a private UTS namespace");
  }
  const rootProp = rootfsPropagationFlags(spec.linux?.rootfsPropagation);
  if (input.noPivot && rootProp !== undefined && rootProp & MS.PRIVATE) {
    throw fieldError("linux.rootfsPropagation", `"${spec.linux?.rootfsPropagation}" is not safe without pivot_root (--no-pivot)`);
  }
  if (!ns.create.has("time") && Object.keys(spec.linux?.timeOffsets ?? {}).length) {
    throw fieldError("linux.timeOffsets", "needs a new time namespace");
  }
  return {
    proc,
    ns,
    rootProp,
    newUser: ns.create.has("user"),
    terminal: Boolean(proc.terminal && (input.consoleSocket || input.mode === "wait")),
    joinsMount: ns.join.some((j) => j.type === "mount"),
    sharedMounts,
  };
}

/**
 * No mount namespace listed: as the spec says and runc does, the container inherits the runtime's.
 * Its mounts are made there, under the rootfs, and it is chroot'ed (runc's chroot()). What would
 * change the runtime's own mounts is refused: masks and read-only paths with runc's words, and,
 * unlike runc (which then remounts the host's "/" or changes its propagation), root.readonly and
 * rootfsPropagation.
 */
function checkSharedMounts(spec: Spec): void {
  const linux = spec.linux;
  if (linux?.maskedPaths?.length)
    throw fieldError("linux.maskedPaths", "unable to restrict sys entries without a private MNT namespace");
  if (linux?.readonlyPaths?.length)
    throw fieldError("linux.readonlyPaths", "unable to restrict sys entries without a private MNT namespace");
  if (spec.root?.readonly)
    throw fieldError("root.readonly", "a read-only rootfs needs a private mount namespace (it would remount the host's mount)");
  if (linux?.rootfsPropagation)
    throw fieldError("linux.rootfsPropagation", "needs a private mount namespace (it would change the host's mounts)");
}

const nsField = (ns: NamespaceSetup, t: NamespaceType) => `linux.namespaces[${ns.index.get(t)}]`;

/** In the shim itself: everything that needs the host's view (cgroupfs, sockets, ns paths). */
function addBeforeClone(plan: Plan, input: InitPlanInput, c: Checked): void {
  addParentCgroups(plan, input);
  addCgroupJoins(plan, input.cgroupProcs);
  if (c.terminal && input.consoleSocket) addConsoleSocket(plan, input.consoleSocket);
  else if (c.terminal) plan.add(OpCode.CONSOLE_PAIR, "process.terminal", "make the terminal's socketpair");
  if (input.seccomp) addSeccompListener(plan, input.seccomp);
  // runc: the bind sources of a user-namespaced container are opened by the runtime, before the
  // namespaces are entered; its root (an unprivileged uid on the host) may not reach them.
  if (c.ns.index.has("user")) c.openedSources = planOpenedSources(plan, input.spec.mounts ?? [], input.bundle);
  // The fifo is a host path: open it before joining another mount namespace would hide it.
  if (c.joinsMount) addFifoOpen(plan, input.fifoPath);
  for (const j of c.ns.join) {
    plan.add(OpCode.SETNS, `linux.namespaces[${j.index}]`, `join ${j.type} namespace ${j.path}`, j.type, j.path);
  }
  if (c.ns.create.has("time")) {
    const offsets = timeOffsetsString(input.spec.linux?.timeOffsets);
    plan.add(OpCode.TIMENS, nsField(c.ns, "time"), "create a time namespace", offsets);
  }
}

/** CLONE, then the child's first steps: its own session, the fifo, root in a new user ns. */
function addClone(plan: Plan, input: InitPlanInput, c: Checked): void {
  let uidMap = "";
  let gidMap = "";
  if (c.newUser) {
    uidMap = idMapString(input.spec.linux?.uidMappings);
    gidMap = idMapString(input.spec.linux?.gidMappings);
    if (!uidMap) throw fieldError("linux.uidMappings", "a new user namespace needs uid mappings");
    if (!gidMap) throw fieldError("linux.gidMappings", "a new user namespace needs gid mappings");
  }
  const what = `create the init process${describeNew(c.ns.create)}`;
  // setgroups stays "": runc writes "deny" only for rootless containers; we run as root.
  plan.add(OpCode.CLONE, "linux.namespaces", what, cloneFlags(c.ns.create), uidMap, gidMap, "", input.mode);
  plan.add(OpCode.SETSID, "process", "start a new session");
  if (!c.joinsMount) addFifoOpen(plan, input.fifoPath);
  if (c.newUser) plan.add(OpCode.BECOME_ROOT, nsField(c.ns, "user"), "become root in the new user namespace");
  // runc brings the loopback interface of a new network namespace up (127.0.0.1 works inside).
  if (c.ns.create.has("network")) plan.add(OpCode.LOOPBACK_UP, nsField(c.ns, "network"), "bring the loopback interface up");
  // After BECOME_ROOT: the keyring belongs to the container's root, not to the overflow uid.
  if (input.sessionKeyring) {
    plan.add(OpCode.NEW_KEYRING, "process", `join a new session keyring ${input.sessionKeyring}`, input.sessionKeyring);
  }
}

/** runc's prepareRoot + mounts + devices, all before pivot_root (targets scoped to the rootfs). */
function addRootfs(plan: Plan, input: InitPlanInput, c: Checked): DeferredRemount[] {
  const { spec, rootfs } = input;
  // Sharing the host's mount namespace, its propagation is not ours to change, and chroot needs
  // no mount point.
  if (!c.sharedMounts) addPrivateRoot(plan, input, c);
  const mountCtx = {
    rootfs,
    bundle: input.bundle,
    cgroupns: c.ns.index.has("cgroup"),
    cgroupPaths: input.cgroupPaths,
    sourceKind: input.sourceKind ?? hostPathKind,
    openedSources: c.openedSources,
  };
  const deferred: DeferredRemount[] = [];
  (spec.mounts ?? []).forEach((m, i) => {
    const d = planMount(plan, m, i, mountCtx);
    if (d) deferred.push(d);
  });
  // runc sets up /dev unless /dev is a bind mount of somebody else's /dev.
  const bindsDev = (spec.mounts ?? []).some((m) => isBindMount(m) && cleanDestination(m.destination) === "/dev");
  if (!bindsDev) planDevices(plan, spec, { rootfs, userns: c.newUser, hostHasKcore: input.hostHasKcore ?? false });
  return deferred;
}

/** Stop our mounts from propagating to the host, then make the rootfs a mount point of its own
 *  (pivot_root needs one). */
function addPrivateRoot(plan: Plan, input: InitPlanInput, c: Checked): void {
  const { rootfs } = input;
  const firstProp = c.rootProp ?? MS.SLAVE | MS.REC;
  const propField = c.rootProp !== undefined ? "linux.rootfsPropagation" : "root.path";
  plan.add(OpCode.MOUNT, propField, `make / ${propagationName(firstProp)}`, "", "/", "", firstProp, "", "");
  // pivot_root refuses a new root whose parent mount is shared: make just that parent private (runc).
  if (firstProp & MS.SHARED && input.rootfsParentMount) {
    const parent = input.rootfsParentMount;
    plan.add(
      OpCode.MOUNT,
      "linux.rootfsPropagation",
      `make ${parent}, the mount holding the rootfs, private`,
      "",
      parent,
      "",
      MS.PRIVATE,
      "",
      "",
    );
  }
  plan.add(
    OpCode.MOUNT,
    "root.path",
    `bind mount the rootfs ${rootfs} onto itself`,
    rootfs,
    rootfs,
    "",
    MS.BIND | MS.REC,
    "",
    "",
  );
}

/** pivot_root, then what runc does in the new root before the process setup (paths are the container's). */
function addFinishRootfs(plan: Plan, input: InitPlanInput, c: Checked, deferred: DeferredRemount[]): void {
  const { spec, rootfs } = input;
  const proc = c.proc;
  // Masked files get the host's null device, opened and verified while the host's /dev is still
  // reachable: never the rootfs's /dev/null, which the image (or a volume) may have planted.
  if (spec.linux?.maskedPaths?.length)
    plan.add(OpCode.MASK_SOURCE, "linux.maskedPaths", "open the host's /dev/null to mask files with", "/dev/null");
  if (c.sharedMounts) plan.add(OpCode.CHROOT, "linux.namespaces", `chroot to ${rootfs} (no mount namespace)`, rootfs);
  else if (input.noPivot) plan.add(OpCode.MOVE_ROOT, "root.path", `move the rootfs ${rootfs} to /`, rootfs);
  else plan.add(OpCode.PIVOT_ROOT, "root.path", `pivot_root to ${rootfs}`, rootfs);
  if (c.rootProp !== undefined) {
    plan.add(OpCode.MOUNT, "linux.rootfsPropagation", `make / ${propagationName(c.rootProp)}`, "", "/", "", c.rootProp, "", "");
  }
  // runc creates a missing cwd.
  if (proc.cwd !== "/") {
    plan.add(OpCode.MKDIRS, "process.cwd", `create the working directory ${proc.cwd}`, proc.cwd, "/", "dir");
  }
  // runc: the console comes before the rootfs is finalised (made read-only).
  if (c.terminal) addConsole(plan, proc, "allocate the container's terminal");
  for (const d of deferred) {
    const flags = (d.flags | MS.REMOUNT | MS.BIND | MS.RDONLY) >>> 0;
    plan.add(
      OpCode.MOUNT,
      d.field,
      `remount ${d.destination} with ${describeFlags(d.flags)}`,
      "",
      d.destination,
      "",
      flags,
      "",
      "/",
    );
  }
  if (spec.root?.readonly) {
    plan.add(OpCode.MOUNT, "root.readonly", "remount / read-only", "", "/", "", MS.REMOUNT | MS.BIND | MS.RDONLY, "", "");
  }
  if (spec.hostname) plan.add(OpCode.SETHOSTNAME, "hostname", `set hostname ${spec.hostname}`, spec.hostname);
  if (spec.domainname) plan.add(OpCode.SETDOMAINNAME, "domainname", `set domainname ${spec.domainname}`, spec.domainname);
  for (const [key, value] of Object.entries(spec.linux?.sysctl ?? {})) {
    const path = `/proc/sys/${key.replace(/\./g, "/")}`;
    plan.add(OpCode.WRITE_FILE, `linux.sysctl.${key}`, `set sysctl ${key}=${value}`, path, value);
  }
  // runc: read-only paths first, then masks (a mask inside a read-only path still applies).
  for (const [i, p] of (spec.linux?.readonlyPaths ?? []).entries()) {
    plan.add(OpCode.READONLY, `linux.readonlyPaths[${i}]`, `make ${p} read-only`, p);
  }
  for (const [i, p] of (spec.linux?.maskedPaths ?? []).entries())
    plan.add(OpCode.MASK, `linux.maskedPaths[${i}]`, `mask ${p}`, p);
}

/** CGROUP_JOIN for each cgroup.procs file (init and joining processes alike). */
export function addCgroupJoins(plan: Plan, cgroupProcs: readonly string[]): void {
  for (const procs of cgroupProcs) {
    plan.add(OpCode.CGROUP_JOIN, "linux.cgroupsPath", `join cgroup ${procs.replace(/\/cgroup\.procs$/, "")}`, procs);
  }
}

export function addConsoleSocket(plan: Plan, sock: string): void {
  plan.add(OpCode.CONSOLE_SOCKET, "process.terminal", `connect to console socket ${sock}`, sock);
}

/** CONSOLE: a terminal sized from process.consoleSize (0 = leave the default), owned by the
 *  process's user (runc), its group left to devpts (tty). */
export function addConsole(plan: Plan, proc: Process | undefined, what: string): void {
  const rows = proc?.consoleSize?.height ?? 0;
  const cols = proc?.consoleSize?.width ?? 0;
  const uid = proc?.user?.uid ?? 0;
  plan.add(OpCode.CONSOLE, "process.terminal", what, rows, cols, uid === 0 ? -1 : uid);
}

function addFifoOpen(plan: Plan, fifoPath: string): void {
  plan.add(OpCode.FIFO_OPEN, "process", `open the exec fifo ${fifoPath}`, fifoPath);
}

function describeNew(create: Set<string>): string {
  const types = [...create].filter((t) => t !== "time");
  return types.length ? ` in new ${types.join(", ")} namespaces` : "";
}

/**
 * The process attributes shared by the init and `polis exec`: limits, scheduling, then identity.
 * Order matters: rlimits/oom/sched need privileges we drop later; the bounding set is dropped while
 * we still have CAP_SETPCAP; chdir runs as root (runc tries it before switching user, so a cwd only
 * root can enter still works); USER keeps the permitted set (PR_SET_KEEPCAPS) so CAPS can then set
 * exactly what the config asks; ambient caps need the final permitted/inheritable sets.
 */
export function addProcessOps(plan: Plan, proc: Process, personality?: number, seccomp?: SeccompLoad): void {
  (proc.rlimits ?? []).forEach((r, i) => {
    const field = `process.rlimits[${i}]`;
    plan.add(
      OpCode.RLIMIT,
      field,
      `set ${r.type} to ${r.soft}/${r.hard}`,
      rlimitNumber(r.type, field),
      rlimitValue(r.soft),
      rlimitValue(r.hard),
    );
  });
  if (proc.oomScoreAdj !== undefined) {
    plan.add(
      OpCode.WRITE_FILE,
      "process.oomScoreAdj",
      `set oom_score_adj to ${proc.oomScoreAdj}`,
      "/proc/self/oom_score_adj",
      String(proc.oomScoreAdj),
    );
  }
  if (proc.ioPriority) {
    const [cls, level] = ioprioArgs(proc.ioPriority);
    plan.add(OpCode.IOPRIO, "process.ioPriority", `set io priority ${proc.ioPriority.class} ${level}`, cls, level);
  }
  if (proc.scheduler) {
    plan.add(OpCode.SCHED, "process.scheduler", `set scheduler ${proc.scheduler.policy}`, ...schedArgs(proc.scheduler));
  }
  if (personality !== undefined) plan.add(OpCode.PERSONALITY, "linux.personality", `set personality ${personality}`, personality);
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before any capability is dropped
  // (runc). With it, the caller loads the filter right before exec instead.
  if (seccomp && !proc.noNewPrivileges) addSeccomp(plan, seccomp);

  // No "capabilities" at all leaves the capability sets alone, like runc.
  const caps = proc.capabilities;
  if (caps) {
    const bounding = capBits(caps.bounding, "process.capabilities.bounding");
    plan.add(OpCode.CAP_BOUNDING, "process.capabilities.bounding", "drop capabilities from the bounding set", hexMask(bounding));
  }
  // runc's words ("chdir to cwd ..."): scripts match them.
  plan.add(OpCode.CHDIR, "process.cwd", `chdir to cwd ${JSON.stringify(proc.cwd)}`, proc.cwd);
  const u = proc.user ?? { uid: 0, gid: 0 };
  const groups = (u.additionalGids ?? []).join(",");
  // runc sets umask 0022 when the config has none.
  const umask = u.umask === undefined ? "0022" : "0" + u.umask.toString(8);
  plan.add(OpCode.USER, "process.user", `switch to user ${u.uid}:${u.gid}`, u.uid, u.gid, groups, umask);
  if (caps) {
    const effective = capBits(caps.effective, "process.capabilities.effective");
    const permitted = capBits(caps.permitted, "process.capabilities.permitted");
    const inheritable = capBits(caps.inheritable, "process.capabilities.inheritable");
    const ambient = capBits(caps.ambient, "process.capabilities.ambient");
    plan.add(
      OpCode.CAPS,
      "process.capabilities",
      "set capabilities",
      hexMask(effective),
      hexMask(permitted),
      hexMask(inheritable),
    );
    // The kernel raises an ambient cap only if it is permitted and inheritable; runc ignores the
    // ones that are not (its default spec lists ambient caps without inheritable ones).
    plan.add(
      OpCode.CAP_AMBIENT,
      "process.capabilities.ambient",
      "set ambient capabilities",
      hexMask(ambient & permitted & inheritable),
    );
  }
  if (proc.noNewPrivileges) plan.add(OpCode.NO_NEW_PRIVS, "process.noNewPrivileges", "set no_new_privs");
}

/** SECCOMP_LISTENER: connect to the seccomp agent while the runtime's paths are still visible. */
export function addSeccompListener(plan: Plan, seccomp: SeccompLoad): void {
  if (!seccomp.listenerPath) return;
  // runc's words: scripts match "failed to connect with seccomp agent".
  const what = `failed to connect with seccomp agent specified in the seccomp profile: ${seccomp.listenerPath}`;
  plan.add(OpCode.SECCOMP_LISTENER, "linux.seccomp.listenerPath", what, seccomp.listenerPath);
}

/** SECCOMP: load the filter (and hand its notify fd to the agent SECCOMP_LISTENER connected to). */
export function addSeccomp(plan: Plan, seccomp: SeccompLoad): void {
  const to = seccomp.listenerPath ? ` and send its notify fd to ${seccomp.listenerPath}` : "";
  plan.add(
    OpCode.SECCOMP,
    "linux.seccomp",
    `load the seccomp filter${to}`,
    seccomp.bpf,
    seccomp.flags,
    seccomp.listenerPath ?? "",
    seccomp.payload ?? "",
  );
}

/** The PATH execvp would use: the first PATH= in env, else runc's default. */
export function pathFromEnv(env: readonly string[]): string {
  const entry = env.find((e) => e.startsWith("PATH="));
  return entry === undefined ? DEFAULT_PATH : entry.slice("PATH=".length);
}

/** Resolve the program: `argv[0]` through PATH, or `path` when given (a hook: its argv[0] is free). */
export function addFindExec(
  plan: Plan,
  argv: readonly string[],
  env: readonly string[],
  path?: string,
  field = "process.args[0]",
): void {
  const name = path ?? argv[0];
  plan.add(OpCode.FIND_EXEC, field, `find executable ${name}`, name, pathFromEnv(env));
}

export function addExec(plan: Plan, argv: readonly string[], env: readonly string[]): void {
  plan.add(OpCode.EXEC, "process.args", `exec ${argv[0]}`, argv.length, ...argv, ...env);
}

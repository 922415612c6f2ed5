// `polis exec`: run another process inside a running container. The shim joins the container's
// cgroup and namespaces, forks, and the child takes on the process spec (user, caps, rlimits,
// seccomp, cwd) before exec'ing, like runc's `runc init` in setns mode.
import { existsSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { PolisError, fieldError } from "../errors.js";
import { capNumber } from "../linux/capabilities.js";
import { namespacesToJoin } from "../linux/namespaces.js";
import { ShimError, ShimSession, decodeWaitStatus } from "../linux/shim.js";
import type { Capabilities, Process, Spec } from "../spec/types.js";
import type { ExecOptions, ExecProcessFlags } from "./options.js";
import type { SeccompLoad } from "../seccomp/notify.js";
import type { ContainerRecord } from "../state/types.js";
import { recordedCgroup } from "./cgroup.js";
import { liveStatus, mustGet, openStore, stateOf } from "./context.js";
import type { GlobalOptions } from "./options.js";
import { writePidFile } from "./pidfile.js";
import { buildJoinPlan } from "./plan-join.js";
import { sharesMountNamespace } from "./shared-mounts.js";
import { checkTerminal } from "./terminal.js";
import { hostLayout, ownProcsFiles } from "../cgroups/index.js";
import { FORWARDED_SIGNALS } from "../linux/signals.js";
import { lsmError } from "../spec/semantic.js";
import { withHome } from "../linux/in-root.js";
import { debugEnabled, log } from "../log.js";

export { homeOf } from "../linux/in-root.js";

export async function execContainer(g: GlobalOptions, o: ExecOptions): Promise<number> {
  const { rec, cgroupProcs } = checkContainer(g, o);
  const proc = o.processFile ? await processFromFile(o.processFile) : processFromFlags(rec.config, o.process);
  checkTerminal(proc.terminal === true, o.consoleSocket, o.detach, "exec");
  const pid = rec.pid!;
  // Read inside the container's root: its /etc/passwd may be a symlink to anywhere.
  const env = withHome(proc.env ?? [], proc.user.uid, `/proc/${pid}/root`);
  const plan = buildJoinPlan({
    pid,
    namespaces: namespacesToJoin(
      pid,
      (rec.config.linux?.namespaces ?? []).map((n) => n.type),
    ),
    cgroupProcs,
    process: proc,
    consoleSocket: o.consoleSocket,
    mode: o.detach ? "detach" : "wait",
    parentCgroupProcs: o.detach ? undefined : ownProcsFiles(hostLayout()),
    argv: proc.args!,
    env,
    seccomp: await seccompFor(rec),
    // runc's exec joins the keyring the init joined, unless the container was made without one.
    sessionKeyring: rec.sessionKeyring ?? undefined,
    chroot: sharesMountNamespace(rec.config) ? `/proc/${pid}/root` : undefined,
  });
  if (debugEnabled()) {
    const u = proc.user;
    log.debug("exec process", {
      args: proc.args!.join(" "),
      user: `${u.uid}:${u.gid}`,
      cwd: proc.cwd,
      terminal: Boolean(proc.terminal),
      pid,
      cgroups: cgroupProcs.join(" "),
    });
  }
  const session = ShimSession.start(plan, { preserveFds: o.preserveFds });
  try {
    const child = (await session.expect("pid")).value;
    if (o.detach) return await detached(session, child, o);
    // runc writes the pid file in the foreground too.
    if (o.pidFile) writePidFile(o.pidFile, child);
    return await foreground(session, child);
  } finally {
    session.close();
  }
}

/** The container's filter, loaded by the exec'd process too (with its notify fd to the agent),
 *  and by startContainer hooks. */
export async function seccompFor(
  rec: ContainerRecord,
  status: "created" | "running" = "running",
): Promise<SeccompLoad | undefined> {
  const seccomp = rec.config.linux?.seccomp;
  if (!seccomp) return undefined;
  const { prepareSeccomp } = await import("../seccomp/notify.js");
  return prepareSeccomp(seccomp, stateOf(rec, status));
}

/** The container must exist and be running (or paused, with --ignore-paused). */
function checkContainer(g: GlobalOptions, o: ExecOptions): { rec: ContainerRecord; cgroupProcs: string[] } {
  const store = openStore(g);
  try {
    const rec = mustGet(store, o.id);
    const cgroup = recordedCgroup(rec);
    const status = liveStatus(rec, () => cgroup.isFrozen());
    if (status === "stopped") throw new PolisError("cannot exec in a stopped container");
    if (status === "paused" && !o.ignorePaused) throw new PolisError("cannot exec in a paused container");
    if (status === "creating") throw new PolisError("cannot exec in a container that is being created");
    return { rec, cgroupProcs: o.subCgroups?.length ? subCgroupProcs(cgroup.paths, o.subCgroups) : cgroup.procsFiles() };
  } finally {
    store.close();
  }
}

/**
 * --cgroup, given once or more (runc's getSubCgroupPaths): `<path>` alone joins <path> below the
 * container's cgroup in every hierarchy; `<controller>[,<controller>]:<path>` in those
 * controllers' hierarchies only, and may be repeated for other controllers; the hierarchies no
 * flag names keep the container's cgroup. Like runc, the sub-cgroups must already exist.
 */
export function subCgroupProcs(paths: Record<string, string>, specs: readonly string[], exists = existsSync): string[] {
  const wanted = parseSubCgroups(specs);
  for (const c of wanted.keys()) {
    if (c !== "" && !Object.hasOwn(paths, c)) throw new PolisError(`--cgroup: the container has no ${c} cgroup`);
  }
  const dirs = new Map<string, { join: string; by?: string }>(); // container dir -> dir to join (co-mounted controllers share one)
  for (const [controller, dir] of Object.entries(paths)) {
    const sub = wanted.get(controller) ?? wanted.get("");
    const prev = dirs.get(dir);
    if (sub === undefined) {
      if (!prev) dirs.set(dir, { join: dir });
      continue;
    }
    const target = join(dir, sub);
    if (prev?.by !== undefined && prev.join !== target) {
      throw new PolisError(`--cgroup: ${prev.by} and ${controller} share a hierarchy but were given different paths`);
    }
    dirs.set(dir, { join: target, by: controller });
  }
  return [...dirs.values()].map(({ join: dir }) => {
    if (!exists(dir)) throw new PolisError(`--cgroup: ${dir} does not exist`, { step: `join cgroup ${dir}`, errno: "ENOENT" });
    return join(dir, "cgroup.procs");
  });
}

/** controller ("" = every hierarchy) -> sub-cgroup path, with runc's rules and words. */
function parseSubCgroups(specs: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const spec of specs) {
    const parts = spec.split(":");
    if (parts.length > 2) throw new PolisError(`--cgroup: invalid --cgroup argument: ${spec}`);
    const sub = cleanSub(parts[parts.length - 1]);
    if (parts.length === 1) {
      if (specs.length !== 1) throw new PolisError(`--cgroup: invalid --cgroup argument: ${spec} (missing <controller>: prefix)`);
      out.set("", sub);
      continue;
    }
    for (const c of parts[0].split(",")) {
      if (c === "") throw new PolisError(`--cgroup: invalid --cgroup argument: ${spec} (empty <controller> prefix)`);
      if (out.has(c)) throw new PolisError(`--cgroup: invalid --cgroup argument(s): controller ${c} specified multiple times`);
      out.set(c, sub);
    }
  }
  return out;
}

function cleanSub(sub: string): string {
  const clean = posix.normalize(sub).replace(/^\/+/, "");
  if (sub === "" || clean.split("/").includes(".."))
    throw new PolisError(`--cgroup: invalid sub-cgroup path ${JSON.stringify(sub)}`);
  return clean;
}

async function processFromFile(path: string): Promise<Process> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code ?? "EIO";
    throw new PolisError(`--process: read ${path}: ${errno}`, { step: `read ${path}`, errno });
  }
  // the schema validator is big: load it only for --process
  const { parseProcess } = await import("../spec/load.js");
  const proc = parseProcess(text, path);
  if (proc.apparmorProfile) throw lsmError("process.apparmorProfile", "apparmor");
  if (proc.selinuxLabel) throw lsmError("process.selinuxLabel", "selinux");
  if (!proc.args?.length) throw fieldError("process.args", "must not be empty");
  return proc;
}

/**
 * runc's getProcess: the container's process with the flags applied. --env replaces a variable
 * of the same name where it stands and appends new ones; --cap adds to the bounding, effective,
 * permitted and ambient sets (not inheritable: runc 1.1.2 dropped that, CVE-2022-29162).
 */
export function processFromFlags(config: Spec, f: ExecProcessFlags): Process {
  if (f.apparmor) throw lsmError("--apparmor", "apparmor");
  if (f.processLabel) throw lsmError("--process-label", "selinux");
  const base: Process = structuredClone(config.process ?? { user: { uid: 0, gid: 0 }, cwd: "/" });
  const proc: Process = { ...base, args: [...f.args], terminal: f.tty };
  proc.env = mergeEnv(base.env ?? [], f.env);
  if (f.cwd !== undefined) {
    if (!f.cwd.startsWith("/")) throw new PolisError(`--cwd: must be an absolute path, got ${JSON.stringify(f.cwd)}`);
    proc.cwd = f.cwd;
  }
  proc.user = { ...base.user };
  if (f.user) {
    proc.user.uid = f.user.uid;
    if (f.user.gid !== undefined) proc.user.gid = f.user.gid;
  }
  if (f.additionalGids.length) proc.user.additionalGids = [...(base.user.additionalGids ?? []), ...f.additionalGids];
  if (f.caps.length) proc.capabilities = addCaps(base.capabilities, f.caps);
  if (f.noNewPrivs) proc.noNewPrivileges = true;
  // The container's own profile/label were accepted at create; without AppArmor/SELinux they are no-ops.
  delete proc.apparmorProfile;
  delete proc.selinuxLabel;
  return proc;
}

/** `base` with `extra` applied: same name replaced in place, new names appended. */
export function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = [...base];
  for (const e of extra) {
    const name = e.split("=", 1)[0];
    const i = out.findIndex((b) => b.split("=", 1)[0] === name);
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

function addCaps(caps: Capabilities | undefined, add: readonly string[]): Capabilities | undefined {
  for (const c of add) if (capNumber(c) === undefined) throw new PolisError(`--cap: unknown capability "${c}"`);
  // No capabilities in the config means the sets are left alone (all of root's): nothing to add.
  if (!caps) return undefined;
  const plus = (list: string[] | undefined) => [...new Set([...(list ?? []), ...add])];
  return {
    ...caps,
    bounding: plus(caps.bounding),
    effective: plus(caps.effective),
    permitted: plus(caps.permitted),
    ambient: plus(caps.ambient),
  };
}

/** --detach: the process runs on once exec'd; we wait only for the exec (or its failure). */
async function detached(session: ShimSession, pid: number, o: ExecOptions): Promise<number> {
  let msg: Awaited<ReturnType<ShimSession["next"]>> | undefined;
  try {
    msg = await session.next();
  } catch (e) {
    // An ERROR is the exec failing; EOF without one means the child exec'd (its end of the sync
    // socket is close-on-exec) and the shim's parent half has exited.
    if (e instanceof ShimError) throw e;
  }
  if (msg) throw new PolisError(`polis-shim: unexpected ${msg.type} message after the exec'd process started`);
  if (o.pidFile) writePidFile(o.pidFile, pid);
  return 0;
}

/** Foreground: pass our signals on, and return the exit code (128+N for a death by signal N). */
async function foreground(session: ShimSession, pid: number): Promise<number> {
  const forward = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  try {
    return decodeWaitStatus(await session.exitStatus()).exitCode;
  } finally {
    for (const s of FORWARDED_SIGNALS) process.off(s, forward);
  }
}

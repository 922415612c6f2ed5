// Rules the schema cannot express: names that must be known to the kernel (capabilities, rlimits,
// namespace types), rules spanning several fields (user namespace <-> id mappings, sysctl <->
// namespaces), and absolute paths. Each failure names the config.json field it is about.
// Runs after the schema validator (so types are right), but checks defensively so it is also
// safe on a Spec built in code.
import { existsSync, readFileSync } from "node:fs";
import { fieldError } from "../errors.js";
import {
  CAPABILITIES,
  CAPABILITY_SETS,
  HOOK_NAMES,
  IOPRIO_CLASSES,
  NAMESPACE_TYPES,
  PERSONALITY_DOMAINS,
  RLIMITS,
  ROOTFS_PROPAGATIONS,
  SCHED_FLAGS,
  SCHED_POLICIES,
  TIME_OFFSET_CLOCKS,
} from "./names.js";
import type { IdMapping, Namespace, Process, Spec } from "./types.js";

const has = (table: object, key: unknown): boolean => typeof key === "string" && Object.hasOwn(table, key);
const q = (v: unknown): string => JSON.stringify(v);

/** Sections of config.json for other platforms: a Linux runtime cannot honour them. */
const OTHER_PLATFORMS = ["windows", "solaris", "zos", "freebsd"] as const;

/** Throws a PolisError naming the first field that breaks a rule; returns normally otherwise. */
export function checkSemantics(spec: Spec): void {
  for (const p of OTHER_PLATFORMS) {
    if ((spec as unknown as Record<string, unknown>)[p] !== undefined) {
      throw fieldError(p, "settings for another platform; polis runs Linux containers only");
    }
  }
  if (!spec.root) throw fieldError("root", "required on Linux");
  if (typeof spec.root.path !== "string" || spec.root.path === "") {
    throw fieldError("root.path", "must not be empty");
  }
  const ns = checkNamespaces(spec);
  if (spec.process) checkProcessSemantics(spec.process);
  checkMounts(spec);
  checkHooks(spec);
  checkIdMappings(spec, ns);
  checkLinux(spec, ns);
}

/** What linux.namespaces asks for: type -> entry. */
type NamespaceSet = Map<string, Namespace>;

function checkNamespaces(spec: Spec): NamespaceSet {
  const seen: NamespaceSet = new Map();
  (spec.linux?.namespaces ?? []).forEach((n, i) => {
    const at = `linux.namespaces[${i}]`;
    if (!has(NAMESPACE_TYPES, n.type)) throw fieldError(`${at}.type`, `unknown namespace type ${q(n.type)}`);
    if (seen.has(n.type)) throw fieldError(`${at}.type`, `duplicate namespace type ${q(n.type)}`);
    if (n.path !== undefined && !n.path.startsWith("/")) {
      throw fieldError(`${at}.path`, `must be an absolute path, got ${q(n.path)}`);
    }
    seen.set(n.type, n);
  });
  return seen;
}

const isNew = (ns: NamespaceSet, type: string): boolean => {
  const n = ns.get(type);
  return n !== undefined && !n.path;
};

/** The rules for a process object: config.json's `process`, or an exec `--process` file. */
export function checkProcessSemantics(p: Process): void {
  if (!Array.isArray(p.args) || p.args.length === 0) throw fieldError("process.args", "must not be empty");
  if (typeof p.cwd !== "string" || !p.cwd.startsWith("/")) {
    throw fieldError("process.cwd", `must be an absolute path, got ${q(p.cwd)}`);
  }
  (p.env ?? []).forEach((e, i) => {
    if (!e.includes("=") || e.startsWith("=")) throw fieldError(`process.env[${i}]`, `must be NAME=value, got ${q(e)}`);
  });
  if (p.capabilities) {
    for (const set of CAPABILITY_SETS) {
      (p.capabilities[set] ?? []).forEach((c, i) => {
        if (!has(CAPABILITIES, c)) throw fieldError(`process.capabilities.${set}[${i}]`, `unknown capability ${q(c)}`);
      });
    }
  }
  const rlimitSeen = new Set<string>();
  (p.rlimits ?? []).forEach((r, i) => {
    const at = `process.rlimits[${i}]`;
    if (!has(RLIMITS, r.type)) throw fieldError(`${at}.type`, `unknown rlimit ${q(r.type)}`);
    if (rlimitSeen.has(r.type)) throw fieldError(`${at}.type`, `duplicate rlimit ${q(r.type)}`);
    rlimitSeen.add(r.type);
    if (r.soft > r.hard) throw fieldError(`${at}.soft`, `must not exceed hard (${r.hard})`);
  });
  if (p.ioPriority) {
    if (!has(IOPRIO_CLASSES, p.ioPriority.class)) {
      throw fieldError("process.ioPriority.class", `unknown class ${q(p.ioPriority.class)}`);
    }
    const prio = p.ioPriority.priority ?? 0;
    if (prio < 0 || prio > 7) throw fieldError("process.ioPriority.priority", "must be between 0 and 7");
  }
  if (p.scheduler) {
    const s = p.scheduler;
    if (!has(SCHED_POLICIES, s.policy)) throw fieldError("process.scheduler.policy", `unknown policy ${q(s.policy)}`);
    (s.flags ?? []).forEach((f, i) => {
      if (!has(SCHED_FLAGS, f)) throw fieldError(`process.scheduler.flags[${i}]`, `unknown flag ${q(f)}`);
    });
    if (s.nice !== undefined && (s.nice < -20 || s.nice > 19)) {
      throw fieldError("process.scheduler.nice", "must be between -20 and 19");
    }
  }
  if (p.oomScoreAdj !== undefined && (p.oomScoreAdj < -1000 || p.oomScoreAdj > 1000)) {
    throw fieldError("process.oomScoreAdj", "must be between -1000 and 1000");
  }
}

function checkMounts(spec: Spec): void {
  (spec.mounts ?? []).forEach((m, i) => {
    if (!m.destination.startsWith("/")) {
      throw fieldError(`mounts[${i}].destination`, `must be an absolute path, got ${q(m.destination)}`);
    }
    if ((m.uidMappings === undefined) !== (m.gidMappings === undefined)) {
      const missing = m.uidMappings === undefined ? "uidMappings" : "gidMappings";
      throw fieldError(`mounts[${i}].${missing}`, "required for an idmapped mount (both uid and gid mappings)");
    }
    if (m.uidMappings) checkMappingList(`mounts[${i}].uidMappings`, m.uidMappings);
    if (m.gidMappings) checkMappingList(`mounts[${i}].gidMappings`, m.gidMappings);
  });
}

function checkHooks(spec: Spec): void {
  if (!spec.hooks) return;
  for (const name of HOOK_NAMES) {
    (spec.hooks[name] ?? []).forEach((h, i) => {
      if (!h.path.startsWith("/")) throw fieldError(`hooks.${name}[${i}].path`, `must be an absolute path, got ${q(h.path)}`);
    });
  }
}

function checkMappingList(at: string, maps: IdMapping[]): void {
  maps.forEach((m, i) => {
    if (m.size === 0) throw fieldError(`${at}[${i}].size`, "must be greater than 0");
  });
}

function checkIdMappings(spec: Spec, ns: NamespaceSet): void {
  const linux = spec.linux ?? {};
  const newUser = isNew(ns, "user");
  for (const key of ["uidMappings", "gidMappings"] as const) {
    const maps = linux[key];
    const given = maps !== undefined && maps.length > 0;
    if (newUser && !given) throw fieldError(`linux.${key}`, "required when a new user namespace is requested");
    if (!newUser && given) {
      throw fieldError(
        `linux.${key}`,
        'only allowed with a new user namespace (linux.namespaces has no "user" entry without a path)',
      );
    }
    if (maps) checkMappingList(`linux.${key}`, maps);
  }
}

/** Sysctls the kernel namespaces (runc's list): prefix -> the namespace that must be new or joined. */
const IPC_SYSCTLS = new Set([
  "kernel.msgmax",
  "kernel.msgmnb",
  "kernel.msgmni",
  "kernel.sem",
  "kernel.shmall",
  "kernel.shmmax",
  "kernel.shmmni",
  "kernel.shm_rmid_forced",
]);
const SYSCTL_KEY_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_\-:+@]+)+$/;

function sysctlNamespace(key: string): string | undefined {
  if (IPC_SYSCTLS.has(key) || key.startsWith("fs.mqueue.")) return "ipc";
  if (key.startsWith("net.")) return "network";
  if (key === "kernel.hostname" || key === "kernel.domainname") return "uts";
  return undefined;
}

function checkLinux(spec: Spec, ns: NamespaceSet): void {
  const linux = spec.linux;
  if (spec.hostname !== undefined && spec.hostname !== "" && !ns.has("uts")) {
    throw fieldError("hostname", 'requires a uts namespace (add {"type": "uts"} to linux.namespaces)');
  }
  if (spec.domainname !== undefined && spec.domainname !== "" && !ns.has("uts")) {
    throw fieldError("domainname", 'requires a uts namespace (add {"type": "uts"} to linux.namespaces)');
  }
  if (!linux) return;

  if (linux.timeOffsets) {
    if (!isNew(ns, "time"))
      throw fieldError("linux.timeOffsets", 'requires a new time namespace (linux.namespaces entry "time" without a path)');
    for (const clock of Object.keys(linux.timeOffsets)) {
      if (!(TIME_OFFSET_CLOCKS as readonly string[]).includes(clock)) {
        throw fieldError(`linux.timeOffsets.${clock}`, `unknown clock; must be one of ${TIME_OFFSET_CLOCKS.map(q).join(", ")}`);
      }
    }
  }

  (linux.devices ?? []).forEach((d, i) => {
    const at = `linux.devices[${i}]`;
    if (!d.path.startsWith("/")) throw fieldError(`${at}.path`, `must be an absolute path, got ${q(d.path)}`);
    if (d.type !== "p" && (d.major === undefined || d.minor === undefined)) {
      throw fieldError(at, `missing required field "${d.major === undefined ? "major" : "minor"}" for a type "${d.type}" device`);
    }
  });

  for (const key of ["maskedPaths", "readonlyPaths"] as const) {
    (linux[key] ?? []).forEach((p, i) => {
      if (!p.startsWith("/")) throw fieldError(`linux.${key}[${i}]`, `must be an absolute path, got ${q(p)}`);
    });
  }

  for (const key of Object.keys(linux.sysctl ?? {})) {
    const at = `linux.sysctl[${q(key)}]`;
    if (!SYSCTL_KEY_RE.test(key) || key.includes(".."))
      throw fieldError(at, "not a sysctl name (expected dotted words like net.ipv4.ip_forward)");
    const need = sysctlNamespace(key);
    if (!need) throw fieldError(at, "sysctl is not in a separate kernel namespace");
    if (!ns.has(need)) throw fieldError(at, `requires a ${need} namespace`);
    const field = key === "kernel.hostname" ? "hostname" : key === "kernel.domainname" ? "domainname" : undefined;
    // Setting the same name twice is harmless; two different names for one thing is a conflict.
    if (field && spec[field] && spec[field] !== linux.sysctl![key]) {
      throw fieldError(at, `conflicts with the ${field} field (${q(spec[field])})`);
    }
  }

  if (linux.personality) {
    const d = linux.personality.domain;
    if (d === undefined) throw fieldError("linux.personality", 'missing required field "domain"');
    if (!has(PERSONALITY_DOMAINS, d)) throw fieldError("linux.personality.domain", `unknown domain ${q(d)}`);
  }

  if (linux.rootfsPropagation !== undefined && !(ROOTFS_PROPAGATIONS as readonly string[]).includes(linux.rootfsPropagation)) {
    throw fieldError("linux.rootfsPropagation", `unknown propagation ${q(linux.rootfsPropagation)}`);
  }
}

// ---- LSMs ----------------------------------------------------------------------------------
// polis applies no AppArmor profile and no SELinux label. A config that asks for one must fail at
// create, before anything is made, rather than run the container unconfined. Not part of
// checkSemantics: such a config is valid, this host (and this runtime) just cannot honour it.

/** Which LSMs the host has enabled (runc's tests: the apparmor module flag, a selinuxfs). */
export interface HostLsm {
  apparmor: boolean;
  selinux: boolean;
}

export function hostLsm(): HostLsm {
  let apparmor = false;
  try {
    apparmor = readFileSync("/sys/module/apparmor/parameters/enabled", "utf8").trim() === "Y";
  } catch {
    // no apparmor module
  }
  return { apparmor, selinux: existsSync("/sys/fs/selinux/enforce") };
}

/** Throws for the first LSM setting in `spec`; the host is probed only when one is set. */
export function checkLsm(spec: Spec, host?: HostLsm): void {
  const probe = () => (host ??= hostLsm());
  if (spec.process?.apparmorProfile) throw lsmError("process.apparmorProfile", "apparmor", probe().apparmor);
  if (spec.process?.selinuxLabel) throw lsmError("process.selinuxLabel", "selinux", probe().selinux);
  if (spec.linux?.mountLabel) throw lsmError("linux.mountLabel", "selinux", probe().selinux);
}

export function lsmError(
  field: string,
  lsm: "apparmor" | "selinux",
  enabled = lsm === "apparmor" ? hostLsm().apparmor : hostLsm().selinux,
) {
  const what = lsm === "apparmor" ? "apparmor profiles" : "selinux labels";
  return fieldError(field, enabled ? `${what} are not supported by polis` : `${lsm} is not enabled on this host`);
}

// linux.namespaces -> what the shim creates (CLONE flags, TIMENS) and what it joins (SETNS, in a
// safe order), plus the uid_map/gid_map text. The type -> flag and /proc name tables are in
// src/spec/names.ts.
import { statSync } from "node:fs";
import { fieldError } from "../errors.js";
import { NAMESPACE_PROC_NAMES, NAMESPACE_TYPES, TIME_OFFSET_CLOCKS } from "../spec/names.js";
import type { IdMapping, Namespace, NamespaceType } from "../spec/types.js";

/**
 * The order SETNS ops run in:
 * - user first: joining it gives us CAP_SYS_ADMIN over the namespaces it owns, which setns(2)
 *   requires for each of the others (runc keeps user first for the same reason);
 * - mount last: every SETNS opens its path when it runs, so once we are in another mount
 *   namespace the remaining paths would be looked up in the container's tree, not the host's;
 * - the rest (pid, time apply to children only; cgroup changes only our view) in runc's order.
 */
export const JOIN_ORDER: readonly NamespaceType[] = ["user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount"];

export interface NamespaceJoin {
  type: NamespaceType;
  path: string;
  /** index in linux.namespaces, for error field paths */
  index: number;
}

export interface NamespaceSetup {
  /** namespaces created fresh (no path), in config order */
  create: Set<NamespaceType>;
  /** namespaces joined by path, in JOIN_ORDER */
  join: NamespaceJoin[];
  /** index in linux.namespaces of each listed type (created or joined) */
  index: Map<NamespaceType, number>;
}

/** Split linux.namespaces into "create" and "join"; unknown or repeated types are errors. */
export function namespaceSetup(list: readonly Namespace[] | undefined): NamespaceSetup {
  const create = new Set<NamespaceType>();
  const join: NamespaceJoin[] = [];
  const index = new Map<NamespaceType, number>();
  (list ?? []).forEach((ns, i) => {
    if (!Object.hasOwn(NAMESPACE_TYPES, ns.type)) {
      throw fieldError(`linux.namespaces[${i}].type`, `unknown namespace type "${ns.type}"`);
    }
    if (index.has(ns.type)) throw fieldError(`linux.namespaces[${i}]`, `duplicate namespace type "${ns.type}"`);
    index.set(ns.type, i);
    if (ns.path) join.push({ type: ns.type, path: ns.path, index: i });
    else create.add(ns.type);
  });
  join.sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
  return { create, join, index };
}

/** OR of CLONE_NEW* for the namespaces CLONE creates (time excluded: see NAMESPACE_TYPES). */
export function cloneFlags(create: Iterable<NamespaceType>): number {
  let flags = 0;
  for (const t of create) if (t !== "time") flags |= NAMESPACE_TYPES[t];
  return flags >>> 0;
}

/** /proc/<pid>/uid_map text: one "containerID hostID size" line per mapping. */
export function idMapString(maps: readonly IdMapping[] | undefined): string {
  return (maps ?? []).map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join("");
}

/** /proc/self/timens_offsets text from linux.timeOffsets (only the clocks a time ns can shift). */
export function timeOffsetsString(offsets: Record<string, { secs?: number; nanosecs?: number }> | undefined): string {
  let out = "";
  for (const [clock, o] of Object.entries(offsets ?? {})) {
    if (!(TIME_OFFSET_CLOCKS as readonly string[]).includes(clock)) {
      const expected = TIME_OFFSET_CLOCKS.map((c) => `"${c}"`).join(" or ");
      throw fieldError(`linux.timeOffsets.${clock}`, `unknown clock (expected ${expected})`);
    }
    out += `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}\n`;
  }
  return out;
}

// ---- impure helpers (used by callers; the plan builders stay pure) ----

/** Inode of /proc/<pid>/ns/<type>, or undefined if it cannot be read. */
export function nsInode(pid: number | "self", type: NamespaceType): number | undefined {
  try {
    return statSync(`/proc/${pid}/ns/${NAMESPACE_PROC_NAMES[type]}`).ino;
  } catch {
    return undefined;
  }
}

/**
 * The subset of `types` in which `pid` differs from us: setns(2) into our own user namespace fails
 * with EINVAL, and joining any namespace we are already in is pointless.
 */
export function namespacesToJoin(pid: number, types: readonly NamespaceType[]): NamespaceType[] {
  return types.filter((t) => {
    const theirs = nsInode(pid, t);
    return theirs === undefined || theirs !== nsInode("self", t);
  });
}

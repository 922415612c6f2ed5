// config.json mounts -> MOUNT/MKDIRS/MOUNT_SETATTR ops, the way runc sets up a rootfs:
// option parsing (libcontainer/specconv), bind + remount, propagation as separate mount(2) calls,
// recursive attributes through mount_setattr(2), and runc's tmpfs-based cgroup v1 mount.
// The option names, MS_* and MOUNT_ATTR_* values are MOUNT_OPTIONS, MS and MOUNT_ATTR in
// src/spec/names.ts (the same table `polis features` lists).
import { statSync } from "node:fs";
import { posix } from "node:path";
import { fieldError } from "../errors.js";
import { MOUNT_ATTR, MOUNT_OPTIONS, MS, type FlagOption, type MountOption } from "../spec/names.js";
import type { Mount } from "../spec/types.js";
import { OpCode, type Plan } from "./plan.js";

export interface MountOptions {
  /** MS_* for mount(2): options applied left to right, so "ro,rw" ends read-write */
  flags: number;
  /** MS_* the options explicitly cleared (rw, suid, dev, exec…) and did not set again */
  clearFlags: number;
  /** propagation MS_* values, one mount(2) call each, in config order */
  propagation: number[];
  /** mount_setattr(2) attr_set / attr_clr */
  attrSet: number;
  attrClr: number;
  /** the options asked for recursive attributes (rro, rnosuid…): a MOUNT_SETATTR op is needed */
  recursive: boolean;
  /** the filesystem-specific rest, comma-joined (e.g. "mode=755,size=65536k") */
  data: string;
}

const mountOption = (name: string): MountOption | undefined =>
  Object.hasOwn(MOUNT_OPTIONS, name) ? MOUNT_OPTIONS[name] : undefined;

/** Parse a mount's options; `field` is the options' path (`mounts[2].options`). */
export function parseMountOptions(options: readonly string[] | undefined, field: string): MountOptions {
  const r: MountOptions = { flags: 0, clearFlags: 0, propagation: [], attrSet: 0, attrClr: 0, recursive: false, data: "" };
  const data: string[] = [];
  const setFlag = (flag: number) => {
    r.flags |= flag;
    r.clearFlags &= ~flag;
  };
  (options ?? []).forEach((opt, i) => {
    const o = mountOption(opt);
    if (o === undefined) {
      if (opt !== "") data.push(opt);
    } else if (o.kind === "flag") {
      if (o.clear) {
        r.flags &= ~o.flag;
        r.clearFlags |= o.flag;
      } else {
        setFlag(o.flag);
      }
    } else if (o.kind === "propagation") {
      r.propagation.push(o.flag);
    } else if (o.kind === "recursive") {
      r.recursive = true;
      if (o.clear) {
        r.attrClr |= o.attr;
        r.attrSet &= ~o.attr;
      } else {
        r.attrSet |= o.attr;
        r.attrClr &= ~o.attr;
        // The access-time attributes are a 3-bit enum: setting one needs _ATIME in attr_clr.
        if (o.atime) r.attrClr |= MOUNT_ATTR._ATIME;
      }
    } else if (o.name === "bind" || o.name === "rbind") {
      setFlag(o.name === "rbind" ? MS.BIND | MS.REC : MS.BIND);
    } else if (o.name === "idmap" || o.name === "ridmap") {
      throw fieldError(`${field}[${i}]`, `"${opt}" (id-mapped mounts) is not supported`);
    } else {
      // tmpcopyup is not implemented: it goes to mount(2) as data, as it always has.
      data.push(opt);
    }
  });
  r.flags >>>= 0;
  r.data = data.join(",");
  return r;
}

/** The propagation options (private, rprivate, …) as [name, MS_* flags], in table order. */
function propagationOptions(): [string, number][] {
  return Object.entries(MOUNT_OPTIONS).flatMap(([name, o]): [string, number][] =>
    o.kind === "propagation" ? [[name, o.flag]] : [],
  );
}

/** MS_* for linux.rootfsPropagation; undefined when unset (runc then uses MS_SLAVE|MS_REC). */
export function rootfsPropagationFlags(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const o = mountOption(value);
  if (o?.kind !== "propagation") {
    const expected = propagationOptions()
      .map(([name]) => name)
      .join(", ");
    throw fieldError("linux.rootfsPropagation", `unknown propagation "${value}" (expected one of ${expected})`);
  }
  return o.flag;
}

/** Mount destinations are container paths: absolute, normalised, no trailing slash. */
export function cleanDestination(dest: string): string {
  const p = posix.normalize(posix.join("/", dest));
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

/** A bind mount: "bind"/"rbind" in options, or a type that only makes sense as a bind. */
export function isBindMount(m: Mount): boolean {
  if ((m.options ?? []).some((o) => o === "bind" || o === "rbind")) return true;
  return m.type === "bind" || m.type === "rbind" || m.type === "none";
}

export type PathKind = "dir" | "file" | "missing";

/** What a host path is (impure; plan builders take it as an injectable function). */
export function hostPathKind(path: string): PathKind {
  try {
    return statSync(path).isDirectory() ? "dir" : "file";
  } catch {
    return "missing";
  }
}

export interface MountContext {
  /** absolute host path of the rootfs (the scope every target is resolved in) */
  rootfs: string;
  /** bundle directory: relative bind sources are relative to it (runc) */
  bundle?: string;
  /** the container has its own cgroup namespace */
  cgroupns: boolean;
  /** the container's cgroup directories: controller (or "unified") -> absolute path */
  cgroupPaths: Record<string, string>;
  sourceKind: (hostPath: string) => PathKind;
  /** mounts[i] -> the OPEN_TREE copy of its bind source, opened before CLONE (a user-namespaced
   *  container: its root may not reach the source); none: bind the host path itself */
  openedSources?: ReadonlyMap<number, number>;
}

/** A bind mount's source as the host sees it (relative sources are the bundle's, as runc), and
 *  whether it is recursive (without "bind"/"rbind" in the options the type alone made it a bind:
 *  recursive, like crun). */
export function bindSource(m: Mount, field: string, bundle: string | undefined): { source: string; recursive: boolean } {
  let source = m.source ?? "";
  if (!source) throw fieldError(`${field}.source`, "a bind mount needs a source");
  if (!posix.isAbsolute(source) && bundle) source = posix.join(bundle, source);
  const opts = parseMountOptions(m.options, `${field}.options`);
  const explicit = (m.options ?? []).some((o) => o === "bind" || o === "rbind");
  return { source, recursive: explicit ? (opts.flags & MS.REC) !== 0 : true };
}

/** OPEN_TREE for every bind mount's source, before CLONE; returns mounts[i] -> copy index. */
export function planOpenedSources(plan: Plan, mounts: readonly Mount[], bundle: string | undefined): Map<number, number> {
  const opened = new Map<number, number>();
  mounts.forEach((m, i) => {
    const type = m.type ?? "";
    if (type === "cgroup" || type === "cgroup2" || !isBindMount(m)) return;
    const field = `mounts[${i}]`;
    const { source, recursive } = bindSource(m, field, bundle);
    plan.add(OpCode.OPEN_TREE, field, `open the bind source ${source} as the runtime`, source, recursive ? 1 : 0);
    opened.set(i, opened.size);
  });
  return opened;
}

/** A tmpfs (or /dev) asked to be read-only is mounted rw, filled, and remounted ro after pivot. */
export interface DeferredRemount {
  field: string;
  destination: string;
  flags: number;
}

const SAFE_FLAGS = MS.NOSUID | MS.NODEV | MS.NOEXEC;

/** Emit the ops for mounts[index]; returns a read-only remount to do after pivot_root, if any. */
export function planMount(plan: Plan, m: Mount, index: number, ctx: MountContext): DeferredRemount | undefined {
  const field = `mounts[${index}]`;
  if (m.uidMappings?.length || m.gidMappings?.length) {
    throw fieldError(`${field}.${m.uidMappings?.length ? "uidMappings" : "gidMappings"}`, "id-mapped mounts are not supported");
  }
  const opts = parseMountOptions(m.options, `${field}.options`);
  const dest = cleanDestination(m.destination);
  const type = m.type ?? "";
  if (type === "cgroup" || type === "cgroup2") {
    planCgroupMount(plan, field, dest, opts, ctx);
    return undefined;
  }
  if (isBindMount(m)) {
    planBindMount(plan, m, index, dest, opts, ctx);
    return undefined;
  }

  let flags = opts.flags;
  let deferred: DeferredRemount | undefined;
  // runc: tmpfs mounts and /dev get files created in them (devices, chmod), so a read-only one is
  // mounted writable first and made read-only once the rootfs is finished.
  if ((type === "tmpfs" || dest === "/dev") && flags & MS.RDONLY) {
    flags &= ~MS.RDONLY;
    deferred = { field, destination: dest, flags: opts.flags };
  }
  const what = `mount ${type || "filesystem"} on ${dest}`;
  if (type === "tmpfs" && !opts.data.split(",").some((o) => o.startsWith("mode="))) {
    // runc: a tmpfs without mode= keeps the mode of the directory it covers (the shim reads it
    // when the mount happens: an earlier mount may have made or changed that directory)
    plan.add(
      OpCode.MOUNT_KEEP_MODE,
      field,
      `${what}, with the mode of ${dest}`,
      m.source ?? type,
      dest,
      type,
      flags >>> 0,
      opts.data,
      ctx.rootfs,
    );
  } else {
    plan.add(OpCode.MKDIRS, field, `create mount point ${dest}`, dest, ctx.rootfs, "dir");
    plan.add(OpCode.MOUNT, field, what, m.source ?? type, dest, type, flags >>> 0, opts.data, ctx.rootfs);
  }
  addPropagation(plan, field, dest, opts.propagation, ctx.rootfs);
  addSetattr(plan, field, dest, opts, ctx.rootfs);
  return deferred;
}

function planBindMount(plan: Plan, m: Mount, index: number, dest: string, opts: MountOptions, ctx: MountContext): void {
  const field = `mounts[${index}]`;
  const { source, recursive } = bindSource(m, field, ctx.bundle);
  const kind = ctx.sourceKind(source);
  if (kind === "missing") throw fieldError(`${field}.source`, `stat ${source}: no such file or directory (ENOENT)`);
  const bindFlags = MS.BIND | (recursive ? MS.REC : 0);
  plan.add(OpCode.MKDIRS, field, `create mount point ${dest}`, dest, ctx.rootfs, kind);
  const opened = ctx.openedSources?.get(index);
  if (opened !== undefined) plan.add(OpCode.MOVE_MOUNT, field, `bind mount ${source} on ${dest}`, opened, dest, ctx.rootfs);
  else plan.add(OpCode.MOUNT, field, `bind mount ${source} on ${dest}`, source, dest, "", bindFlags, "", ctx.rootfs);
  addPropagation(plan, field, dest, opts.propagation, ctx.rootfs);
  // A bind mount ignores every flag but MS_REC: ro, nosuid… need a bind-remount.
  const extra = opts.flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
  if (extra) addBindRemount(plan, field, dest, extra, ctx.rootfs);
  addSetattr(plan, field, dest, opts, ctx.rootfs);
}

/** MS_REMOUNT|MS_BIND: change a bind mount's per-mount flags (works in a user ns too). */
function addBindRemount(plan: Plan, field: string, target: string, flags: number, scope: string): void {
  const what = `remount ${target} with ${describeFlags(flags)}`;
  plan.add(OpCode.MOUNT, field, what, "", target, "", (MS.REMOUNT | MS.BIND | flags) >>> 0, "", scope);
}

function addBind(plan: Plan, field: string, source: string, target: string, scope: string): void {
  plan.add(OpCode.MOUNT, field, `bind mount ${source} on ${target}`, source, target, "", MS.BIND | MS.REC, "", scope);
}

function addPropagation(plan: Plan, field: string, dest: string, propagation: number[], scope: string): void {
  for (const p of propagation) {
    plan.add(OpCode.MOUNT, field, `make ${dest} ${propagationName(p)}`, "", dest, "", p, "", scope);
  }
}

function addSetattr(plan: Plan, field: string, dest: string, opts: MountOptions, scope: string): void {
  if (!opts.recursive) return;
  plan.add(
    OpCode.MOUNT_SETATTR,
    field,
    `set recursive mount attributes on ${dest}`,
    dest,
    scope,
    opts.attrSet,
    opts.attrClr,
    0,
    1,
  );
}

export function propagationName(flags: number): string {
  return propagationOptions().find(([, v]) => v === flags)?.[0] ?? `propagation ${flags}`;
}

/** "ro,nosuid" for error messages: the options that set `flags` (MS_REMOUNT aside), in bit order. */
export function describeFlags(flags: number): string {
  const names = Object.entries(MOUNT_OPTIONS)
    .filter(
      (e): e is [string, FlagOption] =>
        e[1].kind === "flag" && !e[1].clear && e[1].flag !== MS.REMOUNT && (flags & e[1].flag) !== 0,
    )
    .sort(([, a], [, b]) => a.flag - b.flag)
    .map(([name]) => name);
  return names.join(",") || "no flags";
}

interface CgroupDir {
  /** directory name under the cgroup mount ("cpu", "systemd", "cpu,cpuacct", "unified") */
  name: string;
  /** controllers mounted together in that hierarchy ("cpu", "name=systemd", "unified") */
  controllers: string[];
  dir: string;
}

/** Group the controller -> dir map by directory (co-mounted controllers share one). */
function cgroupDirs(paths: Record<string, string>): CgroupDir[] {
  const byDir = new Map<string, string[]>();
  for (const [ctrl, dir] of Object.entries(paths)) byDir.set(dir, [...(byDir.get(dir) ?? []), ctrl]);
  const out: CgroupDir[] = [];
  for (const [dir, controllers] of byDir) {
    const under = dir.startsWith("/sys/fs/cgroup/") ? dir.slice("/sys/fs/cgroup/".length).split("/")[0] : "";
    const name = under || controllers.map((c) => c.replace(/^name=/, "")).join(",");
    out.push({ name, controllers, dir });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * A `cgroup` mount. Kept simple (documented in the report):
 * - cgroup v2 only: with a cgroup namespace mount cgroup2 (its root is the container's cgroup);
 *   without one, bind the container's cgroup directory.
 * - v1 / hybrid (runc's layout): a tmpfs at the destination (mode=755, nosuid,nodev,noexec), one
 *   sub-directory per hierarchy, holding either a fresh cgroup mount of that hierarchy (with a
 *   cgroup namespace, whose root is the container's cgroup) or a bind of the container's directory;
 *   co-mounted hierarchies ("cpu,cpuacct") get a symlink per controller; then the tmpfs is made
 *   read-only if asked.
 */
function planCgroupMount(plan: Plan, field: string, dest: string, opts: MountOptions, ctx: MountContext): void {
  const dirs = cgroupDirs(ctx.cgroupPaths);
  const flags = opts.flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
  const v2only = dirs.every((d) => d.controllers.every((c) => c === "unified"));
  plan.add(OpCode.MKDIRS, field, `create mount point ${dest}`, dest, ctx.rootfs, "dir");
  if (v2only) {
    const dir = dirs[0]?.dir;
    if (ctx.cgroupns || !dir) {
      plan.add(OpCode.MOUNT, field, `mount cgroup2 on ${dest}`, "cgroup2", dest, "cgroup2", flags >>> 0, "", ctx.rootfs);
    } else {
      addBind(plan, field, dir, dest, ctx.rootfs);
      if (flags) addBindRemount(plan, field, dest, flags, ctx.rootfs);
    }
    addPropagation(plan, field, dest, opts.propagation, ctx.rootfs);
    return;
  }
  const what = `mount tmpfs on ${dest} for the cgroup hierarchies`;
  plan.add(OpCode.MOUNT, field, what, "tmpfs", dest, "tmpfs", SAFE_FLAGS, "mode=755", ctx.rootfs);
  addPropagation(plan, field, dest, opts.propagation, ctx.rootfs);
  const subFlags = (flags | SAFE_FLAGS) & ~MS.RDONLY;
  const ro = flags & MS.RDONLY;
  for (const d of dirs) {
    const sub = `${dest}/${d.name}`;
    plan.add(OpCode.MKDIRS, field, `create mount point ${sub}`, sub, ctx.rootfs, "dir");
    if (ctx.cgroupns) {
      const unified = d.controllers.includes("unified");
      const fstype = unified ? "cgroup2" : "cgroup";
      const data = unified ? "" : d.controllers.join(",");
      const what = `mount ${fstype} ${data || d.name} on ${sub}`;
      plan.add(OpCode.MOUNT, field, what, fstype, sub, fstype, (subFlags | ro) >>> 0, data, ctx.rootfs);
    } else {
      addBind(plan, field, d.dir, sub, ctx.rootfs);
      addBindRemount(plan, field, sub, subFlags | ro, ctx.rootfs);
    }
    if (d.name.includes(",")) {
      for (const part of d.name.split(",")) {
        plan.add(OpCode.SYMLINK, field, `link ${dest}/${part} to ${d.name}`, d.name, `${dest}/${part}`, ctx.rootfs);
      }
    }
  }
  if (ro) {
    plan.add(
      OpCode.MOUNT,
      field,
      `remount ${dest} read-only`,
      "",
      dest,
      "",
      MS.REMOUNT | MS.BIND | MS.RDONLY | SAFE_FLAGS,
      "",
      ctx.rootfs,
    );
  }
}

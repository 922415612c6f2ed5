// config.json mounts -> MOUNT/MKDIRS/MOUNT_SETATTR ops, the way runc sets up a rootfs:
// option parsing (libcontainer/specconv), bind + remount, propagation as separate mount(2) calls,
// recursive attributes through mount_setattr(2), and runc's tmpfs-based cgroup v1 mount.
import { statSync } from "node:fs";
import { posix } from "node:path";
import { fieldError } from "../errors.js";
import type { Mount } from "../spec/types.js";
import { OpCode, type Plan } from "./plan.js";

// mount(2) flags (linux/mount.h)
export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_SYNCHRONOUS = 16;
export const MS_REMOUNT = 32;
export const MS_MANDLOCK = 64;
export const MS_DIRSYNC = 128;
export const MS_NOSYMFOLLOW = 256;
export const MS_NOATIME = 1024;
export const MS_NODIRATIME = 2048;
export const MS_BIND = 4096;
export const MS_MOVE = 8192;
export const MS_REC = 16384;
export const MS_SILENT = 32768;
export const MS_UNBINDABLE = 1 << 17;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;
export const MS_RELATIME = 1 << 21;
export const MS_I_VERSION = 1 << 23;
export const MS_STRICTATIME = 1 << 24;
export const MS_LAZYTIME = 1 << 25;

// mount_setattr(2) attributes
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
export const MOUNT_ATTR__ATIME = 0x70;
export const MOUNT_ATTR_RELATIME = 0x0;
export const MOUNT_ATTR_NOATIME = 0x10;
export const MOUNT_ATTR_STRICTATIME = 0x20;
export const MOUNT_ATTR_NODIRATIME = 0x80;
export const MOUNT_ATTR_NOSYMFOLLOW = 0x200000;

/** option -> [clears?, MS_* flag] (runc's table, plus its "defaults/silent/loud/iversion"). */
const FLAG_OPTIONS: Record<string, [boolean, number]> = {
  defaults: [false, 0],
  ro: [false, MS_RDONLY],
  rw: [true, MS_RDONLY],
  nosuid: [false, MS_NOSUID],
  suid: [true, MS_NOSUID],
  nodev: [false, MS_NODEV],
  dev: [true, MS_NODEV],
  noexec: [false, MS_NOEXEC],
  exec: [true, MS_NOEXEC],
  sync: [false, MS_SYNCHRONOUS],
  async: [true, MS_SYNCHRONOUS],
  dirsync: [false, MS_DIRSYNC],
  remount: [false, MS_REMOUNT],
  mand: [false, MS_MANDLOCK],
  nomand: [true, MS_MANDLOCK],
  noatime: [false, MS_NOATIME],
  atime: [true, MS_NOATIME],
  nodiratime: [false, MS_NODIRATIME],
  diratime: [true, MS_NODIRATIME],
  relatime: [false, MS_RELATIME],
  norelatime: [true, MS_RELATIME],
  strictatime: [false, MS_STRICTATIME],
  nostrictatime: [true, MS_STRICTATIME],
  lazytime: [false, MS_LAZYTIME],
  nolazytime: [true, MS_LAZYTIME],
  nosymfollow: [false, MS_NOSYMFOLLOW],
  symfollow: [true, MS_NOSYMFOLLOW],
  silent: [false, MS_SILENT],
  loud: [true, MS_SILENT],
  iversion: [false, MS_I_VERSION],
  noiversion: [true, MS_I_VERSION],
  bind: [false, MS_BIND],
  rbind: [false, MS_BIND | MS_REC],
};

/** Propagation keywords, as mount options and as linux.rootfsPropagation. */
export const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

/** option -> [clears?, MOUNT_ATTR_*]; always applied recursively (AT_RECURSIVE). */
const RECURSIVE_ATTRS: Record<string, [boolean, number]> = {
  rro: [false, MOUNT_ATTR_RDONLY],
  rrw: [true, MOUNT_ATTR_RDONLY],
  rnosuid: [false, MOUNT_ATTR_NOSUID],
  rsuid: [true, MOUNT_ATTR_NOSUID],
  rnodev: [false, MOUNT_ATTR_NODEV],
  rdev: [true, MOUNT_ATTR_NODEV],
  rnoexec: [false, MOUNT_ATTR_NOEXEC],
  rexec: [true, MOUNT_ATTR_NOEXEC],
  rnodiratime: [false, MOUNT_ATTR_NODIRATIME],
  rdiratime: [true, MOUNT_ATTR_NODIRATIME],
  rrelatime: [false, MOUNT_ATTR_RELATIME],
  rnorelatime: [true, MOUNT_ATTR_RELATIME],
  rnoatime: [false, MOUNT_ATTR_NOATIME],
  ratime: [true, MOUNT_ATTR_NOATIME],
  rstrictatime: [false, MOUNT_ATTR_STRICTATIME],
  rnostrictatime: [true, MOUNT_ATTR_STRICTATIME],
  rnosymfollow: [false, MOUNT_ATTR_NOSYMFOLLOW],
  rsymfollow: [true, MOUNT_ATTR_NOSYMFOLLOW],
};

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

/** Parse a mount's options; `field` is the options' path (`mounts[2].options`). */
export function parseMountOptions(options: readonly string[] | undefined, field: string): MountOptions {
  const r: MountOptions = { flags: 0, clearFlags: 0, propagation: [], attrSet: 0, attrClr: 0, recursive: false, data: "" };
  const data: string[] = [];
  (options ?? []).forEach((opt, i) => {
    if (Object.hasOwn(FLAG_OPTIONS, opt)) {
      const [clear, flag] = FLAG_OPTIONS[opt];
      if (clear) {
        r.flags &= ~flag;
        r.clearFlags |= flag;
      } else {
        r.flags |= flag;
        r.clearFlags &= ~flag;
      }
    } else if (Object.hasOwn(PROPAGATION, opt)) {
      r.propagation.push(PROPAGATION[opt]);
    } else if (Object.hasOwn(RECURSIVE_ATTRS, opt)) {
      const [clear, attr] = RECURSIVE_ATTRS[opt];
      r.recursive = true;
      if (clear) {
        r.attrClr |= attr;
        r.attrSet &= ~attr;
      } else {
        r.attrSet |= attr;
        r.attrClr &= ~attr;
        // The access-time attributes are a 3-bit enum: setting one needs _ATIME in attr_clr.
        if ((attr & MOUNT_ATTR__ATIME) === attr) r.attrClr |= MOUNT_ATTR__ATIME;
      }
    } else if (opt === "idmap" || opt === "ridmap") {
      throw fieldError(`${field}[${i}]`, `"${opt}" (id-mapped mounts) is not supported`);
    } else if (opt !== "") {
      data.push(opt);
    }
  });
  r.flags >>>= 0;
  r.data = data.join(",");
  return r;
}

/** MS_* for linux.rootfsPropagation; undefined when unset (runc then uses MS_SLAVE|MS_REC). */
export function rootfsPropagationFlags(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!Object.hasOwn(PROPAGATION, value)) {
    throw fieldError("linux.rootfsPropagation", `unknown propagation "${value}" (expected one of ${Object.keys(PROPAGATION).join(", ")})`);
  }
  return PROPAGATION[value];
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
}

/** A tmpfs (or /dev) asked to be read-only is mounted rw, filled, and remounted ro after pivot. */
export interface DeferredRemount {
  field: string;
  destination: string;
  flags: number;
}

const SAFE_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC;

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
    planBindMount(plan, m, field, dest, opts, ctx);
    return undefined;
  }

  let flags = opts.flags;
  let deferred: DeferredRemount | undefined;
  // runc: tmpfs mounts and /dev get files created in them (devices, chmod), so a read-only one is
  // mounted writable first and made read-only once the rootfs is finished.
  if ((type === "tmpfs" || dest === "/dev") && flags & MS_RDONLY) {
    flags &= ~MS_RDONLY;
    deferred = { field, destination: dest, flags: opts.flags };
  }
  plan.add(OpCode.MKDIRS, field, `create mount point ${dest}`, dest, ctx.rootfs, "dir");
  const what = `mount ${type || "filesystem"} on ${dest}`;
  plan.add(OpCode.MOUNT, field, what, m.source ?? type, dest, type, flags >>> 0, opts.data, ctx.rootfs);
  addPropagation(plan, field, dest, opts.propagation, ctx.rootfs);
  addSetattr(plan, field, dest, opts, ctx.rootfs);
  return deferred;
}

function planBindMount(plan: Plan, m: Mount, field: string, dest: string, opts: MountOptions, ctx: MountContext): void {
  let source = m.source ?? "";
  if (!source) throw fieldError(`${field}.source`, "a bind mount needs a source");
  if (!posix.isAbsolute(source) && ctx.bundle) source = posix.join(ctx.bundle, source);
  const kind = ctx.sourceKind(source);
  if (kind === "missing") throw fieldError(`${field}.source`, `stat ${source}: no such file or directory (ENOENT)`);
  // Without "bind"/"rbind" in the options the type alone made it a bind: recursive, like crun.
  const explicit = (m.options ?? []).some((o) => o === "bind" || o === "rbind");
  const bindFlags = MS_BIND | (explicit ? opts.flags & MS_REC : MS_REC);
  plan.add(OpCode.MKDIRS, field, `create mount point ${dest}`, dest, ctx.rootfs, kind);
  plan.add(OpCode.MOUNT, field, `bind mount ${source} on ${dest}`, source, dest, "", bindFlags, "", ctx.rootfs);
  addPropagation(plan, field, dest, opts.propagation, ctx.rootfs);
  // A bind mount ignores every flag but MS_REC: ro, nosuid… need a bind-remount.
  const extra = opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  if (extra) addBindRemount(plan, field, dest, extra, ctx.rootfs);
  addSetattr(plan, field, dest, opts, ctx.rootfs);
}

/** MS_REMOUNT|MS_BIND: change a bind mount's per-mount flags (works in a user ns too). */
function addBindRemount(plan: Plan, field: string, target: string, flags: number, scope: string): void {
  const what = `remount ${target} with ${describeFlags(flags)}`;
  plan.add(OpCode.MOUNT, field, what, "", target, "", (MS_REMOUNT | MS_BIND | flags) >>> 0, "", scope);
}

function addBind(plan: Plan, field: string, source: string, target: string, scope: string): void {
  plan.add(OpCode.MOUNT, field, `bind mount ${source} on ${target}`, source, target, "", MS_BIND | MS_REC, "", scope);
}

function addPropagation(plan: Plan, field: string, dest: string, propagation: number[], scope: string): void {
  for (const p of propagation) {
    plan.add(OpCode.MOUNT, field, `make ${dest} ${propagationName(p)}`, "", dest, "", p, "", scope);
  }
}

function addSetattr(plan: Plan, field: string, dest: string, opts: MountOptions, scope: string): void {
  if (!opts.recursive) return;
  plan.add(OpCode.MOUNT_SETATTR, field, `set recursive mount attributes on ${dest}`, dest, scope, opts.attrSet, opts.attrClr, 0, 1);
}

export function propagationName(flags: number): string {
  for (const [name, v] of Object.entries(PROPAGATION)) if (v === flags) return name;
  return `propagation ${flags}`;
}

const FLAG_NAMES: [number, string][] = [
  [MS_RDONLY, "ro"],
  [MS_NOSUID, "nosuid"],
  [MS_NODEV, "nodev"],
  [MS_NOEXEC, "noexec"],
  [MS_SYNCHRONOUS, "sync"],
  [MS_MANDLOCK, "mand"],
  [MS_DIRSYNC, "dirsync"],
  [MS_NOSYMFOLLOW, "nosymfollow"],
  [MS_NOATIME, "noatime"],
  [MS_NODIRATIME, "nodiratime"],
  [MS_SILENT, "silent"],
  [MS_RELATIME, "relatime"],
  [MS_I_VERSION, "iversion"],
  [MS_STRICTATIME, "strictatime"],
  [MS_LAZYTIME, "lazytime"],
];

/** "ro,nosuid" for error messages. */
export function describeFlags(flags: number): string {
  return FLAG_NAMES.filter(([f]) => flags & f).map(([, n]) => n).join(",") || "no flags";
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
  const flags = opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
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
  const subFlags = (flags | SAFE_FLAGS) & ~MS_RDONLY;
  const ro = flags & MS_RDONLY;
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
        plan.add(OpCode.SYMLINK, field, `link ${dest}/${part} to ${d.name}`, d.name, posix.join(ctx.rootfs, dest, part));
      }
    }
  }
  if (ro) {
    plan.add(OpCode.MOUNT, field, `remount ${dest} read-only`, "", dest, "", MS_REMOUNT | MS_BIND | MS_RDONLY | SAFE_FLAGS, "", ctx.rootfs);
  }
}

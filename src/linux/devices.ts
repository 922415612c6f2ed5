// The device nodes and /dev symlinks a container gets (runc's createDevices, setupPtmx,
// setupDevSymlinks), as MKDIRS/MKNOD/MOUNT/SYMLINK ops run before pivot_root. Every path is the
// container's, resolved by the shim inside the rootfs (scope): a symlinked /dev stays in it.
import { posix } from "node:path";
import { fieldError } from "../errors.js";
import { MS } from "../spec/names.js";
import type { Device, Spec } from "../spec/types.js";
import { OpCode, type Plan } from "./plan.js";

export interface DeviceNode {
  path: string;
  type: "c" | "b" | "p" | "u";
  major: number;
  minor: number;
  /** permission bits only (no S_IFMT) */
  fileMode: number;
  uid: number;
  gid: number;
  /** where it came from: `linux.devices[2]`, or `linux.devices` for a default one */
  field: string;
}

const def = (path: string, major: number, minor: number): DeviceNode => ({
  path,
  type: "c",
  major,
  minor,
  fileMode: 0o666,
  uid: 0,
  gid: 0,
  field: "linux.devices",
});

/** The devices every container gets, in runc's order (specconv.AllowedDevices). */
export const DEFAULT_DEVICES: readonly DeviceNode[] = [
  def("/dev/null", 1, 3),
  def("/dev/random", 1, 8),
  def("/dev/full", 1, 7),
  def("/dev/tty", 5, 0),
  def("/dev/zero", 1, 5),
  def("/dev/urandom", 1, 9),
];

const S_IFMT = 0o170000;

/** Defaults (minus those linux.devices redefines: the config wins) followed by linux.devices. */
export function deviceList(spec: Spec): DeviceNode[] {
  const own = spec.linux?.devices ?? [];
  const ownPaths = new Set(own.map((d) => cleanDevicePath(d.path)));
  const out = DEFAULT_DEVICES.filter((d) => !ownPaths.has(d.path));
  for (const [i, d] of own.entries()) out.push(fromConfig(d, i));
  return out;
}

/** runc cleans the path (SecureJoin): "/dev/kmsg/" and "/dev//kmsg" are /dev/kmsg. */
export function cleanDevicePath(path: string): string {
  return posix.normalize(path).replace(/(.)\/+$/, "$1");
}

function fromConfig(d: Device, i: number): DeviceNode {
  const field = `linux.devices[${i}]`;
  if (!["c", "b", "p", "u"].includes(d.type)) throw fieldError(`${field}.type`, `unknown device type "${d.type}"`);
  if (!posix.isAbsolute(d.path)) throw fieldError(`${field}.path`, "must be an absolute path");
  if (d.type !== "p" && (d.major === undefined || d.minor === undefined)) {
    throw fieldError(field, `a "${d.type}" device needs major and minor`);
  }
  return {
    path: cleanDevicePath(d.path),
    type: d.type as DeviceNode["type"],
    major: d.major ?? 0,
    minor: d.minor ?? 0,
    fileMode: d.fileMode === undefined ? 0o666 : d.fileMode & ~S_IFMT,
    uid: d.uid ?? 0,
    gid: d.gid ?? 0,
    field,
  };
}

export interface DeviceContext {
  rootfs: string;
  /** a new user namespace: mknod(2) is not allowed there, so bind the host's node instead */
  userns: boolean;
  /** /proc/kcore exists on the host (runc links /dev/core to it only then) */
  hostHasKcore: boolean;
}

/** Device nodes, the /dev/ptmx link to the devpts instance, and the /dev/fd & co. links. */
export function planDevices(plan: Plan, spec: Spec, ctx: DeviceContext): void {
  const made = new Set<string>();
  for (const d of deviceList(spec)) {
    // /dev/ptmx is the devpts instance's (below), never a node of the host's.
    if (d.path === "/dev/ptmx") continue;
    if (ctx.userns) {
      plan.add(OpCode.MKDIRS, d.field, `create mount point for ${d.path}`, d.path, ctx.rootfs, "file");
      plan.add(OpCode.MOUNT, d.field, `bind mount the host's ${d.path}`, d.path, d.path, "", MS.BIND, "", ctx.rootfs);
    } else {
      const dir = posix.dirname(d.path);
      if (!made.has(dir)) plan.add(OpCode.MKDIRS, d.field, `create ${dir}`, dir, ctx.rootfs, "dir");
      made.add(dir);
      plan.add(
        OpCode.MKNOD,
        d.field,
        `create device ${d.path} (${d.type} ${d.major}:${d.minor})`,
        d.path,
        d.type,
        d.major,
        d.minor,
        d.fileMode,
        d.uid,
        d.gid,
        ctx.rootfs,
      );
    }
  }
  const links: [string, string][] = [
    ["pts/ptmx", "/dev/ptmx"],
    ["/proc/self/fd", "/dev/fd"],
    ["/proc/self/fd/0", "/dev/stdin"],
    ["/proc/self/fd/1", "/dev/stdout"],
    ["/proc/self/fd/2", "/dev/stderr"],
  ];
  if (ctx.hostHasKcore) links.push(["/proc/kcore", "/dev/core"]);
  for (const [target, link] of links) {
    plan.add(OpCode.SYMLINK, "linux.devices", `link ${link} to ${target}`, target, link, ctx.rootfs);
  }
}

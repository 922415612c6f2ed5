// The image config's `Volumes`, as podman and docker make them: each path becomes a writable
// mount of its own, pre-filled from the image's content at that path. polis has no daemon and no
// volume store, so a volume is a directory inside the container's bundle (<bundle>/volumes/),
// bind-mounted at its path in config.json, and goes when the bundle goes (the image-bundle
// release of `delete`). Writes there bypass the overlay's upper directory, as in podman.
import {
  chmodSync,
  copyFileSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  type Stats,
} from "node:fs";
import { join, posix } from "node:path";
import { PolisError } from "../errors.js";
import type { Mount } from "../spec/types.js";
import type { ImageConfig } from "./image-config.js";
import { lgetxattrs, lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO, splitDev } from "./libc.js";
import { resolveInRoot } from "./runtime-spec.js";

/** podman's options for a volume: no set-id programs and no device nodes through it. */
const VOLUME_OPTIONS = ["rbind", "nosuid", "nodev"];

/** The volume paths of `config`, checked: absolute, not `/`, once each (normalised). */
export function volumePaths(config: ImageConfig, image: string): string[] {
  const volumes = config.config?.Volumes;
  if (volumes === undefined || volumes === null) return [];
  if (typeof volumes !== "object" || Array.isArray(volumes)) {
    throw new PolisError(`${image}: config.Volumes must be an object of paths`);
  }
  const out = new Set<string>();
  for (const key of Object.keys(volumes)) {
    const path = posix.normalize(key).replace(/(.)\/+$/, "$1");
    if (!key.startsWith("/") || key.includes("\0") || path === "/") {
      throw new PolisError(`${image}: config.Volumes "${key}": must be an absolute path below /`);
    }
    out.add(path);
  }
  return [...out].sort();
}

/**
 * Makes one directory per volume under `<bundle>/volumes/`, seeded with what the image has at
 * that path in `rootfs` (owners, modes, xattrs, mtimes kept), and returns their bind mounts.
 */
export function makeVolumes(bundle: string, rootfs: string, paths: string[], image: string): Mount[] {
  if (paths.length === 0) return [];
  const base = join(bundle, "volumes");
  mkdirSync(base, { mode: 0o711 });
  return paths.map((path, i) => {
    const dir = join(base, `${i}${path.replace(/\//g, "-")}`);
    const seed = resolveInRoot(rootfs, path);
    const st = seed ? lstatSync(seed) : undefined;
    if (st && !st.isDirectory()) {
      throw new PolisError(`${image}: config.Volumes "${path}": the image has a file there, not a directory`);
    }
    mkdirSync(dir, { mode: 0o755 });
    if (seed && st) {
      for (const name of readdirSync(seed)) copyTree(join(seed, name), join(dir, name));
      copyMetadata(seed, dir, st);
    }
    return { destination: path, type: "bind", source: dir, options: [...VOLUME_OPTIONS] };
  });
}

/** A copy of `from` at `to` with its owner, mode, xattrs and mtime (hard links become copies). */
function copyTree(from: string, to: string): void {
  const st = lstatSync(from);
  if (st.isDirectory()) {
    mkdirSync(to, { mode: 0o700 });
    for (const name of readdirSync(from)) copyTree(join(from, name), join(to, name));
  } else if (st.isFile()) {
    copyFileSync(from, to);
  } else if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(from), to);
  } else {
    const kind = st.isCharacterDevice() ? S_IFCHR : st.isBlockDevice() ? S_IFBLK : S_IFIFO;
    mknod(to, kind | (st.mode & 0o777), ...splitDev(st.rdev));
  }
  copyMetadata(from, to, st);
}

function copyMetadata(from: string, to: string, st: Stats): void {
  if (process.geteuid?.() === 0) lchownSync(to, st.uid, st.gid);
  if (!st.isSymbolicLink()) chmodSync(to, st.mode & 0o7777);
  for (const [name, value] of lgetxattrs(from)) {
    if (!name.startsWith("trusted.overlay.")) lsetxattr(to, name, value);
  }
  lutimesSync(to, st.atime, st.mtime);
}

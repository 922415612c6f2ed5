// The release seam's half for images (src/resources/release.ts, kind "image-bundle"): unmount
// the bundle's overlay rootfs and remove the bundle directory polis made for `run|create --image`.
// Idempotent: a second call, or one after a reboot (the mount is gone), finds less to do.
import { existsSync, readdirSync, renameSync, rm, rmSync, statfsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { GlobalOptions } from "../container/options.js";
import { PolisError } from "../errors.js";
import type { Store } from "../state/store.js";
import type { ResourceRow } from "../state/types.js";
import { unmount } from "./libc.js";
import { phase } from "../timing.js";

export interface ImageBundleData {
  image: string;
  dir: string;
}

export async function release(_g: GlobalOptions, _store: Store, row: ResourceRow): Promise<void> {
  const data = row.data as ImageBundleData;
  if (typeof data?.dir !== "string" || !data.dir.startsWith("/")) {
    throw new PolisError(`container ${row.containerId}: image-bundle resource without a bundle directory`);
  }
  const rootfs = join(data.dir, "rootfs");
  // only a host mount needs the FFI (~10 ms to load): an overlay mounted in the container's own
  // namespace went with it (src/image/bundle.ts)
  if (isMountPoint(rootfs, data.dir)) unmount(rootfs);
  phase("image unmount");
  try {
    await removeBundle(data.dir);
  } catch (e) {
    // a tree deeper than PATH_MAX the container made in its upper directory (or a volume)
    if ((e as NodeJS.ErrnoException).code !== "ENAMETOOLONG") throw e;
    flattenDeep(data.dir);
    await removeBundle(data.dir);
  }
  phase("image bundle removal");
}

/**
 * A bundle is a few entries: config.json, rootfs, upper, and work/ five levels deep with the
 * `volatile` marker overlayfs leaves. On a tmpfs, where no metadata change waits for a disk, one
 * synchronous call is fastest (0.8 ms, against 4.4 ms for node's asynchronous rm: ~15 trips through
 * libuv's threads one after the other). On a disk file system each change may wait for the
 * journal: the asynchronous rm removes a directory's entries in parallel and pays that wait about
 * once per level: 12.8 ms against 26.2 ms for rmSync on this VM's busy disk (on a quiet one rmSync
 * wins, 1.5 against 5.2 ms, but the busy disk is where the time goes). Medians of 21-25 alternating
 * runs of `run --image`.
 */
async function removeBundle(dir: string): Promise<void> {
  if (onTmpfs(dir)) return rmSync(dir, { recursive: true, force: true });
  // node:fs's callback form: node:fs/promises is one more module to load (~1.5 ms)
  await new Promise<void>((res, rej) => rm(dir, { recursive: true, force: true }, (e) => (e ? rej(e) : res())));
}

const TMPFS_MAGIC = 0x01021994;

function onTmpfs(dir: string): boolean {
  try {
    return Number(statfsSync(dir).type) === TMPFS_MAGIC;
  } catch {
    return false; // gone already: rm's force makes that a no-op either way
  }
}

/** `path` is on another file system than `parent` (an overlay's own device); gone = not mounted. */
function isMountPoint(path: string, parent: string): boolean {
  try {
    return statSync(path).dev !== statSync(parent).dev;
  } catch {
    return false;
  }
}

/** Directories whose path is longer than this are moved up (every path under one is then < PATH_MAX). */
const DEEP = 2048;

/**
 * Makes a tree removable by path: every directory deeper than DEEP characters is renamed to a
 * short name directly under `dir` (both paths still fit in PATH_MAX), pass after pass, until
 * none is left. What a container can make in its writable layer bounds nothing here: it can
 * create a tree of any depth with relative paths, which rm by full paths then cannot remove
 * (ENAMETOOLONG), leaving the bundle and its row to nobody. Same as run_image.c's flatten_deep.
 */
export function flattenDeep(dir: string): void {
  let n = 0;
  const walk = (d: string): number => {
    let moved = 0;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const child = join(d, e.name);
      if (child.length > DEEP) {
        let to = join(dir, `.polis-deep-${n++}`);
        while (existsSync(to)) to = join(dir, `.polis-deep-${n++}`); // left by a release that died
        renameSync(child, to);
        moved++;
      } else {
        moved += walk(child);
      }
    }
    return moved;
  };
  while (walk(dir) > 0) {}
}

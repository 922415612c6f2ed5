// An OCI bundle (config.json + rootfs) from a pulled image. Two ways to make the rootfs:
//   overlay: overlayfs over the shared unpacked layers, with the container's own upper and work
//            directories beside it: nothing is copied, the first container pays no more than
//            the tenth (`run --image`, when the kernel allows the mount)
//   copy:    every layer applied in order onto a plain directory (`polis bundle`, and the
//            fallback when overlayfs is not available)
// The overlay is mounted on the host (polis's koffi mount, unmounted by delete), except for a
// container that lives only as long as one foreground `run` (`ephemeral`): its config.json
// mounts the overlay itself, as mounts[0] on "/", inside the container's own mount namespace
// (native/PROTOCOL.md's MOUNT, scoped to the rootfs), `volatile` (no sync of the upper file
// system when it goes). The host then never sees the mount: nothing to unmount, nothing to leak,
// no FFI to load, and the upper file system is not synced at the end (overlayfs's unmount syncs
// the whole file system the upper directory is on: 5-20 ms here, far more under load). It needs a
// config that reads nothing through the merged tree on the host first (no Volumes to seed, no
// User to look up in /etc/passwd).
// The image's Volumes become directories under <bundle>/volumes/, bind-mounted (volumes.ts).
import { mkdir, mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import type { Mount } from "../spec/types.js";
import type { Store } from "../state/store.js";
import { layersOf, type ImageRow } from "../state/images.js";
import { blobPath, chainIds, hasBlob, hasLayer, layerDir, lease, release } from "./content.js";
import { resolveImage } from "./catalog.js";
import type { ImageConfig } from "./image-config.js";
import { mountOverlay } from "./libc.js";
import { unpackInto } from "./layer-store.js";
import { imageSpec } from "./runtime-spec.js";
import { phase } from "../timing.js";
import { makeVolumes, volumePaths } from "./volumes.js";
import { recordRunTemplate, runsWithoutRootfs } from "./run-template.js";

export type RootfsMode = "overlay" | "copy";

export interface BundleOptions {
  /** the bundle directory; made here, must not exist yet (its parent may not either) */
  dir: string;
  mode: RootfsMode;
  args?: string[];
  hostname?: string;
  /** the container goes with the one foreground `run` that made it: mount the overlay in its own
   *  mount namespace where the config allows (see the top of this file) */
  ephemeral?: boolean;
  /** records the bundle as a container's resource before its directory is made (run|create --image) */
  recorder?: { record(image: ImageRow): void; forget(): void };
}

export interface Bundle {
  dir: string;
  image: ImageRow;
  mode: RootfsMode;
}

export async function makeBundle(store: Store, root: string, ref: string, o: BundleOptions): Promise<Bundle> {
  const { image } = resolveImage(store, ref);
  const layers = layersOf(store, image.id);
  const config = JSON.parse(image.config) as ImageConfig;
  const volumes = volumePaths(config, ref);
  const chains = chainIds(layers.map((l) => l.diffId));
  lease(store, [image.id, ...layers.flatMap((l) => [l.digest, l.diffId]), ...chains]);
  try {
    for (const [i, l] of layers.entries()) {
      if (!hasBlob(root, l.digest) && !hasLayer(root, chains[i])) {
        throw new PolisError(`${ref}: layer ${l.digest} is missing from the store: pull the image again`);
      }
    }
    mkdirSync(join(o.dir, ".."), { recursive: true });
    // recorded before the directory exists, so that a polis killed right after mkdir leaves a
    // row for `delete --force` to find; taken back unreleased if the directory is someone else's
    o.recorder?.record(image);
    try {
      mkdirSync(o.dir, { mode: 0o711 });
    } catch (e) {
      o.recorder?.forget();
      if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new PolisError(`bundle directory ${o.dir} already exists`);
      throw e;
    }
    const rootfs = join(o.dir, "rootfs");
    const upper = join(o.dir, "upper");
    const work = join(o.dir, "work");
    let mode: RootfsMode = o.mode === "overlay" && layers.length > 0 ? "overlay" : "copy";
    let rootMount: Mount | undefined;
    let lower = "";
    const dirs: [string, number][] = [[rootfs, 0o755]];
    if (mode === "overlay") dirs.push([upper, 0o755], [work, 0o700]);
    await makeDirs(dirs);
    if (mode === "overlay") {
      try {
        // made from its blob when prune or an older polis (layers by diff_id) left only the blob
        for (const [i, l] of layers.entries()) await unpackInto(root, l.digest, l.diffId, chains.slice(0, i + 1));
        lower = chains
          .map((c) => layerDir(root, c))
          .reverse()
          .join(":");
        phase("image layers ready");
        const data = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
        if (o.ephemeral && volumes.length === 0 && !config.config?.User && overlayInNamespace(o.dir)) {
          rootMount = { destination: "/", type: "overlay", source: "overlay", options: [...data.split(","), "volatile"] };
        } else {
          mountOverlay(rootfs, data);
        }
      } catch (e) {
        log.warn(`overlayfs is not available (${(e as Error).message}): copying the image's layers instead`);
        mode = "copy";
        rmSync(upper, { recursive: true, force: true });
        rmSync(work, { recursive: true, force: true });
      }
      phase("image overlay mount");
    }
    if (mode === "copy") {
      const { unpackLayer } = await import("./unpack.js");
      for (const l of layers) {
        if (!hasBlob(root, l.digest))
          throw new PolisError(`${ref}: layer ${l.digest} is missing from the store: pull the image again`);
        await unpackLayer(blobPath(root, l.digest), { target: rootfs, mode: "apply", layer: l.digest, diffId: l.diffId });
      }
    }
    const spec = imageSpec(config, { rootfs, args: o.args, hostname: o.hostname, image: ref });
    // what the launcher needs to make this bundle itself next time (native/launcher/run_image.c)
    if (mode === "overlay" && volumes.length === 0 && runsWithoutRootfs(config))
      recordRunTemplate(store, image, config, lower, ref);
    const mounts = makeVolumes(o.dir, rootfs, volumes, ref);
    if (mounts.length) spec.mounts = [...(spec.mounts ?? []), ...mounts];
    // first: every later mount lands in the merged tree
    if (rootMount) spec.mounts = [rootMount, ...(spec.mounts ?? [])];
    writeFileSync(join(o.dir, "config.json"), JSON.stringify(spec, null, "\t"));
    return { dir: o.dir, image, mode };
  } finally {
    release(store);
  }
}

/**
 * Sibling directories made at once on libuv's threads: on a loaded disk each metadata change
 * waits (1-3 ms here), in parallel they wait about once. Every mkdir has ended when this returns,
 * so a failure leaves nothing in flight for the cleanup to race with.
 */
async function makeDirs(dirs: ReadonlyArray<readonly [string, number]>): Promise<void> {
  // node:fs's callbacks: node:fs/promises is one more module to load (~1.5 ms)
  const one = ([d, mode]: readonly [string, number]) =>
    new Promise<void>((res, rej) => mkdir(d, { mode }, (e) => (e ? rej(e) : res())));
  const done = await Promise.allSettled(dirs.map(one));
  const failed = done.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * File systems an overlay's upper directory is known to work on (statfs f_type): ext2/3/4, xfs,
 * btrfs, tmpfs, f2fs. Not overlayfs itself (a container's own root refuses it), nor NFS or FUSE.
 */
const UPPER_FILE_SYSTEMS = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994, 0xf2f52010]);

/**
 * Whether a mount made later by the container's shim will work, known without trying it here
 * (a failure there is too late for the copy fallback): the kernel lists overlayfs (not listed =
 * module not loaded yet: the host mount's attempt loads it), and the bundle is on a file system
 * known to hold an upper directory. Anything else takes the host mount, which falls back to a copy.
 */
function overlayInNamespace(dir: string): boolean {
  try {
    if (!/\toverlay$/m.test(readFileSync("/proc/filesystems", "utf8"))) return false;
    return UPPER_FILE_SYSTEMS.has(Number(statfsSync(dirname(dir)).type));
  } catch {
    return false;
  }
}

// An OCI bundle (config.json + rootfs) from a pulled image. Two ways to make the rootfs:
//   overlay: overlayfs over the shared unpacked layers, with the container's own upper and work
//            directories beside it: nothing is copied, the first container pays no more than
//            the tenth (`run --image`, when the kernel allows the mount)
//   copy:    every layer applied in order onto a plain directory (`polis bundle`, and the
//            fallback when overlayfs is not available)
// The image's Volumes become directories under <bundle>/volumes/, bind-mounted (volumes.ts).
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import type { Store } from "../state/store.js";
import { layersOf, type ImageRow } from "../state/images.js";
import { blobPath, chainIds, hasBlob, hasLayer, layerDir, lease, release } from "./content.js";
import { resolveImage } from "./catalog.js";
import type { ImageConfig } from "./image-config.js";
import { mountOverlay } from "./libc.js";
import { unpackInto } from "./layer-store.js";
import { imageSpec } from "./runtime-spec.js";
import { makeVolumes, volumePaths } from "./volumes.js";
import { unpackLayer } from "./unpack.js";

export type RootfsMode = "overlay" | "copy";

export interface BundleOptions {
  /** the bundle directory; made here, must not exist yet (its parent may not either) */
  dir: string;
  mode: RootfsMode;
  args?: string[];
  hostname?: string;
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
    mkdirSync(rootfs, { mode: 0o755 });
    let mode = o.mode;
    if (mode === "overlay" && layers.length > 0) {
      try {
        // made from its blob when prune or an older polis (layers by diff_id) left only the blob
        for (const [i, l] of layers.entries()) await unpackInto(root, l.digest, l.diffId, chains.slice(0, i + 1));
        const lower = chains
          .map((c) => layerDir(root, c))
          .reverse()
          .join(":");
        mkdirSync(join(o.dir, "upper"), { mode: 0o755 });
        mkdirSync(join(o.dir, "work"), { mode: 0o700 });
        mountOverlay(rootfs, `lowerdir=${lower},upperdir=${join(o.dir, "upper")},workdir=${join(o.dir, "work")}`);
      } catch (e) {
        log.warn(`overlayfs is not available (${(e as Error).message}): copying the image's layers instead`);
        mode = "copy";
        rmSync(join(o.dir, "upper"), { recursive: true, force: true });
        rmSync(join(o.dir, "work"), { recursive: true, force: true });
      }
    } else {
      mode = "copy";
    }
    if (mode === "copy") {
      for (const l of layers) {
        if (!hasBlob(root, l.digest))
          throw new PolisError(`${ref}: layer ${l.digest} is missing from the store: pull the image again`);
        await unpackLayer(blobPath(root, l.digest), { target: rootfs, mode: "apply", layer: l.digest, diffId: l.diffId });
      }
    }
    const spec = imageSpec(config, { rootfs, args: o.args, hostname: o.hostname, image: ref });
    const mounts = makeVolumes(o.dir, rootfs, volumes, ref);
    if (mounts.length) spec.mounts = [...(spec.mounts ?? []), ...mounts];
    writeFileSync(join(o.dir, "config.json"), JSON.stringify(spec, null, "\t"));
    return { dir: o.dir, image, mode };
  } finally {
    release(store);
  }
}

// The images room's step in `polis run|create --image REF [--bundle-dir DIR] ID [-- ARGS]`
// (src/engine/run.ts): a bundle under the state root (or DIR) with an overlay rootfs over the
// image's shared layers, recorded as the container's "image-bundle" resource before anything is
// made, so that `delete` (or `delete --force` after a polis killed half-way) removes it.
import { join } from "node:path";
import type { GlobalOptions } from "../container/options.js";
import { PolisError } from "../errors.js";
import { ContainerExistsError } from "../state/types.js";
import type { Store } from "../state/store.js";
import { withStore } from "./api.js";
import { makeBundle } from "./bundle.js";
import { resolveImage } from "./catalog.js";
import type { ImageConfig } from "./image-config.js";
import { release, type ImageBundleData } from "./release.js";

export const RESOURCE_KIND = "image-bundle";

export function bundlesDir(root: string): string {
  return join(root, "bundles");
}

/** The Healthcheck in `ref`'s config (docker's), read before the bundle: it decides whether a monitor runs. */
export async function imageHealthcheck(
  g: GlobalOptions,
  ref: string,
): Promise<NonNullable<ImageConfig["config"]>["Healthcheck"]> {
  return withStore(g, (store) => (JSON.parse(resolveImage(store, ref).image.config) as ImageConfig).config?.Healthcheck);
}

/** Makes the bundle for container `id` from `ref`; returns its directory. */
export async function imageBundle(
  g: GlobalOptions,
  id: string,
  ref: string,
  bundleDir: string | undefined,
  args: string[],
  ephemeral = false,
): Promise<string> {
  return withStore(g, async (store) => {
    if (store.get(id)) throw new ContainerExistsError(id);
    const dir = bundleDir ?? join(bundlesDir(g.root), id);
    let recorded = false;
    try {
      await makeBundle(store, g.root, ref, {
        dir,
        mode: "overlay",
        args,
        hostname: id,
        ephemeral,
        recorder: {
          record: (image) => {
            const data: ImageBundleData = { image: image.id, dir };
            // Checked and recorded under one write lock: a row of this bundle already there is
            // another run's (of the same id, between its record and its container row) or one
            // killed half-way. Replaced here, it would be forgotten when the mkdir below finds
            // their directory, and with it their bundle (and mount) left to nobody.
            store.transaction(() => {
              if (store.get(id)) throw new ContainerExistsError(id);
              if (store.resourcesOf(id).some((r) => r.kind === RESOURCE_KIND && r.name === dir)) {
                throw new PolisError(
                  `bundle directory ${dir} is recorded for container ${id} already (another run of it, or one killed half-way: polis delete --force ${id})`,
                );
              }
              store.addResource(id, RESOURCE_KIND, dir, data);
            });
            recorded = true;
          },
          forget: () => {
            store.removeResource(id, RESOURCE_KIND, dir);
            recorded = false;
          },
        },
      });
    } catch (e) {
      if (recorded) await forget(g, store, id, dir);
      throw e;
    }
    return dir;
  });
}

/** Undo imageBundle when the create after it failed before the container row existed. */
export async function dropImageBundle(g: GlobalOptions, id: string, dir: string): Promise<void> {
  await withStore(g, async (store) => {
    if (store.get(id)) return; // the core's cleanup owns it now
    if (!store.resourcesOf(id).some((r) => r.kind === RESOURCE_KIND && r.name === dir)) return;
    await forget(g, store, id, dir);
  });
}

async function forget(g: GlobalOptions, store: Store, id: string, dir: string): Promise<void> {
  await release(g, store, { containerId: id, kind: RESOURCE_KIND, name: dir, data: { dir } });
  store.removeResource(id, RESOURCE_KIND, dir);
}

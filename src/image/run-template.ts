// An image's run template (table image_run_templates): the config.json node makes for it, kept so
// that the native launcher can do a foreground `run --image` without node
// (native/launcher/run_image.c). The launcher fills in only what belongs to the container: the
// hostname (its id), process.args (Entrypoint + the user's arguments, when given) and the overlay
// mount first in mounts (upperdir/workdir in the container's bundle). Everything else is
// imageSpec's own output, so both paths write the same config.json.
import type { Store } from "../state/store.js";
import { runTemplateOf, setRunTemplate, type ImageRow, type LayerRow } from "../state/images.js";
import { chainIds, layerDir } from "./content.js";
import type { ImageConfig } from "./image-config.js";
import { imageSpec } from "./runtime-spec.js";

const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

/**
 * Records (or refreshes) `image`'s template, for an image whose bundle is an overlay over
 * `lower` and whose config reads nothing from its rootfs (the caller checks: no Volumes, no
 * User). Images the launcher could not fill in exactly (no command of their own, an Entrypoint
 * or Cmd that is not a list of strings) get none: their runs stay node's.
 */
export function recordRunTemplate(store: Store, image: ImageRow, config: ImageConfig, lower: string, ref: string): void {
  const c = config.config ?? {};
  if (!strings(c.Entrypoint ?? []) || !strings(c.Cmd ?? [])) return;
  let spec: string;
  try {
    spec = JSON.stringify(imageSpec(config, { rootfs: "", image: ref }));
  } catch {
    return; // no Entrypoint or Cmd: node's error, every time
  }
  const row = { image: image.id, spec, entrypoint: JSON.stringify(c.Entrypoint ?? []), lower };
  const old = runTemplateOf(store, image.id);
  if (old && old.spec === row.spec && old.entrypoint === row.entrypoint && old.lower === row.lower) return;
  setRunTemplate(store, row);
}

/** An image's config that needs nothing read from its rootfs: no Volumes to seed, no User to look up. */
export function runsWithoutRootfs(config: ImageConfig): boolean {
  const c = config.config ?? {};
  const v = c.Volumes;
  const noVolumes = v === undefined || v === null || (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);
  return noVolumes && !c.User;
}

/**
 * At the end of a pull: the templates of the images it recorded, whose layers are unpacked by
 * then (the overlay's lowerdir, top first, as makeBundle mounts it), so that the first `run
 * --image` after `pull` is already the launcher's.
 */
export function recordRunTemplates(
  store: Store,
  root: string,
  images: { image: ImageRow; layers: LayerRow[] }[],
  ref: string,
): void {
  for (const { image, layers } of images) {
    if (layers.length === 0) continue;
    const config = JSON.parse(image.config) as ImageConfig;
    if (!runsWithoutRootfs(config)) continue;
    const lower = chainIds(layers.map((l) => l.diffId))
      .map((c) => layerDir(root, c))
      .reverse()
      .join(":");
    recordRunTemplate(store, image, config, lower, ref);
  }
}

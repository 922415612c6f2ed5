// An image's run template (table image_run_templates): the config.json node makes for it, kept so
// that the native launcher can do a foreground `run --image` without node
// (native/launcher/run_image.c). The launcher fills in only what belongs to the container: the
// hostname (its id), process.args (Entrypoint + the user's arguments, when given) and the overlay
// mount first in mounts (upperdir/workdir in the container's bundle). Everything else is
// imageSpec's own output, so both paths write the same config.json.
import type { Store } from "../state/store.js";
import { runTemplateOf, setRunTemplate, type ImageRow } from "../state/images.js";
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

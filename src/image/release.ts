// The release seam's half for images (src/resources/release.ts, kind "image-bundle"): unmount
// the bundle's overlay rootfs and remove the bundle directory polis made for `run|create --image`.
// Idempotent: a second call, or one after a reboot (the mount is gone), finds less to do.
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { GlobalOptions } from "../container/options.js";
import { PolisError } from "../errors.js";
import type { Store } from "../state/store.js";
import type { ResourceRow } from "../state/types.js";
import { unmount } from "./libc.js";

export interface ImageBundleData {
  image: string;
  dir: string;
}

export async function release(_g: GlobalOptions, _store: Store, row: ResourceRow): Promise<void> {
  const data = row.data as ImageBundleData;
  if (typeof data?.dir !== "string" || !data.dir.startsWith("/")) {
    throw new PolisError(`container ${row.containerId}: image-bundle resource without a bundle directory`);
  }
  unmount(join(data.dir, "rootfs"));
  rmSync(data.dir, { recursive: true, force: true });
}

// Which room gives back which kind of container resource (see src/container/resources.ts).
// Each room is loaded only when a container actually holds one of its resources, so a plain
// `delete` from containerd never loads image, network or monitor code.
import { PolisError } from "../errors.js";
import type { GlobalOptions } from "../container/options.js";
import type { Store } from "../state/store.js";
import type { ResourceRow } from "../state/types.js";

export interface ResourceRoom {
  release(g: GlobalOptions, store: Store, row: ResourceRow): Promise<void>;
}

/** kind -> the room module that releases it. One line per kind. */
const ROOMS: Record<string, () => Promise<ResourceRoom>> = {
  "image-bundle": () => import("../image/release.js"),
  monitor: () => import("../monitor/release.js"),
  network: () => import("../network/release.js"),
  "network-sandbox": () => import("../network/release.js"),
};

export async function releaseResource(g: GlobalOptions, store: Store, row: ResourceRow): Promise<void> {
  const room = ROOMS[row.kind];
  if (!room) throw new PolisError(`container ${row.containerId}: unknown resource kind ${row.kind} (${row.name})`);
  await (await room()).release(g, store, row);
}

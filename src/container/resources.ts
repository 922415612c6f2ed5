// The one seam between the runtime core and the rooms beside it (images, networks, monitors).
//
// A room that gives a container something `delete` must take back (an IP and a veth, a generated
// bundle, a monitor process) records it as a row of container_resources. The core never imports
// a room: it asks the releaser the CLI installed (src/resources/release.ts) to give each row back,
// and forgets the row once that worked. A container without rows (everything containerd, CRI and
// podman create) pays one indexed SELECT and nothing else.
import { PolisError } from "../errors.js";
import type { Store } from "../state/store.js";
import type { ResourceRow } from "../state/types.js";
import type { GlobalOptions } from "./options.js";

/** Gives one resource back. Must be idempotent: it may run again after a crash half-way through. */
export type ReleaseResource = (g: GlobalOptions, store: Store, row: ResourceRow) => Promise<void>;

let releaser: ReleaseResource | undefined;

/** Installed once by the CLI (src/main.ts); tests may install their own. */
export function setResourceReleaser(fn: ReleaseResource | undefined): void {
  releaser = fn;
}

/**
 * Releases every resource recorded for `id`, most recent first (a network attached after the
 * bundle was made goes before the bundle). Every row is tried; the first failure is thrown after
 * the others had their turn, and its row stays for a later `delete --force`. Rows `keep` accepts
 * are left alone (a room recreating the container in place keeps them).
 */
export async function releaseResources(
  g: GlobalOptions,
  store: Store,
  id: string,
  keep: (row: ResourceRow) => boolean = () => false,
): Promise<void> {
  const rows = store
    .resourcesOf(id)
    .reverse()
    .filter((r) => !keep(r));
  if (rows.length === 0) return;
  if (!releaser) throw new PolisError(`container ${id} holds ${rows[0].kind} resources, but no releaser is installed`);
  let first: unknown;
  for (const row of rows) {
    try {
      await releaser(g, store, row);
      store.removeResource(row.containerId, row.kind, row.name);
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

// The store's unpacked layers (<root>/images/layers/<chain id>/), one directory per layer as
// overlayfs stacks them. Keyed by chain id, not diff_id: where a layer's entries land depends on
// the layers below it (a `lib -> usr/lib` symlink below sends `lib/x` to usr/lib/x), as
// containerd's snapshots and containers/storage's overlay layers are.
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { blobPath, hasLayer, hex, layerDir, tmpPath } from "./content.js";

/**
 * Unpacks layer `digest` for overlayfs under the last of `chain` (its chain id), over the layers
 * of the ids before it, unless it is there already; the temp dir + rename makes a concurrent
 * pull of the same layer harmless (the second rename loses, theirs is as good).
 */
export async function unpackInto(
  root: string,
  digest: string,
  diffId: string,
  chain: string[],
  fetched?: Set<string>,
): Promise<void> {
  const id = chain[chain.length - 1];
  if (hasLayer(root, id)) return;
  const tmp = tmpPath(root, `layer-${hex(id)}`);
  mkdirSync(tmp, { mode: 0o755 });
  try {
    const lowers = chain
      .slice(0, -1)
      .map((c) => layerDir(root, c))
      .reverse();
    // loaded only to unpack (the tar reader, node:crypto): a pulled image's layers are all there
    const { unpackLayer } = await import("./unpack.js");
    await unpackLayer(blobPath(root, digest), { target: tmp, mode: "overlay", layer: digest, diffId, lowers });
    try {
      renameSync(tmp, layerDir(root, id));
      fetched?.add(id);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// What the store holds, by the names people use: resolving a reference or an id prefix to an
// image, listing, tagging, removing (refused while a container uses the image) and pruning.
import type { Store } from "../state/store.js";
import {
  allImages,
  allNames,
  containersUsing,
  danglingImages,
  imageById,
  imagesByIdPrefix,
  indexRow,
  layersOf,
  nameRow,
  namesOf,
  pruneIndexes,
  removeImage,
  removeImageIfUnnamed,
  removeName,
  setName,
  type ImageRow,
  type LayerRow,
  type NameRow,
} from "../state/images.js";
import { PolisError } from "../errors.js";
import { rfc3339Nano } from "../time.js";
import { collectGarbage, type Collected } from "./content.js";
import { parseReference, repoName } from "./reference.js";

export class ImageNotKnownError extends PolisError {
  constructor(ref: string) {
    super(`${ref}: image not known (polis pull ${ref})`);
  }
}

export interface Resolved {
  image: ImageRow;
  /** the name the user's reference matched, if it was a name */
  name?: NameRow;
}

/** A name (busybox, busybox:1, repo@sha256:…), a full image digest or a unique id prefix (≥ 4 hex digits). */
export function resolveImage(store: Store, ref: string): Resolved {
  const byId = /^(sha256:)?([a-f0-9]{4,64})$/.exec(ref);
  if (byId && (byId[1] || byId[2].length === 64 || !looksLikeName(store, ref))) {
    const matches = imagesByIdPrefix(store, byId[2]).concat(configMatches(store, byId[2]));
    const unique = [...new Map(matches.map((m) => [m.id, m])).values()];
    if (unique.length === 1) return { image: unique[0] };
    if (unique.length > 1) throw new PolisError(`${ref}: ambiguous image id (${unique.length} images match)`);
    if (byId[1]) throw new ImageNotKnownError(ref);
  }
  let parsed;
  try {
    parsed = parseReference(ref);
  } catch (e) {
    if (byId) throw new ImageNotKnownError(ref);
    throw e;
  }
  const names = parsed.digest ? [`${repoName(parsed)}@${parsed.digest}`] : [`${repoName(parsed)}:${parsed.tag}`];
  for (const n of names) {
    const row = nameRow(store, n);
    if (row) {
      const image = imageById(store, row.image);
      if (image) return { image, name: row };
    }
  }
  if (parsed.digest) {
    // repo@digest of an image (or of the index) pulled under a tag
    for (const row of allNames(store)) {
      if (row.repository !== repoName(parsed)) continue;
      if (row.image === parsed.digest || row.indexDigest === parsed.digest) {
        const image = imageById(store, row.image);
        if (image) return { image, name: row };
      }
    }
  }
  throw new ImageNotKnownError(ref);
}

function looksLikeName(store: Store, ref: string): boolean {
  try {
    const p = parseReference(ref);
    return nameRow(store, `${repoName(p)}:${p.tag}`) !== undefined;
  } catch {
    return false;
  }
}

function configMatches(store: Store, prefix: string): ImageRow[] {
  return allImages(store).filter((i) => i.configDigest.slice(7).startsWith(prefix));
}

export interface ImageSummary {
  id: string;
  digest: string;
  repository: string;
  tag: string;
  names: string[];
  size: number;
  created: string | null;
  platform: string;
}

/** One row per name (and one `<none>` row per unnamed image), newest first. */
export function listImages(store: Store): ImageSummary[] {
  const out: ImageSummary[] = [];
  for (const image of allImages(store)) {
    const names = namesOf(store, image.id);
    const base = { id: image.configDigest, digest: image.id, size: image.size, created: image.created, platform: image.platform };
    if (names.length === 0) out.push({ ...base, repository: "<none>", tag: "<none>", names: [] });
    for (const n of names) {
      out.push({
        ...base,
        digest: n.indexDigest ?? image.id,
        repository: n.repository,
        tag: n.tag ?? "<none>",
        names: names.map((x) => x.name),
      });
    }
  }
  return out;
}

/** `polis tag SRC DST` */
export function tagImage(store: Store, src: string, dst: string): string {
  const { image, name } = resolveImage(store, src);
  const p = parseReference(dst);
  if (p.digest) throw new PolisError(`${dst}: a tag cannot carry a digest`);
  const full = `${repoName(p)}:${p.tag}`;
  setName(store, {
    name: full,
    repository: repoName(p),
    tag: p.tag ?? "latest",
    image: image.id,
    indexDigest: name?.indexDigest ?? null,
    updated: rfc3339Nano(),
  });
  return full;
}

export interface RemoveResult {
  untagged: string[];
  deleted: string[];
}

/**
 * `polis rmi REF`: a name is untagged; the image goes when no name is left. Removing the last
 * name of an image a container uses is refused unless `force`, which only untags it. An id
 * removes every name of the image. One write transaction: a `run|create --image` (node's or the
 * launcher's) records its image-bundle row either before the check here, or after the image is
 * gone (and then finds no image); never in between, where its image and layers would go under it.
 */
export function removeImages(store: Store, root: string, refs: string[], force: boolean): RemoveResult {
  return store.transaction(() => removeImagesLocked(store, root, refs, force));
}

function removeImagesLocked(store: Store, root: string, refs: string[], force: boolean): RemoveResult {
  const out: RemoveResult = { untagged: [], deleted: [] };
  const targets = refs.map((ref) => ({ ref, ...resolveImage(store, ref) }));
  for (const t of targets) {
    const users = containersUsing(store, t.image.id);
    const lastName = namesOf(store, t.image.id).length <= 1 || !t.name;
    if (users.length && lastName && !force) {
      throw new PolisError(`${t.ref}: image is in use by container ${users.join(", ")} (delete it first, or rmi --force)`);
    }
  }
  for (const t of targets) {
    if (containersUsing(store, t.image.id).length) {
      // --force on an image in use: untag it, as docker does; the image (and the layers the
      // containers' overlays stand on) stays, dangling, until prune finds it unused
      for (const n of t.name ? [t.name] : namesOf(store, t.image.id)) if (removeName(store, n.name)) out.untagged.push(n.name);
    } else if (t.name) {
      if (removeName(store, t.name.name)) out.untagged.push(t.name.name);
      if (removeImageIfUnnamed(store, t.image.id)) out.deleted.push(t.image.id);
    } else {
      for (const n of namesOf(store, t.image.id)) out.untagged.push(n.name);
      removeImage(store, t.image.id);
      out.deleted.push(t.image.id);
    }
  }
  if (out.deleted.length) {
    pruneIndexes(store);
    collectGarbage(store, root);
    for (const id of out.deleted) store.appendEvent({ type: "image", action: "delete", id });
  }
  return out;
}

/** `polis image prune`: dangling images (no name), then every blob and layer nothing refers to (one write transaction, as removeImages). */
export function pruneImages(store: Store, root: string): Collected & { images: string[] } {
  return store.transaction(() => pruneImagesLocked(store, root));
}

function pruneImagesLocked(store: Store, root: string): Collected & { images: string[] } {
  const images: string[] = [];
  for (const image of danglingImages(store)) {
    if (containersUsing(store, image.id).length) continue;
    if (removeImageIfUnnamed(store, image.id)) images.push(image.id);
  }
  pruneIndexes(store);
  return { ...collectGarbage(store, root), images };
}

export interface ImageDetails {
  Id: string;
  Digest: string;
  RepoTags: string[];
  RepoDigests: string[];
  Platform: string;
  Size: number;
  Created: string | null;
  Pulled: string;
  Manifest: unknown;
  Config: unknown;
  Index?: unknown;
  Layers: LayerRow[];
  UsedBy: string[];
}

export function inspectImage(store: Store, ref: string): ImageDetails {
  const { image } = resolveImage(store, ref);
  const names = namesOf(store, image.id);
  const idx = image.indexDigest ? indexRow(store, image.indexDigest) : undefined;
  return {
    Id: image.configDigest,
    Digest: image.id,
    RepoTags: names.filter((n) => n.tag).map((n) => n.name),
    RepoDigests: [...new Set(names.map((n) => `${n.repository}@${n.indexDigest ?? image.id}`))],
    Platform: image.platform,
    Size: image.size,
    Created: image.created,
    Pulled: image.pulled,
    Manifest: JSON.parse(image.manifest),
    Config: JSON.parse(image.config),
    ...(idx ? { Index: JSON.parse(idx.manifest) } : {}),
    Layers: layersOf(store, image.id),
    UsedBy: containersUsing(store, image.id),
  };
}

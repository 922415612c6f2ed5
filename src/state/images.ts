// The images room's queries (src/image/): images, their layers, names, indexes and pull leases.
// The schema is the "images" step in migrations.ts; blobs themselves live on disk.
import type { Store } from "./store.js";
import { connectionOf } from "./store.js";

export interface ImageRow {
  id: string;
  mediaType: string;
  manifest: string;
  configDigest: string;
  config: string;
  platform: string;
  size: number;
  created: string | null;
  pulled: string;
  indexDigest: string | null;
}

export interface LayerRow {
  position: number;
  digest: string;
  mediaType: string;
  size: number;
  diffId: string;
}

export interface NameRow {
  name: string;
  repository: string;
  tag: string | null;
  image: string;
  indexDigest: string | null;
  updated: string;
}

export interface IndexRow {
  digest: string;
  mediaType: string;
  manifest: string;
}

const IMAGE_COLUMNS =
  'id, media_type AS "mediaType", manifest, config_digest AS "configDigest", config, platform, size, created, pulled, index_digest AS "indexDigest"';
const NAME_COLUMNS = 'name, repository, tag, image, index_digest AS "indexDigest", updated';

/** Records a pulled image, its layers, an index it came through and the names pointing at it, in one transaction. */
export function recordImages(
  store: Store,
  images: { image: ImageRow; layers: LayerRow[] }[],
  names: NameRow[],
  index?: IndexRow,
): void {
  const db = connectionOf(store);
  db.transaction(() => {
    if (index) {
      db.prepare("INSERT OR IGNORE INTO image_indexes (digest, media_type, manifest) VALUES (?, ?, ?)").run(
        index.digest,
        index.mediaType,
        index.manifest,
      );
    }
    for (const { image, layers } of images) {
      const r = db
        .prepare(
          `INSERT INTO images (id, media_type, manifest, config_digest, config, platform, size, created, pulled, index_digest)
           VALUES (@id, @mediaType, @manifest, @configDigest, @config, @platform, @size, @created, @pulled, @indexDigest)
           ON CONFLICT (id) DO UPDATE SET pulled = excluded.pulled, index_digest = coalesce(excluded.index_digest, index_digest)`,
        )
        .run(image);
      if (r.changes === 0) continue;
      const insert = db.prepare(
        "INSERT OR IGNORE INTO image_layers (image, position, digest, media_type, size, diff_id) VALUES (?, ?, ?, ?, ?, ?)",
      );
      for (const l of layers) insert.run(image.id, l.position, l.digest, l.mediaType, l.size, l.diffId);
    }
    const name = db.prepare(
      `INSERT INTO image_names (name, repository, tag, image, index_digest, updated) VALUES (@name, @repository, @tag, @image, @indexDigest, @updated)
       ON CONFLICT (name) DO UPDATE SET image = excluded.image, index_digest = excluded.index_digest, updated = excluded.updated`,
    );
    for (const n of names) name.run(n);
  }).immediate();
}

export function imageById(store: Store, id: string): ImageRow | undefined {
  return connectionOf(store).prepare(`SELECT ${IMAGE_COLUMNS} FROM images WHERE id = ?`).get(id) as ImageRow | undefined;
}

/** Images whose id (hex part) starts with `prefix`. */
export function imagesByIdPrefix(store: Store, prefix: string): ImageRow[] {
  return connectionOf(store)
    .prepare(`SELECT ${IMAGE_COLUMNS} FROM images WHERE substr(id, 8) LIKE ? ESCAPE '\\'`)
    .all(`${prefix.replace(/[%_\\]/g, "\\$&")}%`) as ImageRow[];
}

export function allImages(store: Store): ImageRow[] {
  return connectionOf(store).prepare(`SELECT ${IMAGE_COLUMNS} FROM images ORDER BY pulled DESC, id`).all() as ImageRow[];
}

export function layersOf(store: Store, image: string): LayerRow[] {
  return connectionOf(store)
    .prepare(
      'SELECT position, digest, media_type AS "mediaType", size, diff_id AS "diffId" FROM image_layers WHERE image = ? ORDER BY position',
    )
    .all(image) as LayerRow[];
}

export function nameRow(store: Store, name: string): NameRow | undefined {
  return connectionOf(store).prepare(`SELECT ${NAME_COLUMNS} FROM image_names WHERE name = ?`).get(name) as NameRow | undefined;
}

export function allNames(store: Store): NameRow[] {
  return connectionOf(store).prepare(`SELECT ${NAME_COLUMNS} FROM image_names ORDER BY name`).all() as NameRow[];
}

export function namesOf(store: Store, image: string): NameRow[] {
  return connectionOf(store)
    .prepare(`SELECT ${NAME_COLUMNS} FROM image_names WHERE image = ? ORDER BY name`)
    .all(image) as NameRow[];
}

export function indexRow(store: Store, digest: string): IndexRow | undefined {
  return connectionOf(store)
    .prepare('SELECT digest, media_type AS "mediaType", manifest FROM image_indexes WHERE digest = ?')
    .get(digest) as IndexRow | undefined;
}

/** Points `name` at `image` (`polis tag`). */
export function setName(store: Store, row: NameRow): void {
  recordImages(store, [], [row]);
}

export function removeName(store: Store, name: string): boolean {
  return connectionOf(store).prepare("DELETE FROM image_names WHERE name = ?").run(name).changes > 0;
}

/** Removes an image row (and its layers) that no name points at; false if a name still does. */
export function removeImageIfUnnamed(store: Store, id: string): boolean {
  const db = connectionOf(store);
  return db
    .transaction(() => {
      if (db.prepare("SELECT 1 FROM image_names WHERE image = ?").get(id)) return false;
      return db.prepare("DELETE FROM images WHERE id = ?").run(id).changes > 0;
    })
    .immediate();
}

/** Removes an image and every name pointing at it (`rmi --force` of an id). */
export function removeImage(store: Store, id: string): void {
  const db = connectionOf(store);
  db.transaction(() => {
    db.prepare("DELETE FROM image_names WHERE image = ?").run(id);
    db.prepare("DELETE FROM images WHERE id = ?").run(id);
  }).immediate();
}

/** Images no name points at, directly or through the index they were pulled with. */
export function danglingImages(store: Store): ImageRow[] {
  return connectionOf(store)
    .prepare(
      `SELECT ${IMAGE_COLUMNS} FROM images i
       WHERE NOT EXISTS (SELECT 1 FROM image_names n WHERE n.image = i.id)
         AND (i.index_digest IS NULL OR NOT EXISTS (SELECT 1 FROM image_names n WHERE n.index_digest = i.index_digest))`,
    )
    .all() as ImageRow[];
}

/** Every digest (blob, diff_id) an image or a name still needs. */
export function referencedDigests(store: Store): Set<string> {
  const db = connectionOf(store);
  const rows = db
    .prepare(
      `SELECT id AS d FROM images UNION SELECT config_digest FROM images UNION SELECT index_digest FROM images WHERE index_digest IS NOT NULL
       UNION SELECT digest FROM image_layers UNION SELECT diff_id FROM image_layers
       UNION SELECT index_digest FROM image_names WHERE index_digest IS NOT NULL`,
    )
    .all() as { d: string }[];
  return new Set(rows.map((r) => r.d));
}

/** Each image's layer diff_ids, bottom first (their chain ids name the unpacked layers to keep). */
export function layerStacks(store: Store): string[][] {
  const rows = connectionOf(store)
    .prepare('SELECT image, diff_id AS "diffId" FROM image_layers ORDER BY image, position')
    .all() as { image: string; diffId: string }[];
  const stacks = new Map<string, string[]>();
  for (const r of rows) {
    const s = stacks.get(r.image);
    if (s) s.push(r.diffId);
    else stacks.set(r.image, [r.diffId]);
  }
  return [...stacks.values()];
}

/** Drops index rows nothing refers to any more. */
export function pruneIndexes(store: Store): void {
  connectionOf(store)
    .prepare(
      `DELETE FROM image_indexes WHERE digest NOT IN (SELECT index_digest FROM images WHERE index_digest IS NOT NULL)
         AND digest NOT IN (SELECT index_digest FROM image_names WHERE index_digest IS NOT NULL)`,
    )
    .run();
}

/** Ids of containers whose bundle was made from `image` (resources of kind image-bundle). */
export function containersUsing(store: Store, image: string): string[] {
  const rows = connectionOf(store)
    .prepare(
      "SELECT container_id AS id FROM container_resources WHERE kind = 'image-bundle' AND json_extract(data, '$.image') = ? ORDER BY container_id",
    )
    .all(image) as { id: string }[];
  return rows.map((r) => r.id);
}

export interface LeaseRow {
  digest: string;
  pid: number;
  startTime: string;
}

export function addLeases(store: Store, digests: string[], pid: number, startTime: string): void {
  const db = connectionOf(store);
  db.transaction(() => {
    const s = db.prepare("INSERT INTO image_leases (digest, pid, start_time) VALUES (?, ?, ?)");
    for (const d of digests) s.run(d, pid, startTime);
  }).immediate();
}

export function removeLeases(store: Store, pid: number, startTime: string): void {
  connectionOf(store).prepare("DELETE FROM image_leases WHERE pid = ? AND start_time = ?").run(pid, startTime);
}

export function allLeases(store: Store): LeaseRow[] {
  return connectionOf(store).prepare('SELECT digest, pid, start_time AS "startTime" FROM image_leases').all() as LeaseRow[];
}

/** Forgets the leases of pulls that died (SIGKILL) without removing them. */
export function removeLeasesOf(store: Store, dead: { pid: number; startTime: string }[]): void {
  const s = connectionOf(store).prepare("DELETE FROM image_leases WHERE pid = ? AND start_time = ?");
  for (const d of dead) s.run(d.pid, d.startTime);
}

/** An image's config.json for a native foreground `run --image` (migration "image_run_templates"). */
export interface RunTemplateRow {
  image: string;
  spec: string;
  entrypoint: string;
  lower: string;
}

export function runTemplateOf(store: Store, image: string): RunTemplateRow | undefined {
  return connectionOf(store)
    .prepare("SELECT image, spec, entrypoint, lower FROM image_run_templates WHERE image = ?")
    .get(image) as RunTemplateRow | undefined;
}

/** Ignored when the image row went meanwhile (an rmi): the foreign key refuses it. */
export function setRunTemplate(store: Store, row: RunTemplateRow): void {
  connectionOf(store)
    .prepare(
      `INSERT OR REPLACE INTO image_run_templates (image, spec, entrypoint, lower)
       SELECT @image, @spec, @entrypoint, @lower WHERE EXISTS (SELECT 1 FROM images WHERE id = @image)`,
    )
    .run(row);
}

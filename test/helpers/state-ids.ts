// What a root's state database still names: for a suite's cleanup (delete --force of each) and
// for its "nothing left" checks.
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { cgroupDirsNamed } from "./polis.js";

/** Ids with a container row or a resource row under `root` (none when it has no state.db). */
export function idsWithRows(root: string | undefined): string[] {
  if (!root || !existsSync(join(root, "state.db"))) return [];
  const db = new Database(join(root, "state.db"), { readonly: true });
  try {
    const rows = db.prepare("SELECT id FROM containers UNION SELECT container_id FROM container_resources").all();
    return (rows as { id: string }[]).map((r) => r.id);
  } finally {
    db.close();
  }
}

/** What is left of container `id` under `root`: its image bundle, rows, resource rows, cgroups. */
export function leftOf(root: string, id: string): Record<string, unknown> {
  const db = new Database(join(root, "state.db"), { readonly: true });
  try {
    return {
      bundle: existsSync(join(root, "bundles", id)),
      rows: db.prepare("SELECT count(*) AS n FROM containers WHERE id = ?").get(id),
      resources: db.prepare("SELECT count(*) AS n FROM container_resources WHERE container_id = ?").get(id),
      cgroups: cgroupDirsNamed(id),
    };
  } finally {
    db.close();
  }
}

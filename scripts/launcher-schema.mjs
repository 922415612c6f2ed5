// What the native launcher (native/launcher/) assumes about the state database, checked against
// the migrations in src/state/migrations.ts. Used by the build (gen-launcher-schema.mjs) and by
// test/unit/launcher-schema.test.ts.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/** USED_COLUMNS of native/launcher/store.c: "table.column TYPE [notnull]" per entry. */
export function usedColumns(root) {
  const src = readFileSync(join(root, "native", "launcher", "store.c"), "utf8");
  const block = /USED_COLUMNS\[\]\s*=\s*\{([\s\S]*?)\};/.exec(src);
  if (!block) throw new Error("native/launcher/store.c: no USED_COLUMNS table");
  return [...block[1].matchAll(/"([^"]+)"/g)].map((m) => {
    const [qualified, type, flag] = m[1].split(" ");
    const [table, column] = qualified.split(".");
    return { table, column, type, notnull: flag === "notnull", text: m[1] };
  });
}

/** The migrations, compiled from TypeScript with esbuild (a dev dependency, as for dist/). */
export async function loadMigrations(root) {
  const { transformSync } = await import("esbuild");
  const ts = readFileSync(join(root, "src", "state", "migrations.ts"), "utf8");
  const { code } = transformSync(ts, { loader: "ts", format: "esm" });
  return (await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`)).MIGRATIONS;
}

/**
 * Apply every migration (or `migrations`, for tests) to an in-memory database and compare the
 * columns the launcher uses.
 */
export async function schemaReport(root, migrations) {
  migrations ??= await loadMigrations(root);
  const Database = createRequire(join(root, "package.json"))("better-sqlite3");
  const db = new Database(":memory:");
  const problems = [];
  let containerColumns = [];
  try {
    for (const m of migrations) db.exec(m.sql);
    containerColumns = db
      .prepare(`SELECT name FROM pragma_table_info('containers')`)
      .all()
      .map((c) => c.name);
    for (const u of usedColumns(root)) {
      const cols = db.prepare(`SELECT name, type, "notnull" FROM pragma_table_info(?)`).all(u.table);
      const col = cols.find((c) => c.name === u.column);
      if (!col) problems.push(`${u.table}.${u.column} is used by native/launcher but no migration creates it`);
      else if (col.type.toUpperCase() !== u.type.toUpperCase() || Boolean(col.notnull) !== u.notnull) {
        problems.push(
          `${u.table}.${u.column} is now ${col.type}${col.notnull ? " notnull" : ""}, native/launcher expects "${u.text}"`,
        );
      }
    }
  } finally {
    db.close();
  }
  return { version: migrations.length, problems, containerColumns };
}

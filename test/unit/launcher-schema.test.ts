// The native launcher reads and writes the state database directly (native/launcher/store.c).
// Its USED_COLUMNS table says which columns it relies on and in what shape; this test applies
// every migration of src/state/migrations.ts and fails when one of those columns is gone or
// changed, so that a migration cannot change what the launcher uses without store.c following.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BUSY_TIMEOUT_MS } from "../../src/state/store.js";
import { REPO } from "../helpers/rootfs.js";
// @ts-expect-error plain ES module shared with the build (scripts/gen-launcher-schema.mjs)
import { schemaReport, usedColumns } from "../../scripts/launcher-schema.mjs";

describe("native launcher schema", () => {
  it("waits for other writers as long as the Node store does", () => {
    const c = readFileSync(join(REPO, "native", "launcher", "store.c"), "utf8");
    expect(Number(/#define BUSY_TIMEOUT_MS (\d+)/.exec(c)?.[1])).toBe(BUSY_TIMEOUT_MS);
  });

  it("uses only columns the migrations create, with the types it expects", async () => {
    const report = await schemaReport(REPO);
    expect(report.problems).toEqual([]);
    expect(report.version).toBeGreaterThan(0);
  });

  it("declares the container columns it reads", () => {
    const names = usedColumns(REPO).map((c: { table: string; column: string }) => `${c.table}.${c.column}`);
    for (const col of [
      "containers.id",
      "containers.pid",
      "containers.pid_start_time",
      "containers.boot_id",
      "containers.cgroup_paths",
      "containers.state_dir",
      "containers.config",
    ]) {
      expect(names).toContain(col);
    }
  });

  it("notices a migration that drops or reshapes a used column", async () => {
    const { MIGRATIONS } = await import("../../src/state/migrations.js");
    const dropped = await schemaReport(REPO, [
      ...MIGRATIONS,
      { name: "t", sql: "ALTER TABLE containers DROP COLUMN pid_start_time" },
    ]);
    expect(dropped.problems.join("\n")).toMatch(/containers\.pid_start_time is used by native\/launcher/);
    const reshaped = await schemaReport(REPO, [
      ...MIGRATIONS,
      {
        name: "t",
        sql: "ALTER TABLE containers RENAME COLUMN owner TO owner_old; ALTER TABLE containers ADD COLUMN owner INTEGER",
      },
    ]);
    expect(reshaped.problems.join("\n")).toMatch(/containers\.owner is now INTEGER/);
    expect(reshaped.version).toBe(MIGRATIONS.length + 1);
  });
});

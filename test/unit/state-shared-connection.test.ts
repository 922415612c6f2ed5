// The CLI entry's store mode (shareConnectionsUntilExit): every open of one state.db in a polis
// process shares one connection, and closing the last handle leaves it for process.exit, so that
// SQLite's close-time checkpoint and fsyncs are skipped. vitest runs each test file in its own
// process, so the mode switched on here does not reach the other store tests.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connectionOf, shareConnectionsUntilExit, Store, STATE_DB } from "../../src/state/store.js";

const Database = createRequire(import.meta.url)("better-sqlite3");
const dir = mkdtempSync(join(tmpdir(), "polis-shared-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

shareConnectionsUntilExit();

describe("shared state connections (polis processes)", () => {
  it("gives every open of one root the same connection; a closed handle leaves the others working", () => {
    const root = join(dir, "a");
    const first = Store.open(root);
    const second = Store.open(root);
    expect(connectionOf(second)).toBe(connectionOf(first));
    first.appendEvent({ type: "container", action: "create", id: "c1" });
    first.close();
    first.close(); // twice: still only one handle given back
    second.appendEvent({ type: "container", action: "start", id: "c1" });
    expect(second.listEvents({ id: "c1" }).map((e) => e.action)).toEqual(["create", "start"]);
    second.close();
    // after the last close the connection stays open, and the next open takes it again
    const third = Store.open(root);
    expect(connectionOf(third)).toBe(connectionOf(first));
    expect(connectionOf(third).open).toBe(true);
    third.close();
  });

  it("keeps a connection per database file", () => {
    const a = Store.open(join(dir, "b1"));
    const b = Store.open(join(dir, "b2"));
    expect(connectionOf(a)).not.toBe(connectionOf(b));
    a.close();
    b.close();
  });

  it("leaves the commits in the WAL, where another process's connection reads them", () => {
    const root = join(dir, "c");
    const s = Store.open(root);
    s.appendEvent({ type: "container", action: "delete", id: "gone" });
    s.close();
    // no checkpoint on close: the WAL still holds the frames
    expect(statSync(join(root, `${STATE_DB}-wal`)).size).toBeGreaterThan(0);
    const other = new Database(join(root, STATE_DB), { readonly: true });
    try {
      expect(other.prepare("SELECT action FROM events WHERE id = ?").pluck().all("gone")).toEqual(["delete"]);
    } finally {
      other.close();
    }
  });
});

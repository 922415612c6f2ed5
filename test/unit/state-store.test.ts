import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PolisError } from "../../src/errors.js";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/state/migrations.js";
import { Store } from "../../src/state/store.js";
import { ContainerExistsError, ContainerNotFoundError, type ContainerRecord } from "../../src/state/types.js";

// The test reads the file behind the store's back, to check what it really wrote.
const Database = createRequire(import.meta.url)("better-sqlite3");

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempRoot(): string {
  const d = mkdtempSync(join(tmpdir(), "polis-state-"));
  dirs.push(d);
  return join(d, "root"); // not yet existing: the store must create it
}

function open(root: string): Store {
  const s = Store.open(root);
  stores.push(s);
  return s;
}

function record(id: string, over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id,
    bundle: `/bundles/${id}`,
    rootfs: `/bundles/${id}/rootfs`,
    phase: "creating",
    pid: null,
    pidStartTime: null,
    bootId: "6d1a7c2e-0000-4000-8000-000000000001",
    creatorPid: 4242,
    creatorStartTime: "123456",
    created: "2024-05-01T10:00:00.123456789Z",
    owner: "root",
    annotations: { "org.example/key": 'värde with "quotes"' },
    config: {
      ociVersion: "1.2.0",
      process: { args: ["sh", "-c", "echo hi"], cwd: "/", env: ["A=b"] },
      root: { path: "rootfs" },
    } as ContainerRecord["config"],
    cgroupPaths: { memory: "/sys/fs/cgroup/memory/polis/" + id, unified: "/sys/fs/cgroup/unified/polis/" + id },
    stateDir: `/run/polis/${id}`,
    sessionKeyring: `_ses.${id}`,
    ...over,
  };
}

describe("Store", () => {
  it("creates the root directory 0700 and a WAL database at the current schema version", () => {
    const root = tempRoot();
    const s = open(root);
    expect(statSync(root).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, "state.db")).mode & 0o777).toBe(0o600);
    expect(s.path).toBe(join(root, "state.db"));
    s.close();
    const raw = new Database(join(root, "state.db"), { readonly: true });
    try {
      expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(raw.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
    } finally {
      raw.close();
    }
  });

  it("round-trips a record, including its JSON columns", () => {
    const s = open(tempRoot());
    const rec = record("rt1");
    s.insert(rec);
    const got = s.get("rt1");
    expect(got).toEqual(rec);
    expect(got).not.toBe(rec);
    expect(s.get("nope")).toBeUndefined();
  });

  it("keeps a record across close and reopen", () => {
    const root = tempRoot();
    open(root).insert(record("persist", { phase: "created", pid: 77, pidStartTime: "999" }));
    const again = open(root);
    expect(again.get("persist")?.pid).toBe(77);
    expect(again.get("persist")?.pidStartTime).toBe("999");
  });

  it("refuses a duplicate id with runc's message and keeps the first record", () => {
    const s = open(tempRoot());
    s.insert(record("dup", { bundle: "/first" }));
    let err: unknown;
    try {
      s.insert(record("dup", { bundle: "/second" }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ContainerExistsError);
    expect(err).toBeInstanceOf(PolisError);
    expect((err as Error).message).toBe("container with id dup already exists");
    expect(s.get("dup")?.bundle).toBe("/first");
    expect(s.list()).toHaveLength(1);
  });

  it("updates only the patched fields", () => {
    const s = open(tempRoot());
    s.insert(record("up"));
    s.update("up", { phase: "created", pid: 1234, pidStartTime: "5678", cgroupPaths: { pids: "/x" } });
    const got = s.get("up")!;
    expect(got).toEqual({ ...record("up"), phase: "created", pid: 1234, pidStartTime: "5678", cgroupPaths: { pids: "/x" } });
    // null is a value (the pid is cleared), undefined means "leave alone"
    s.update("up", { pid: null, bundle: undefined });
    expect(s.get("up")!.pid).toBeNull();
    expect(s.get("up")!.bundle).toBe("/bundles/up");
  });

  it("update of a missing container throws ContainerNotFoundError", () => {
    const s = open(tempRoot());
    expect(() => s.update("ghost", { phase: "running" })).toThrow(ContainerNotFoundError);
    expect(() => s.update("ghost", {})).toThrow(/^container does not exist$/);
    s.insert(record("real"));
    expect(() => s.update("real", {})).not.toThrow();
  });

  it("refuses to change the id or to store an unknown phase", () => {
    const s = open(tempRoot());
    s.insert(record("fixed"));
    expect(() => s.update("fixed", { id: "other" })).toThrow(/id cannot change/);
    expect(() => s.update("fixed", { phase: "paused" as never })).toThrow(/CHECK constraint/);
    expect(s.get("fixed")?.phase).toBe("creating");
  });

  it("transition applies the patch only from the expected phase", () => {
    const s = open(tempRoot());
    s.insert(record("tr", { phase: "created" }));
    expect(s.transition("tr", "created", { phase: "running" })).toBe(true);
    // the second `start` loses
    expect(s.transition("tr", "created", { phase: "running", pid: 1 })).toBe(false);
    expect(s.get("tr")).toMatchObject({ phase: "running", pid: null });
    expect(s.transition("tr", ["created", "running"], { pid: 7 })).toBe(true);
    expect(s.get("tr")).toMatchObject({ phase: "running", pid: 7 });
    expect(s.transition("missing", "created", { phase: "running" })).toBe(false);
  });

  it("removes records", () => {
    const s = open(tempRoot());
    s.insert(record("rm"));
    expect(s.remove("rm")).toBe(true);
    expect(s.get("rm")).toBeUndefined();
    expect(s.remove("rm")).toBe(false);
    // the id is free again
    s.insert(record("rm"));
    expect(s.get("rm")).toBeDefined();
  });

  it("lists in insertion order, not by id or created clock", () => {
    const s = open(tempRoot());
    s.insert(record("c", { created: "2030-01-01T00:00:00Z" }));
    s.insert(record("a", { created: "2020-01-01T00:00:00Z" }));
    s.insert(record("b"));
    s.remove("a");
    s.insert(record("a"));
    expect(s.list().map((r) => r.id)).toEqual(["c", "b", "a"]);
    expect(s.list()[0]).toEqual(record("c", { created: "2030-01-01T00:00:00Z" }));
  });

  it("transaction commits as a unit and rolls back on throw", () => {
    const s = open(tempRoot());
    s.transaction(() => {
      s.insert(record("t1"));
      s.insert(record("t2"));
    });
    expect(s.list().map((r) => r.id)).toEqual(["t1", "t2"]);
    expect(() =>
      s.transaction(() => {
        s.insert(record("t3"));
        s.insert(record("t1")); // duplicate: the whole transaction goes
      }),
    ).toThrow(ContainerExistsError);
    expect(s.get("t3")).toBeUndefined();
  });

  it("names the step and SQLite code when the database cannot be opened", () => {
    // A directory where the database file should be: not a database.
    const bad = tempRoot();
    mkdirSync(join(bad, "state.db"), { recursive: true });
    expect(() => Store.open(bad)).toThrow(/^open state database .*state\.db: /);
  });
});

describe("migrations", () => {
  it("opening twice is idempotent and does not rerun migrations", () => {
    const root = tempRoot();
    open(root).insert(record("keep"));
    const s2 = open(root); // would fail with "table containers already exists" if rerun
    expect(s2.get("keep")?.id).toBe("keep");
    const raw = new Database(join(root, "state.db"), { readonly: true });
    try {
      expect(raw.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    } finally {
      raw.close();
    }
  });

  it("migrates an existing empty database at user_version 0", () => {
    const root = tempRoot();
    mkdirSync(root, { recursive: true });
    const raw = new Database(join(root, "state.db"));
    raw.exec("CREATE TABLE unrelated (x INTEGER)"); // a non-empty file, still at version 0
    expect(raw.pragma("user_version", { simple: true })).toBe(0);
    raw.close();

    const s = open(root);
    s.insert(record("m0"));
    expect(s.get("m0")?.id).toBe("m0");
    s.close();

    const check = new Database(join(root, "state.db"), { readonly: true });
    try {
      expect(check.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      expect(check.pragma("journal_mode", { simple: true })).toBe("wal");
      const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      // every step ran (other rooms add their tables) and the unrelated table was left alone
      expect(tables).toEqual(expect.arrayContaining(["containers", "container_resources", "events", "unrelated"]));
    } finally {
      check.close();
    }
  });

  it("refuses a database written by a newer polis", () => {
    const root = tempRoot();
    open(root).close();
    const raw = new Database(join(root, "state.db"));
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => Store.open(root)).toThrow(/has schema version \d+, newer than this polis/);
  });
});

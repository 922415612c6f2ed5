// The container state store: one SQLite file, <root>/state.db, shared by every polis process.
//
// Every polis command is a fresh process that opens this file, so opening is kept cheap: the
// native module is loaded on first open (not at import), the schema is only touched when
// `user_version` is behind, and statements are prepared on first use. Concurrency is SQLite's:
// WAL lets readers run beside a writer, busy_timeout makes writers queue instead of failing
// with "database is locked", and uniqueness of ids is the PRIMARY KEY's job, not a
// read-then-write check.
//
// Nothing outside src/state/ may contain SQL.
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, unlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type BetterSqlite3 from "better-sqlite3";
import { PolisError } from "../errors.js";
import { packageRoot } from "../paths.js";
import { sleepMs } from "../sleep.js";
import { rfc3339Nano } from "../time.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
import {
  ContainerExistsError,
  ContainerNotFoundError,
  type ContainerRecord,
  type EngineEvent,
  type EventQuery,
  type Phase,
  type ResourceRow,
} from "./types.js";

type Db = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

/**
 * How long a writer waits for another polis process before giving up (milliseconds). Generous:
 * the network room holds the write lock across an nftables swap (one firewall writer at a time),
 * and 20 concurrent `run --network` on a loaded 2-core host queue for longer than 5 s. The native
 * launcher (native/launcher/store.c) uses the same value; test/unit/launcher-schema.test.ts checks.
 */
export const BUSY_TIMEOUT_MS = 30_000;

export const STATE_DB = "state.db";

/**
 * An empty database at SCHEMA_VERSION that the build writes beside the bundle (dist/, by
 * writeStateTemplate): a fresh root's state.db starts as a copy of it instead of running every
 * migration (~2.5 ms of a first command's CPU, e.g. a `pull` into a new root). Running from
 * source there is none, and the migrations run as before; so they do when the copy fails or its
 * version is behind.
 */
const STATE_TEMPLATE = "state-template.db";

/**
 * Commits past this many WAL pages checkpoint the WAL into the database (SQLite's default is
 * 1000). Every polis process is the file's only connection, and the first connection rebuilds
 * the WAL index by reading every valid frame of the WAL: with the default, a native `state` took
 * 4-7 ms instead of 2 once a few dozen `run`s had filled it (one pread per 4 KiB frame). A
 * checkpoint costs two fsyncs (~5-10 ms here) every few creates instead. Only node's commands
 * set it: the native launcher keeps the default, so those fsyncs land in create/run/delete on
 * node (which commit in every containerd lifecycle), never in the native hot commands.
 */
const WAL_CHECKPOINT_PAGES = 100;

// How each record field is stored. "json" columns are serialised whole; "int" may be null.
type Kind = "text" | "int" | "json";
const COLUMNS: ReadonlyArray<readonly [keyof ContainerRecord, string, Kind]> = [
  ["id", "id", "text"],
  ["bundle", "bundle", "text"],
  ["rootfs", "rootfs", "text"],
  ["phase", "phase", "text"],
  ["pid", "pid", "int"],
  ["pidStartTime", "pid_start_time", "text"],
  ["bootId", "boot_id", "text"],
  ["creatorPid", "creator_pid", "int"],
  ["creatorStartTime", "creator_start_time", "text"],
  ["created", "created", "text"],
  ["owner", "owner", "text"],
  ["annotations", "annotations", "json"],
  ["config", "config", "json"],
  ["cgroupPaths", "cgroup_paths", "json"],
  ["stateDir", "state_dir", "text"],
  ["sessionKeyring", "session_keyring", "text"],
];
const COLUMN_OF = new Map(COLUMNS.map(([field, column, kind]) => [field, { column, kind }]));
const SELECT_COLUMNS = COLUMNS.map(([field, column]) => `${column} AS "${field}"`).join(", ");

interface Driver {
  Database: typeof BetterSqlite3;
  /**
   * The addon, loaded here with process.dlopen and handed to better-sqlite3 as its binding: that
   * skips its `bindings` search and the CommonJS loader (~3 ms), and avoids a node_modules walk.
   */
  addon: object | undefined;
}
let driver: Driver | undefined;
const ADDON = "better-sqlite3/build/Release/better_sqlite3.node";
function loadDriver(): Driver {
  if (driver) return driver;
  // A native module: loaded lazily (start-up cost), on the first open.
  const req = createRequire(import.meta.url);
  return (driver = { Database: requireDriver(req), addon: loadAddon(req) });
}

function requireDriver(req: NodeRequire): typeof BetterSqlite3 {
  try {
    // A literal require() call: scripts/build.mjs's bundler inlines better-sqlite3's JavaScript
    // here, which spares its dozen CommonJS files a module resolution and load each.
    return require("better-sqlite3") as typeof BetterSqlite3;
  } catch {
    // Running from source (an ES module has no `require`), or a bundle that keeps it external.
    return req("better-sqlite3") as typeof BetterSqlite3;
  }
}

/**
 * Where the package's own install puts the addon: one stat instead of require.resolve's search
 * of package.json scopes and node_modules directories (~0.9 ms of every open); require.resolve
 * when it is not there or this code runs outside the package (a bundled copy).
 */
function addonPath(req: NodeRequire): string | undefined {
  try {
    const own = join(packageRoot(), "node_modules", ADDON);
    if (existsSync(own)) return own;
  } catch {
    // no package directory above this file
  }
  try {
    return req.resolve(ADDON);
  } catch {
    return undefined;
  }
}

/** better_sqlite3.node, without the CommonJS loader; undefined lets better-sqlite3 find it. */
function loadAddon(req: NodeRequire): object | undefined {
  const path = addonPath(req);
  if (!path) return undefined; // an unusual install layout: let better-sqlite3 find it
  const mod = { exports: {} as object };
  process.dlopen(mod, path);
  return mod.exports;
}

/**
 * One polis command opens the store several times (`run`: create, the foreground wait, delete;
 * each room's step too). In a polis process (shareConnectionsUntilExit(), set by the CLI entry)
 * those opens share one connection and its prepared statements, and the last close leaves it
 * open for process.exit to drop: SQLite checkpoints the WAL into the database and fsyncs both
 * when the last connection closes (3-15 ms here, per close). The commits are in the WAL either
 * way (synchronous=NORMAL), as after the native launcher, which skips that checkpoint too; a
 * later close elsewhere or SQLite's auto-checkpoint (1000 pages) moves them. Library callers
 * (tests, other programs) keep one connection per open, closed by close().
 */
interface Connection {
  db: Db;
  statements: Map<string, Statement>;
  handles: number;
}
let sharing = false;
const shared = new Map<string, Connection>();

/** The CLI entry: share connections per database file, and leave them for the process exit. */
export function shareConnectionsUntilExit(): void {
  sharing = true;
}

export class Store {
  private closed = false;

  private constructor(
    private readonly conn: Connection,
    /** Absolute path of the database file. */
    readonly path: string,
  ) {}

  private get db(): Db {
    return this.conn.db;
  }

  private get statements(): Map<string, Statement> {
    return this.conn.statements;
  }

  /** Opens (creating if needed) `<root>/state.db`, bringing its schema up to date. */
  static open(root: string): Store {
    const path = join(root, STATE_DB);
    const open = sharing ? shared.get(path) : undefined;
    if (open?.db.open) {
      open.handles++;
      return new Store(open, path);
    }
    let db: Db;
    try {
      mkdirSync(root, { recursive: true, mode: 0o700 });
      seedFromTemplate(path);
      const { Database, addon } = loadDriver();
      // `timeout` is SQLite's busy timeout: writers queue for each other instead of failing.
      db = new Database(path, { timeout: BUSY_TIMEOUT_MS, nativeBinding: addon as string | undefined });
    } catch (err) {
      throw storeError(`open state database ${path}`, err);
    }
    try {
      // Per-connection settings (one exec: each pragma() call would prepare a statement).
      // NORMAL is durable enough in WAL mode: a power cut may lose the last commit, never
      // corrupt the file.
      db.exec(`PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
      if (userVersion(db) !== SCHEMA_VERSION) migrate(db, path);
    } catch (err) {
      db.close();
      throw err instanceof PolisError ? err : storeError(`open state database ${path}`, err);
    }
    const conn: Connection = { db, statements: new Map(), handles: 1 };
    if (sharing) shared.set(path, conn);
    return new Store(conn, path);
  }

  /** Records a new container. Throws ContainerExistsError if the id is taken. */
  insert(rec: ContainerRecord): void {
    const names = COLUMNS.map(([, column]) => column);
    const sql = `INSERT INTO containers (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`;
    try {
      this.stmt(sql).run(COLUMNS.map(([field, , kind]) => encode(rec[field], kind)));
    } catch (err) {
      if (isConstraint(err, "SQLITE_CONSTRAINT_PRIMARYKEY")) throw new ContainerExistsError(rec.id);
      throw storeError(`insert container ${rec.id}`, err);
    }
  }

  get(id: string): ContainerRecord | undefined {
    const row = this.run(`read container ${id}`, () =>
      this.stmt(`SELECT ${SELECT_COLUMNS} FROM containers WHERE id = ?`).get(id),
    );
    return row === undefined ? undefined : decode(row as Row);
  }

  /** Changes some fields of a record. Throws ContainerNotFoundError if there is none. */
  update(id: string, patch: Partial<ContainerRecord>): void {
    if (!this.updateWhere(id, patch, null)) throw new ContainerNotFoundError(id);
  }

  /**
   * Compare-and-set on the phase: applies `patch` only if the container is currently in one of
   * `from`. Returns false (and changes nothing) otherwise, or if the container does not exist.
   * Two racing `polis start`s use this so that only one of them moves created -> running.
   */
  transition(id: string, from: Phase | readonly Phase[], patch: Partial<ContainerRecord>): boolean {
    return this.updateWhere(id, patch, typeof from === "string" ? [from] : from);
  }

  /** Deletes a record. Returns false if there was none. */
  remove(id: string): boolean {
    const info = this.run(`remove container ${id}`, () => this.stmt("DELETE FROM containers WHERE id = ?").run(id));
    return info.changes > 0;
  }

  /** All records, oldest first (insertion order, not the `created` clock). */
  list(): ContainerRecord[] {
    const rows = this.run("list containers", () => this.stmt(`SELECT ${SELECT_COLUMNS} FROM containers ORDER BY rowid`).all());
    return (rows as Row[]).map(decode);
  }

  /** Records something a room holds for container `id` (see src/container/resources.ts). Replaces a row of the same kind and name. */
  addResource(id: string, kind: string, name: string, data: unknown = {}): void {
    this.run(`record ${kind} ${name} of container ${id}`, () =>
      this.stmt("INSERT OR REPLACE INTO container_resources (container_id, kind, name, data) VALUES (?, ?, ?, ?)").run(
        id,
        kind,
        name,
        JSON.stringify(data),
      ),
    );
  }

  /** What rooms hold for container `id`, in the order they recorded it. */
  resourcesOf(id: string): ResourceRow[] {
    const rows = this.run(`read resources of container ${id}`, () =>
      this.stmt(
        "SELECT container_id AS containerId, kind, name, data FROM container_resources WHERE container_id = ? ORDER BY rowid",
      ).all(id),
    ) as { containerId: string; kind: string; name: string; data: string }[];
    return rows.map((r) => ({ ...r, data: JSON.parse(r.data) as unknown }));
  }

  removeResource(id: string, kind: string, name: string): void {
    this.run(`forget ${kind} ${name} of container ${id}`, () =>
      this.stmt("DELETE FROM container_resources WHERE container_id = ? AND kind = ? AND name = ?").run(id, kind, name),
    );
  }

  /** Appends to the engine's event history (`polis events --all`). */
  appendEvent(e: NewEvent): void {
    this.run(`record ${e.type} event ${e.action}`, () =>
      this.stmt("INSERT INTO events (time, type, action, id, attributes) VALUES (?, ?, ?, ?, ?)").run(
        e.time ?? rfc3339Nano(),
        e.type,
        e.action,
        e.id ?? "",
        JSON.stringify(e.attributes ?? {}),
      ),
    );
  }

  /** Events in the order they happened, filtered by `q`. */
  listEvents(q: EventQuery = {}): EngineEvent[] {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (clause: string, v: unknown) => {
      if (v === undefined) return;
      where.push(clause);
      values.push(v);
    };
    add("seq > ?", q.afterSeq);
    add("time >= ?", q.since);
    add("time <= ?", q.until);
    add("type = ?", q.type);
    add("action = ?", q.action);
    add("id = ?", q.id);
    const sql =
      "SELECT seq, time, type, action, id, attributes FROM events" +
      (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
      " ORDER BY seq" +
      (q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : "");
    const rows = this.run("list events", () => this.stmt(sql).all(values)) as (Omit<EngineEvent, "attributes"> & {
      attributes: string;
    })[];
    return rows.map((r) => ({ ...r, attributes: JSON.parse(r.attributes) as Record<string, unknown> }));
  }

  /**
   * Runs `fn` as one write transaction (BEGIN IMMEDIATE, so the write lock is taken up front and
   * a concurrent writer waits on busy_timeout instead of failing mid-way). Nests as a savepoint.
   */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (--this.conn.handles > 0 || sharing) return; // shared: see shareConnectionsUntilExit()
    this.statements.clear();
    if (this.db.open) this.db.close();
  }

  private updateWhere(id: string, patch: Partial<ContainerRecord>, phases: readonly Phase[] | null): boolean {
    const fields = (Object.keys(patch) as (keyof ContainerRecord)[]).filter((f) => patch[f] !== undefined);
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const field of fields) {
      const col = COLUMN_OF.get(field);
      if (!col) throw new PolisError(`update container ${id}: unknown field ${String(field)}`);
      if (field === "id") throw new PolisError(`update container ${id}: the id cannot change`);
      sets.push(`${col.column} = ?`);
      values.push(encode(patch[field], col.kind));
    }
    let where = "id = ?";
    values.push(id);
    if (phases) {
      where += ` AND phase IN (${phases.map(() => "?").join(", ")})`;
      values.push(...phases);
    }
    // An empty patch still has to tell whether the row exists (and is in the right phase).
    const sql = sets.length
      ? `UPDATE containers SET ${sets.join(", ")} WHERE ${where}`
      : `SELECT 1 FROM containers WHERE ${where}`;
    return this.run(`update container ${id}`, () => {
      const s = this.stmt(sql);
      return sets.length ? s.run(values).changes > 0 : s.get(values) !== undefined;
    });
  }

  private stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  private run<T>(step: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw storeError(step, err);
    }
  }
}

/** An event to append: time defaults to now, id to "", attributes to {}. */
export type NewEvent = Pick<EngineEvent, "type" | "action"> & Partial<Pick<EngineEvent, "time" | "id" | "attributes">>;

/**
 * The connection behind a Store, for the other src/state/ modules (images, networks, monitor
 * records) that keep their SQL next to this file. Nothing outside src/state/ may call it.
 */
export function connectionOf(store: Store): Db {
  return (store as unknown as { db: Db }).db;
}

type Row = { [K in keyof ContainerRecord]: unknown };

function encode(value: unknown, kind: Kind): unknown {
  if (value === undefined || value === null) return null;
  return kind === "json" ? JSON.stringify(value) : value;
}

function decode(row: Row): ContainerRecord {
  const out: Record<string, unknown> = {};
  for (const [field, , kind] of COLUMNS) {
    const v = row[field];
    out[field] = kind === "json" && typeof v === "string" ? JSON.parse(v) : v;
  }
  return out as unknown as ContainerRecord;
}

/**
 * A fresh root's state.db as a copy of the build's template (STATE_TEMPLATE), when there is one
 * and nothing is at `path` yet (no database, and no WAL left of one, which SQLite would replay).
 * The copy gets the name with link(2), which fails if another process created the file
 * meanwhile: theirs is used then. Any failure leaves the migrations to do the work.
 */
function seedFromTemplate(path: string): void {
  if (existsSync(path) || existsSync(`${path}-wal`)) return;
  const template = join(dirname(fileURLToPath(import.meta.url)), STATE_TEMPLATE);
  const tmp = `${path}.template.${process.pid}`;
  try {
    copyFileSync(template, tmp);
    chmodSync(tmp, 0o600); // as migrate makes it: the records hold whole configs
    linkSync(tmp, path);
  } catch {
    // no template (running from source), or the file appeared: open and migrate as usual
  }
  try {
    unlinkSync(tmp);
  } catch {
    // never made
  }
}

/** The build's STATE_TEMPLATE: an empty database at SCHEMA_VERSION, checkpointed into one file. */
export function writeStateTemplate(file: string): void {
  const { Database, addon } = loadDriver();
  const db = new Database(file, { nativeBinding: addon as string | undefined });
  try {
    migrate(db, file);
  } finally {
    db.close(); // the last connection: SQLite checkpoints the WAL into the file and removes it
  }
}

function userVersion(db: Db): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/**
 * Brings the schema to SCHEMA_VERSION. Several polis processes may open a fresh root at once,
 * so the version is re-read under the write lock (BEGIN IMMEDIATE) and only the steps still
 * missing are applied; the losers of the race find nothing left to do.
 */
function migrate(db: Db, path: string): void {
  // journal_mode is persistent and cannot change inside a transaction; setting it is a no-op
  // once the file is in WAL mode, and only happens here, i.e. when the schema is behind.
  setWal(db);
  // The records hold whole configs (env, mounts): owner-only, even if the root directory was
  // made by someone else with looser permissions. SQLite gives -wal/-shm the same mode.
  chmodSync(path, 0o600);
  db.exec("BEGIN IMMEDIATE");
  try {
    const from = userVersion(db);
    if (from > SCHEMA_VERSION) {
      throw new PolisError(`state database ${path} has schema version ${from}, newer than this polis (${SCHEMA_VERSION})`);
    }
    for (let v = from; v < SCHEMA_VERSION; v++) {
      try {
        db.exec(MIGRATIONS[v].sql);
      } catch (err) {
        throw storeError(`migrate state database ${path} to version ${v + 1} (${MIGRATIONS[v].name})`, err);
      }
    }
    // PRAGMA takes no bound parameters; SCHEMA_VERSION is our own integer.
    if (from !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
  } catch (err) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw err;
  }
}

/**
 * Switching a fresh file to WAL needs an exclusive lock, and SQLite does not always wait for it
 * through the busy handler: with many first opens at once (containerd's burst of creates on a new
 * root) one may get SQLITE_BUSY. Retry for as long as the busy timeout would have waited.
 */
function setWal(db: Db): void {
  for (let waited = 0; ; waited += 10) {
    try {
      db.pragma("journal_mode = WAL");
      return;
    } catch (err) {
      const code = (err as { code?: unknown })?.code;
      if ((code !== "SQLITE_BUSY" && code !== "SQLITE_LOCKED") || waited >= BUSY_TIMEOUT_MS) throw err;
      sleepMs(10);
    }
  }
}

function isConstraint(err: unknown, code: string): boolean {
  return (err as { code?: unknown })?.code === code;
}

/** A driver error as a PolisError naming the step; SQLite's code plays the errno part. */
function storeError(step: string, err: unknown): PolisError {
  if (err instanceof PolisError) return err;
  const e = err as { message?: string; code?: string };
  const code = typeof e?.code === "string" ? e.code : undefined;
  const msg = (e?.message ?? String(err)).replace(/\.$/, "");
  return new PolisError(`${step}: ${msg}${code ? ` (${code})` : ""}`, { step, errno: code });
}

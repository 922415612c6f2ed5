// The monitor room's queries (src/monitor/): monitored containers, health results, metric
// history, alert states, event retention. The tables are made by the "monitor" migration.
import type { Store } from "./store.js";
import type BetterSqlite3 from "better-sqlite3";
import type { Namespace } from "../spec/types.js";
import type { ContainerRecord, EngineEvent } from "./types.js";
import { connectionOf } from "./store.js";

export interface HealthConfig {
  /** docker's Test: ["CMD-SHELL", cmd] or ["CMD", arg…] */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
  onFailure: "none" | "kill" | "restart" | "stop";
}

export type HealthStatus = "starting" | "healthy" | "unhealthy";

export interface MonitorRow {
  id: string;
  logPath: string;
  logMaxSize: number;
  logMaxFiles: number;
  health: HealthConfig | null;
  healthStatus: HealthStatus | null;
  failingStreak: number;
  startedAt: string | null;
  exitCode: number | null;
  exitSignal: number | null;
  finishedAt: string | null;
  oomKilled: boolean;
  /** run --rm: delete the container once its exit is recorded. */
  autoRemove: boolean;
  /** Other rooms' flags the monitor gave `polis create` (a restart gives them again). */
  createArgs: string[];
}

export interface HealthResult {
  start: string;
  end: string;
  exitCode: number;
  output: string;
}

export interface MetricSample {
  timeMs: number;
  id: string;
  cpuNs: number;
  memBytes: number;
  memLimit: number;
  rxBytes: number | null;
  txBytes: number | null;
}

/**
 * The connection's statement for `sql`, prepared once: `polis monitor` runs the same few queries at
 * every scrape and interval, and preparing them again each time was SQLite's parse and a few
 * malloc'd KB per statement, freed only when V8 collected its JS object.
 */
function prepared(store: Store, sql: string): Statement {
  const db = connectionOf(store);
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let stmt = cache.get(sql);
  if (!stmt) cache.set(sql, (stmt = db.prepare<unknown[], unknown>(sql)));
  return stmt;
}
type Statement = BetterSqlite3.Statement<unknown[], unknown>;
const statements = new WeakMap<object, Map<string, Statement>>();

const SELECT_MONITOR = `SELECT id, log_path AS logPath, log_max_size AS logMaxSize, log_max_files AS logMaxFiles,
  health, health_status AS healthStatus, failing_streak AS failingStreak, started_at AS startedAt,
  exit_code AS exitCode, exit_signal AS exitSignal, finished_at AS finishedAt, oom_killed AS oomKilled,
  auto_remove AS autoRemove, create_args AS createArgs FROM monitor_containers`;

type RawMonitor = Omit<MonitorRow, "health" | "oomKilled" | "autoRemove" | "createArgs"> & {
  health: string | null;
  oomKilled: number;
  autoRemove: number;
  createArgs: string;
};
const decode = (r: RawMonitor): MonitorRow => ({
  ...r,
  health: r.health ? (JSON.parse(r.health) as HealthConfig) : null,
  oomKilled: r.oomKilled === 1,
  autoRemove: r.autoRemove === 1,
  createArgs: JSON.parse(r.createArgs) as string[],
});

export function insertMonitor(
  store: Store,
  r: Pick<MonitorRow, "id" | "logPath" | "logMaxSize" | "logMaxFiles" | "health" | "autoRemove" | "createArgs">,
): void {
  prepared(
    store,
    `INSERT OR REPLACE INTO monitor_containers (id, log_path, log_max_size, log_max_files, health, health_status, auto_remove, create_args)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    r.id,
    r.logPath,
    r.logMaxSize,
    r.logMaxFiles,
    r.health ? JSON.stringify(r.health) : null,
    r.health ? "starting" : null,
    r.autoRemove ? 1 : 0,
    JSON.stringify(r.createArgs),
  );
}

export function getMonitor(store: Store, id: string): MonitorRow | undefined {
  const row = prepared(store, `${SELECT_MONITOR} WHERE id = ?`).get(id) as RawMonitor | undefined;
  return row ? decode(row) : undefined;
}

export function listMonitors(store: Store): MonitorRow[] {
  return (prepared(store, SELECT_MONITOR).all() as RawMonitor[]).map(decode);
}

export function removeMonitor(store: Store, id: string): void {
  const db = connectionOf(store);
  db.transaction(() => {
    db.prepare("DELETE FROM monitor_containers WHERE id = ?").run(id);
    db.prepare("DELETE FROM health_results WHERE id = ?").run(id);
    // alert_states stay: `polis monitor` sends the resolution of what fired for it, then clears them
  })();
}

/** Records how the init ended; false if the container is no longer monitored (deleted meanwhile). */
export function recordExit(
  store: Store,
  id: string,
  e: { exitCode: number; signal: number; finishedAt: string; oomKilled: boolean },
): boolean {
  const info = prepared(
    store,
    "UPDATE monitor_containers SET exit_code = ?, exit_signal = ?, finished_at = ?, oom_killed = ? WHERE id = ?",
  ).run(e.exitCode, e.signal, e.finishedAt, e.oomKilled ? 1 : 0, id);
  return info.changes > 0;
}

export function recordStarted(store: Store, id: string, at: string): void {
  prepared(store, "UPDATE monitor_containers SET started_at = ? WHERE id = ? AND started_at IS NULL").run(at, id);
}

/** Appends a health result (keeping the last `keep`) and sets the status; in one transaction. */
export function recordHealth(
  store: Store,
  id: string,
  result: HealthResult,
  status: HealthStatus,
  failingStreak: number,
  keep: number,
): void {
  const db = connectionOf(store);
  db.transaction(() => {
    db.prepare("INSERT INTO health_results (id, start, end, exit_code, output) VALUES (?, ?, ?, ?, ?)").run(
      id,
      result.start,
      result.end,
      result.exitCode,
      result.output,
    );
    db.prepare(
      "DELETE FROM health_results WHERE id = ? AND seq NOT IN (SELECT seq FROM health_results WHERE id = ? ORDER BY seq DESC LIMIT ?)",
    ).run(id, id, keep);
    db.prepare("UPDATE monitor_containers SET health_status = ?, failing_streak = ? WHERE id = ?").run(status, failingStreak, id);
  })();
}

export function healthResults(store: Store, id: string): HealthResult[] {
  return prepared(store, "SELECT start, end, exit_code AS exitCode, output FROM health_results WHERE id = ? ORDER BY seq").all(
    id,
  ) as HealthResult[];
}

export function insertSamples(store: Store, samples: MetricSample[]): void {
  const db = connectionOf(store);
  const ins = db.prepare(
    "INSERT INTO metric_samples (time_ms, id, cpu_ns, mem_bytes, mem_limit, rx_bytes, tx_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  db.transaction(() => {
    for (const s of samples) ins.run(s.timeMs, s.id, s.cpuNs, s.memBytes, s.memLimit, s.rxBytes, s.txBytes);
  })();
}

export function samplesSince(store: Store, sinceMs: number, id?: string): MetricSample[] {
  const sql = `SELECT time_ms AS timeMs, id, cpu_ns AS cpuNs, mem_bytes AS memBytes, mem_limit AS memLimit, rx_bytes AS rxBytes, tx_bytes AS txBytes
    FROM metric_samples WHERE time_ms >= ?${id ? " AND id = ?" : ""} ORDER BY time_ms`;
  return prepared(store, sql).all(...(id ? [sinceMs, id] : [sinceMs])) as MetricSample[];
}

export function pruneSamples(store: Store, beforeMs: number): number {
  return prepared(store, "DELETE FROM metric_samples WHERE time_ms < ?").run(beforeMs).changes;
}

/** Drops events older than `before` (RFC 3339): the history's retention. */
export function pruneEvents(store: Store, before: string): number {
  return prepared(store, "DELETE FROM events WHERE time < ?").run(before).changes;
}

export interface AlertState {
  rule: string;
  id: string;
  since: string;
  firing: boolean;
  /** When the container was first missing while this fired (a restart recreates it). */
  goneSince?: string;
}

export function alertStates(store: Store): AlertState[] {
  const rows = prepared(store, "SELECT rule, id, since, firing, gone_since AS goneSince FROM alert_states").all() as (Omit<
    AlertState,
    "firing" | "goneSince"
  > & {
    firing: number;
    goneSince: string | null;
  })[];
  return rows.map((r) => ({
    rule: r.rule,
    id: r.id,
    since: r.since,
    firing: r.firing === 1,
    ...(r.goneSince ? { goneSince: r.goneSince } : {}),
  }));
}

export function setAlertState(store: Store, s: AlertState): void {
  prepared(store, "INSERT OR REPLACE INTO alert_states (rule, id, since, firing, gone_since) VALUES (?, ?, ?, ?, ?)").run(
    s.rule,
    s.id,
    s.since,
    s.firing ? 1 : 0,
    s.goneSince ?? null,
  );
}

export function clearAlertState(store: Store, rule: string, id: string): void {
  prepared(store, "DELETE FROM alert_states WHERE rule = ? AND id = ?").run(rule, id);
}

/** The last `n` events, oldest first (the dashboard's list). */
export function recentEvents(store: Store, n: number): EngineEvent[] {
  const rows = prepared(store, "SELECT seq, time, type, action, id, attributes FROM events ORDER BY seq DESC LIMIT ?").all(
    n,
  ) as (Omit<EngineEvent, "attributes"> & { attributes: string })[];
  return rows.reverse().map((r) => ({ ...r, attributes: JSON.parse(r.attributes) as Record<string, unknown> }));
}

/** How many `action` events container `id` had since `since` (RFC 3339). */
export function countEventsSince(store: Store, id: string, action: string, since: string): number {
  return (
    prepared(store, "SELECT COUNT(*) AS n FROM events WHERE id = ? AND action = ? AND time >= ?").get(id, action, since) as {
      n: number;
    }
  ).n;
}

/** The latest time of `action` events per container id (one query for a whole scrape). */
export function lastEventTimes(store: Store, action: string): Map<string, string> {
  const rows = prepared(
    store,
    "SELECT id, MAX(time) AS time FROM events WHERE type = 'container' AND action = ? GROUP BY id",
  ).all(action) as { id: string; time: string }[];
  return new Map(rows.map((r) => [r.id, r.time]));
}

/** Every container's first resource of a kind starting with `prefix` (images, for labels). */
export function resourcesByPrefix(store: Store, prefix: string): Map<string, { kind: string; name: string; data: unknown }> {
  const rows = prepared(
    store,
    "SELECT container_id AS id, kind, name, data FROM container_resources WHERE kind LIKE ? ORDER BY rowid",
  ).all(`${prefix}%`) as { id: string; kind: string; name: string; data: string }[];
  const out = new Map<string, { kind: string; name: string; data: unknown }>();
  for (const r of rows) if (!out.has(r.id)) out.set(r.id, { kind: r.kind, name: r.name, data: JSON.parse(r.data) });
  return out;
}

/** Queues webhook notifications (JSON bodies); call inside the transaction that decided them. */
export function enqueueAlerts(store: Store, bodies: string[]): void {
  const ins = prepared(store, "INSERT INTO alert_outbox (body) VALUES (?)");
  for (const b of bodies) ins.run(b);
}

/** Notifications not yet delivered, oldest first. */
export function pendingAlerts(store: Store): { seq: number; body: string }[] {
  return prepared(store, "SELECT seq, body FROM alert_outbox ORDER BY seq").all() as { seq: number; body: string }[];
}

export function removeAlert(store: Store, seq: number): void {
  prepared(store, "DELETE FROM alert_outbox WHERE seq = ?").run(seq);
}

export interface Lease {
  pid: number;
  startTime: string;
  bootId: string;
}

/**
 * Takes lease `name` for `me` unless a live process (`alive`) holds it; returns the holder.
 * Call inside a write transaction so that two monitors never both take it.
 */
export function takeLease(store: Store, name: string, me: Lease, alive: (l: Lease) => boolean): Lease {
  const db = connectionOf(store);
  const held = db
    .prepare("SELECT pid, start_time AS startTime, boot_id AS bootId FROM monitor_leases WHERE name = ?")
    .get(name) as Lease | undefined;
  if (held && (held.pid !== me.pid || held.startTime !== me.startTime) && alive(held)) return held;
  db.prepare("INSERT OR REPLACE INTO monitor_leases (name, pid, start_time, boot_id) VALUES (?, ?, ?, ?)").run(
    name,
    me.pid,
    me.startTime,
    me.bootId,
  );
  return me;
}

export function dropLease(store: Store, name: string, pid: number): void {
  prepared(store, "DELETE FROM monitor_leases WHERE name = ? AND pid = ?").run(name, pid);
}

/** Keeps the newest `keep` undelivered notifications (a webhook down for long); returns how many went. */
export function trimOutbox(store: Store, keep: number): number {
  return prepared(
    store,
    "DELETE FROM alert_outbox WHERE seq NOT IN (SELECT seq FROM alert_outbox ORDER BY seq DESC LIMIT ?)",
  ).run(keep).changes;
}

/** Each container's latest health result (one query for a whole scrape). */
export function latestHealthResults(store: Store): Map<string, HealthResult> {
  const rows = prepared(
    store,
    "SELECT id, start, end, exit_code AS exitCode, output FROM health_results WHERE seq IN (SELECT MAX(seq) FROM health_results GROUP BY id)",
  ).all() as (HealthResult & { id: string })[];
  return new Map(rows.map(({ id, ...r }) => [id, r]));
}

/**
 * Bounds the page cache of `polis monitor`'s connection to `kib`. better-sqlite3 builds SQLite with
 * a 16 MB cache, and every scrape reads each container's row (a page of its own with its config):
 * at 100 containers 565 KB of malloc'd pages, kept for the process's life (~0.5 MiB of its peak
 * RSS, docs/performance.md). A page read again comes from the kernel's page cache, a few µs.
 */
export function boundPageCache(store: Store, kib: number): void {
  connectionOf(store).pragma(`cache_size = -${Math.max(1, Math.floor(kib))}`);
}

/**
 * Every container, as `store.list()` gives it (same order, same fields), but with its config cut
 * down to what a scrape reads of it (`ociVersion`, `linux.namespaces`), and the same frozen record
 * as the last scrape's for a row that has not changed. The whole config parsed for every container
 * at every scrape, and then the records themselves (~2.5 KB each with their parsed cgroup paths),
 * were most of what a scrape kept alive across V8's young collections: promoted, the old
 * generation grew by them at every scrape. A row is read again each time, but lives only while it
 * is compared.
 */
export function listContainersForScrape(store: Store): ContainerRecord[] {
  const rows = prepared(
    store,
    `SELECT id, bundle, rootfs, phase, pid, pid_start_time, boot_id, creator_pid, creator_start_time, created, owner,
        annotations, cgroup_paths, state_dir, session_keyring, json_extract(config, '$.ociVersion'),
        json_extract(config, '$.linux.namespaces')
      FROM containers ORDER BY rowid`,
  )
    .raw(true)
    .all() as ScrapeRow[];
  const next = new Map<string, { row: ScrapeRow; rec: ContainerRecord }>();
  const records = rows.map((row) => {
    const last = scrapeRecords.get(row[0]);
    const kept = last?.row.every((v, i) => v === row[i]) ? last : { row, rec: deepFreeze(scrapeRecord(row)) };
    next.set(row[0], kept);
    return kept.rec;
  });
  scrapeRecords = next; // the records of containers that are gone are let go
  return records;
}

type ScrapeRow = [
  id: string,
  bundle: string,
  rootfs: string,
  phase: ContainerRecord["phase"],
  pid: number | null,
  pidStartTime: string | null,
  bootId: string,
  creatorPid: number,
  creatorStartTime: string,
  created: string,
  owner: string,
  annotations: string,
  cgroupPaths: string,
  stateDir: string,
  sessionKeyring: string | null,
  ociVersion: string,
  namespaces: string | null,
];

/** The last scrape's rows and records, by container id (listContainersForScrape). */
let scrapeRecords = new Map<string, { row: ScrapeRow; rec: ContainerRecord }>();

function scrapeRecord(r: ScrapeRow): ContainerRecord {
  const [id, bundle, rootfs, phase, pid, pidStartTime, bootId, creatorPid, creatorStartTime, created, owner] = r;
  const [annotations, cgroupPaths, stateDir, sessionKeyring, ociVersion, namespaces] = r.slice(11) as [
    string,
    string,
    string,
    string | null,
    string,
    string | null,
  ];
  return {
    id,
    bundle,
    rootfs,
    phase,
    pid,
    pidStartTime,
    bootId,
    creatorPid,
    creatorStartTime,
    created,
    owner,
    annotations: JSON.parse(annotations) as Record<string, string>,
    config: { ociVersion, ...(namespaces === null ? {} : { linux: { namespaces: JSON.parse(namespaces) as Namespace[] } }) },
    cgroupPaths: JSON.parse(cgroupPaths) as Record<string, string>,
    stateDir,
    sessionKeyring,
  };
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === "object") {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

// The state database schema, as an append-only list of steps. `PRAGMA user_version` records how
// many steps a database has had: step i takes it from version i to i + 1.
//
// To add a table (images, networks, events, …) append a new step at the end. Never edit or
// reorder a step that has shipped: existing databases have already run it, and would not run
// it again.

export interface Migration {
  /** What the step is for; shown if it fails. */
  name: string;
  /** One or more SQL statements, run with `exec` inside the migration transaction. */
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    name: "containers",
    // `id` is the PRIMARY KEY so that two concurrent `create`s of one id race on the constraint
    // and exactly one wins. The implicit rowid grows with each insert, which gives `list` its
    // creation order without trusting clocks. JSON columns hold what is only ever read whole.
    sql: `
      CREATE TABLE containers (
        id                 TEXT PRIMARY KEY NOT NULL,
        bundle             TEXT NOT NULL,
        rootfs             TEXT NOT NULL,
        phase              TEXT NOT NULL CHECK (phase IN ('creating', 'created', 'running', 'stopped')),
        pid                INTEGER,
        pid_start_time     TEXT,
        boot_id            TEXT NOT NULL,
        creator_pid        INTEGER NOT NULL,
        creator_start_time TEXT NOT NULL,
        created            TEXT NOT NULL,
        owner              TEXT NOT NULL,
        annotations        TEXT NOT NULL DEFAULT '{}',
        config             TEXT NOT NULL,
        cgroup_paths       TEXT NOT NULL DEFAULT '{}',
        state_dir          TEXT NOT NULL
      );
    `,
  },
  {
    name: "containers.session_keyring",
    // The session keyring the init joined (NULL with --no-new-keyring): exec joins it too, as runc.
    sql: `ALTER TABLE containers ADD COLUMN session_keyring TEXT;`,
  },
  {
    name: "container_resources",
    // What rooms beside the runtime (images, networks, monitors) hold for a container and
    // `delete` must give back: src/container/resources.ts is the seam that releases them. No
    // foreign key on purpose: a room records a resource before the container row exists (an
    // image bundle made before `create`), so that a polis killed at any point leaves a row that
    // `delete --force <id>` can still find.
    sql: `
      CREATE TABLE container_resources (
        container_id TEXT NOT NULL,
        kind         TEXT NOT NULL,
        name         TEXT NOT NULL,
        data         TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (container_id, kind, name)
      );
    `,
  },
  {
    name: "events",
    // The engine-level event history (`polis events --all`): container lifecycle from the core,
    // pulls, network and monitor events from their rooms. seq orders them without trusting clocks.
    sql: `
      CREATE TABLE events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        time       TEXT NOT NULL,
        type       TEXT NOT NULL,
        action     TEXT NOT NULL,
        id         TEXT NOT NULL DEFAULT '',
        attributes TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX events_by_time ON events (time);
    `,
  },
];

/** The schema version this build of polis writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

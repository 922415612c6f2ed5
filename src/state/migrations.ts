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
];

/** The schema version this build of polis writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

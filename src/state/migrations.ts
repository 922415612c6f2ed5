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
  {
    name: "networks",
    // polis's networks and everything handed out on them. An address is taken by inserting its
    // (network, address) row: the PRIMARY KEY makes double allocation impossible even when
    // concurrent `run --network` processes pick the same candidate. Published ports likewise
    // (host_ip '' means every host address). No foreign keys to containers: an attachment is
    // recorded before the container row exists, so that a polis killed half-way can be cleaned.
    sql: `
      CREATE TABLE networks (
        name     TEXT PRIMARY KEY NOT NULL,
        id       TEXT NOT NULL UNIQUE,
        driver   TEXT NOT NULL,
        bridge   TEXT NOT NULL UNIQUE,
        subnets  TEXT NOT NULL,
        ipv6     INTEGER NOT NULL DEFAULT 0,
        internal INTEGER NOT NULL DEFAULT 0,
        dns      INTEGER NOT NULL DEFAULT 1,
        mtu      INTEGER NOT NULL DEFAULT 0,
        labels   TEXT NOT NULL DEFAULT '{}',
        created  TEXT NOT NULL
      );
      CREATE TABLE network_attachments (
        network      TEXT NOT NULL,
        container_id TEXT NOT NULL,
        ifname       TEXT NOT NULL,
        aliases      TEXT NOT NULL DEFAULT '[]',
        addresses    TEXT NOT NULL DEFAULT '[]',
        netns        TEXT,
        result       TEXT,
        created      TEXT NOT NULL,
        PRIMARY KEY (network, container_id)
      );
      CREATE TABLE ip_allocations (
        network      TEXT NOT NULL,
        address      TEXT NOT NULL,
        container_id TEXT NOT NULL,
        PRIMARY KEY (network, address)
      );
      CREATE INDEX ip_allocations_by_container ON ip_allocations (container_id);
      CREATE TABLE published_ports (
        host_ip        TEXT NOT NULL,
        protocol       TEXT NOT NULL,
        host_port      INTEGER NOT NULL,
        network        TEXT NOT NULL,
        container_id   TEXT NOT NULL,
        container_ip   TEXT NOT NULL,
        container_port INTEGER NOT NULL,
        PRIMARY KEY (host_ip, protocol, host_port)
      );
      CREATE INDEX published_ports_by_container ON published_ports (container_id);
    `,
  },
  {
    name: "monitor",
    // What the per-container monitor (src/monitor/) knows beyond runc's state: where the logs
    // go, the health check and its results, how the init ended, sampled metrics for charts, and
    // which alerts are firing. One row per monitored container in monitor_containers; the rest
    // is keyed by container id and removed with it (the monitor's releaser), except events and
    // metric history, which age out by retention.
    sql: `
      CREATE TABLE monitor_containers (
        id             TEXT PRIMARY KEY NOT NULL,
        log_path       TEXT NOT NULL,
        log_max_size   INTEGER NOT NULL DEFAULT 0,
        log_max_files  INTEGER NOT NULL DEFAULT 1,
        health         TEXT,
        health_status  TEXT,
        failing_streak INTEGER NOT NULL DEFAULT 0,
        started_at     TEXT,
        exit_code      INTEGER,
        exit_signal    INTEGER,
        finished_at    TEXT,
        oom_killed     INTEGER NOT NULL DEFAULT 0,
        auto_remove    INTEGER NOT NULL DEFAULT 0,
        create_args    TEXT NOT NULL DEFAULT '[]'
      );
      CREATE TABLE health_results (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        id        TEXT NOT NULL,
        start     TEXT NOT NULL,
        end       TEXT NOT NULL,
        exit_code INTEGER NOT NULL,
        output    TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX health_results_by_id ON health_results (id, seq);
      CREATE TABLE metric_samples (
        time_ms   INTEGER NOT NULL,
        id        TEXT NOT NULL,
        cpu_ns    REAL NOT NULL,
        mem_bytes REAL NOT NULL,
        mem_limit REAL NOT NULL,
        rx_bytes  REAL,
        tx_bytes  REAL
      );
      CREATE INDEX metric_samples_by_time ON metric_samples (time_ms);
      CREATE TABLE alert_states (
        rule   TEXT NOT NULL,
        id     TEXT NOT NULL,
        since  TEXT NOT NULL,
        firing INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (rule, id)
      );
    `,
  },
  {
    name: "images",
    // Pulled images (src/image/). An image is its manifest's digest; names (repo:tag, or
    // repo@digest for a pull by digest) point at images and move on a new pull. Blobs and
    // unpacked layers live on disk under <root>/images/, addressed by digest; these rows say who
    // references them. index_digest is the index an image was picked from (`images --digests`,
    // and --all-platforms' other images stay referenced through it). image_leases protect what a
    // pull in progress has fetched but not yet recorded from prune and from a failing pull's cleanup.
    sql: `
      CREATE TABLE images (
        id            TEXT PRIMARY KEY NOT NULL,
        media_type    TEXT NOT NULL,
        manifest      TEXT NOT NULL,
        config_digest TEXT NOT NULL,
        config        TEXT NOT NULL,
        platform      TEXT NOT NULL,
        size          INTEGER NOT NULL,
        created       TEXT,
        pulled        TEXT NOT NULL,
        index_digest  TEXT
      );
      CREATE TABLE image_layers (
        image      TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
        position   INTEGER NOT NULL,
        digest     TEXT NOT NULL,
        media_type TEXT NOT NULL,
        size       INTEGER NOT NULL,
        diff_id    TEXT NOT NULL,
        PRIMARY KEY (image, position)
      );
      CREATE INDEX image_layers_by_digest ON image_layers (digest);
      CREATE INDEX image_layers_by_diff_id ON image_layers (diff_id);
      CREATE TABLE image_indexes (
        digest     TEXT PRIMARY KEY NOT NULL,
        media_type TEXT NOT NULL,
        manifest   TEXT NOT NULL
      );
      CREATE TABLE image_names (
        name         TEXT PRIMARY KEY NOT NULL,
        repository   TEXT NOT NULL,
        tag          TEXT,
        image        TEXT NOT NULL REFERENCES images (id),
        index_digest TEXT,
        updated      TEXT NOT NULL
      );
      CREATE INDEX image_names_by_image ON image_names (image);
      CREATE TABLE image_leases (
        digest     TEXT NOT NULL,
        pid        INTEGER NOT NULL,
        start_time TEXT NOT NULL
      );
      CREATE INDEX image_leases_by_digest ON image_leases (digest);
    `,
  },
  {
    name: "monitor.alert_outbox",
    // Alert notifications for the webhook, written in the transaction that decides them and
    // removed once delivered: a `polis monitor` killed before the webhook took one sends it when
    // it runs again. One monitor per root records the history and evaluates and delivers alerts: the holder of the
    // "alerts" lease (a live process, checked by pid, start time and boot id). gone_since: a
    // container missing while its alert fires resolves only after a grace (restarts recreate it).
    sql: `
      CREATE TABLE alert_outbox (
        seq  INTEGER PRIMARY KEY AUTOINCREMENT,
        body TEXT NOT NULL
      );
      ALTER TABLE alert_states ADD COLUMN gone_since TEXT;
      CREATE TABLE monitor_leases (
        name       TEXT PRIMARY KEY,
        pid        INTEGER NOT NULL,
        start_time TEXT NOT NULL,
        boot_id    TEXT NOT NULL
      );
    `,
  },
  {
    name: "networks.driver_options",
    // macvlan/ipvlan networks (`network create --driver … -o parent=IF -o mode=…`): their
    // driver options, and no bridge of their own (bridge ''), so the bridge name is unique only
    // among bridge networks. SQLite cannot drop a UNIQUE constraint: the table is rebuilt.
    sql: `
      CREATE TABLE networks_v2 (
        name     TEXT PRIMARY KEY NOT NULL,
        id       TEXT NOT NULL UNIQUE,
        driver   TEXT NOT NULL,
        bridge   TEXT NOT NULL,
        subnets  TEXT NOT NULL,
        ipv6     INTEGER NOT NULL DEFAULT 0,
        internal INTEGER NOT NULL DEFAULT 0,
        dns      INTEGER NOT NULL DEFAULT 1,
        mtu      INTEGER NOT NULL DEFAULT 0,
        labels   TEXT NOT NULL DEFAULT '{}',
        created  TEXT NOT NULL,
        options  TEXT NOT NULL DEFAULT '{}'
      );
      INSERT INTO networks_v2 (name, id, driver, bridge, subnets, ipv6, internal, dns, mtu, labels, created)
        SELECT name, id, driver, bridge, subnets, ipv6, internal, dns, mtu, labels, created FROM networks;
      DROP TABLE networks;
      ALTER TABLE networks_v2 RENAME TO networks;
      CREATE UNIQUE INDEX networks_bridge ON networks (bridge) WHERE driver = 'bridge';
    `,
  },
  {
    name: "container_locks",
    // One process at a time changes a container in several steps that others must not see half
    // done: delete, and a monitor restarting the container in place (delete, then create under a
    // new monitor). The holder is named like an init (pid, start time, boot): a holder that died
    // or belongs to an earlier boot holds nothing.
    sql: `
      CREATE TABLE container_locks (
        container_id TEXT PRIMARY KEY,
        pid          INTEGER NOT NULL,
        start_time   TEXT NOT NULL,
        boot_id      TEXT NOT NULL
      );
    `,
  },
  {
    name: "image_run_templates",
    // What the native launcher needs to do a foreground `run --image` without node
    // (native/launcher/run_image.c): the config.json src/image/runtime-spec.ts makes for the
    // image (process.args with the image's own Cmd, hostname still the default), the image's
    // Entrypoint (user arguments replace Cmd after it) and the overlay's lowerdir (absolute,
    // top layer first). Written by node when it makes an overlay bundle of an image that needs
    // nothing read from its rootfs (no Volumes, no User). The launcher fills in the container's
    // own parts (hostname, args, the overlay mount) with SQLite's JSON functions. A change to
    // what imageSpec or defaultSpec make must clear this table in a new migration
    // (test/unit/image-run-template.test.ts fails until then).
    sql: `
      CREATE TABLE image_run_templates (
        image      TEXT PRIMARY KEY NOT NULL REFERENCES images (id) ON DELETE CASCADE,
        spec       TEXT NOT NULL,
        entrypoint TEXT NOT NULL,
        lower      TEXT NOT NULL
      );
    `,
  },
];

/** The schema version this build of polis writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

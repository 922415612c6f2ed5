/*
 * The state database, read and written as src/state/store.ts does: the same SQLite (the
 * amalgamation better-sqlite3 builds), the same busy timeout and pragmas, and only at the schema
 * version this build was generated for (launcher-gen.h); any other version goes to node. This is
 * the launcher's only file with SQL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sqlite3.h"
#include "launcher.h"
#include "launcher-gen.h"

/*
 * Every column this file uses, as the migrations leave it ("table.column TYPE [notnull]").
 * scripts/launcher-schema.mjs checks them against src/state/migrations.ts at build time (a
 * mismatch sends every call to node) and test/unit/launcher-schema.test.ts fails on one.
 */
static const char *const USED_COLUMNS[] = {
    "containers.id TEXT notnull",
    "containers.bundle TEXT notnull",
    "containers.rootfs TEXT notnull",
    "containers.phase TEXT notnull",
    "containers.pid INTEGER",
    "containers.pid_start_time TEXT",
    "containers.boot_id TEXT notnull",
    "containers.creator_pid INTEGER notnull",
    "containers.creator_start_time TEXT notnull",
    "containers.created TEXT notnull",
    "containers.owner TEXT notnull",
    "containers.annotations TEXT notnull",
    "containers.config TEXT notnull",
    "containers.cgroup_paths TEXT notnull",
    "containers.state_dir TEXT notnull",
    "containers.session_keyring TEXT",
    "container_resources.container_id TEXT notnull",
    "container_resources.kind TEXT notnull",
    "container_resources.name TEXT notnull",
    "container_resources.data TEXT notnull",
    "image_names.name TEXT notnull",
    "image_names.image TEXT notnull",
    "images.id TEXT notnull",
    "images.config TEXT notnull",
    "image_run_templates.image TEXT notnull",
    "image_run_templates.spec TEXT notnull",
    "image_run_templates.entrypoint TEXT notnull",
    "image_run_templates.lower TEXT notnull",
    "events.time TEXT notnull",
    "events.type TEXT notnull",
    "events.action TEXT notnull",
    "events.id TEXT notnull",
    "events.attributes TEXT notnull",
};

/* store.ts's BUSY_TIMEOUT_MS */
#define BUSY_TIMEOUT_MS 30000

static sqlite3 *db;

static const char *code_name(int rc) {
    switch (rc & 0xff) {
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    default: return "SQLITE_ERROR";
    }
}

/* store.ts's storeError: "<step>: <sqlite message> (<code>)"; node does it all before a change. */
static _Noreturn void store_error(const char *step, int rc) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    size_t n = strlen(msg);
    if (n && msg[n - 1] == '.') msg[n - 1] = 0;
    die("%s: %s (%s)", step, msg, code_name(rc));
}

void store_open(void) {
    if (db) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/state.db", G.root);
    /* No database yet: node creates it (and the root), then answers. */
    if (access(path, F_OK) != 0) handoff();
    (void)USED_COLUMNS;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) handoff();
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    /*
     * The one difference from node's connection, on purpose: closing the last connection would
     * checkpoint the WAL into the database and fsync it (3-15 ms here, more than the whole
     * command). The commits are in the WAL either way (synchronous=NORMAL: no fsync per commit,
     * as with node); a later node close or SQLite's auto-checkpoint (1000 pages) moves them.
     */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if (sqlite3_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK) handoff();
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) handoff();
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    /* A schema this build does not know (newer or older: node migrates it) goes to node. */
    if (version != POLIS_SCHEMA_VERSION) handoff();
}

void store_close(void) {
    if (db) sqlite3_close(db);
    db = NULL;
}

static char *text(sqlite3_stmt *st, int col) {
    const unsigned char *t = sqlite3_column_text(st, col);
    char *s = strdup(t ? (const char *)t : "");
    if (!s || !utf8_valid(s)) die("state database: unexpected text");
    return s;
}

/* An object of strings as JSON.stringify wrote it: key and value spans, raw (escapes kept). */
static bool json_string_span(const char **p, const char **start, size_t *len) {
    if (**p != '"') return false;
    const char *s = ++*p;
    while (**p && **p != '"') {
        if (**p == '\\') {
            if (!(*p)[1]) return false;
            ++*p;
        }
        ++*p;
    }
    if (**p != '"') return false;
    *start = s;
    *len = (size_t)(*p - s);
    ++*p;
    return true;
}

/* Calls fn for each key/value; false when the text is not a flat object of strings. */
static bool flat_object(const char *text, bool (*fn)(void *, const char *, size_t, const char *, size_t), void *ctx) {
    const char *p = text;
    if (*p++ != '{') return false;
    if (*p == '}') return p[1] == 0;
    for (;;) {
        const char *k, *v;
        size_t kl, vl;
        if (!json_string_span(&p, &k, &kl) || *p++ != ':' || !json_string_span(&p, &v, &vl)) return false;
        if (!fn(ctx, k, kl, v, vl)) return false;
        if (*p == '}') return p[1] == 0;
        if (*p++ != ',') return false;
    }
}

static bool add_cgroup(void *ctx, const char *k, size_t kl, const char *v, size_t vl) {
    struct record *rec = ctx;
    /* A path with an escape in it is left to node (never made by polis). */
    if (memchr(k, '\\', kl) || memchr(v, '\\', vl) || rec->ncg >= MAX_CGROUPS) return false;
    rec->cg_key[rec->ncg] = strndup(k, kl);
    rec->cg_dir[rec->ncg] = strndup(v, vl);
    rec->ncg++;
    return true;
}

/*
 * JSON.parse then JSON.stringify of the annotations gives back the stored text, except that
 * integer-like keys move to the front: those go to node.
 */
static bool check_annotation(void *ctx, const char *k, size_t kl, const char *v, size_t vl) {
    (void)ctx, (void)v, (void)vl;
    size_t digits = 0;
    while (digits < kl && k[digits] >= '0' && k[digits] <= '9') digits++;
    return !(kl > 0 && digits == kl);
}

#define RECORD_COLUMNS                                                                                          \
    "id, bundle, rootfs, phase, pid, pid_start_time, boot_id, creator_pid, creator_start_time, created, owner, " \
    "annotations, cgroup_paths, state_dir, "                                                                    \
    "coalesce(json_array_length(config, '$.hooks.startContainer'), 0) + "                                       \
    "coalesce(json_array_length(config, '$.hooks.poststart'), 0), "                                             \
    "coalesce(json_array_length(config, '$.hooks.poststop'), 0), "                                              \
    "EXISTS (SELECT 1 FROM json_each(config, '$.linux.namespaces') "                                            \
    "WHERE json_extract(value, '$.type') = 'pid' AND coalesce(json_extract(value, '$.path'), '') = ''), "         \
    "(SELECT count(*) FROM container_resources WHERE container_resources.container_id = containers.id), "       \
    "NOT EXISTS (SELECT 1 FROM json_each(config, '$.linux.namespaces') WHERE json_extract(value, '$.type') = 'mount')"

static void decode(sqlite3_stmt *st, struct record *r) {
    memset(r, 0, sizeof *r);
    r->id = text(st, 0);
    r->bundle = text(st, 1);
    r->rootfs = text(st, 2);
    r->phase = text(st, 3);
    r->pid_null = sqlite3_column_type(st, 4) == SQLITE_NULL;
    r->pid = sqlite3_column_int64(st, 4);
    r->pid_start_time = sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL : text(st, 5);
    r->boot_id = text(st, 6);
    r->creator_pid = sqlite3_column_int64(st, 7);
    r->creator_start_time = text(st, 8);
    r->created = text(st, 9);
    r->owner = text(st, 10);
    r->annotations = text(st, 11);
    char *cg = text(st, 12);
    r->state_dir = text(st, 13);
    r->start_hooks = sqlite3_column_int64(st, 14) > 0;
    r->poststop_hooks = sqlite3_column_int64(st, 15) > 0;
    r->own_pid_ns = sqlite3_column_int(st, 16) != 0;
    r->resources = sqlite3_column_int64(st, 17);
    r->shares_mount_ns = sqlite3_column_int(st, 18) != 0;
    if (!flat_object(cg, add_cgroup, r) || !flat_object(r->annotations, check_annotation, NULL)) {
        die("state database: unexpected cgroup paths or annotations");
    }
    free(cg);
}

bool store_get(const char *id, struct record *rec) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT " RECORD_COLUMNS " FROM containers WHERE id = ?", -1, &st, NULL);
    if (rc != SQLITE_OK) store_error("read container", rc);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    bool found = rc == SQLITE_ROW;
    if (found) decode(st, rec);
    else if (rc != SQLITE_DONE) store_error("read container", rc);
    sqlite3_finalize(st);
    return found;
}

int store_list(struct record **out) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT " RECORD_COLUMNS " FROM containers ORDER BY rowid", -1, &st, NULL);
    if (rc != SQLITE_OK) store_error("list containers", rc);
    int n = 0, cap = 16;
    struct record *recs = malloc(sizeof *recs * (size_t)cap);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) recs = realloc(recs, sizeof *recs * (size_t)(cap *= 2));
        if (!recs) die("out of memory");
        decode(st, &recs[n++]);
    }
    if (rc != SQLITE_DONE) store_error("list containers", rc);
    sqlite3_finalize(st);
    *out = recs;
    return n;
}

/* store.transition(id, "created", { phase: "running" }): of two racing starts, one wins. */
bool store_transition_to_running(const char *id) {
    sqlite3_stmt *st;
    char step[512];
    snprintf(step, sizeof step, "update container %s", id);
    int rc = sqlite3_prepare_v2(db, "UPDATE containers SET phase = ? WHERE id = ? AND phase IN (?)", -1, &st, NULL);
    if (rc != SQLITE_OK) store_error(step, rc);
    sqlite3_bind_text(st, 1, "running", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, "created", -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) store_error(step, rc);
    return sqlite3_changes(db) > 0;
}

void store_remove(const char *id) {
    sqlite3_stmt *st;
    char step[512];
    snprintf(step, sizeof step, "remove container %s", id);
    int rc = sqlite3_prepare_v2(db, "DELETE FROM containers WHERE id = ?", -1, &st, NULL);
    if (rc != SQLITE_OK) store_error(step, rc);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) store_error(step, rc);
}

static long long count_resources(const char *sql, const char *id) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) store_error("read resources of container", rc);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    long long n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) store_error("read resources of container", rc);
    return n;
}

/* Rows the release seam (src/container/resources.ts) holds for `id`: node releases them. */
long long store_resource_count(const char *id) {
    return count_resources("SELECT count(*) FROM container_resources WHERE container_id = ?", id);
}

/* Rows of `id` of kinds other than image-bundle: those are node's to release. */
long long store_other_resource_count(const char *id) {
    return count_resources("SELECT count(*) FROM container_resources WHERE container_id = ? AND kind <> 'image-bundle'", id);
}

/*
 * src/time.ts's rfc3339Nano: UTC to the millisecond from the wall clock, then six digits from
 * the monotonic clock (so that close events still sort as text).
 */
void rfc3339_nano(char *out, size_t len) {
    struct timespec wall, mono;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    struct tm tm;
    time_t secs = wall.tv_sec;
    gmtime_r(&secs, &tm);
    /* snprintf, not strftime: that would read the time zone for nothing */
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ld%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, wall.tv_nsec / 1000000, (long)(mono.tv_nsec % 1000000));
}

/* store.appendEvent({ type: "container", action, id, attributes }) */
void store_append_event(const char *action, const char *id, const char *attributes) {
    char time[64];
    rfc3339_nano(time, sizeof time);
    struct timespec mono;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    /* { ..., "durationMs": N } with N as JavaScript prints Math.round(ms * 10) / 10 */
    long tenths = ((mono.tv_sec - g_started.tv_sec) * 1000000000L + (mono.tv_nsec - g_started.tv_nsec) + 50000L) / 100000L;
    char duration[48];
    if (tenths % 10 == 0) snprintf(duration, sizeof duration, "\"durationMs\":%ld}", tenths / 10);
    else snprintf(duration, sizeof duration, "\"durationMs\":%ld.%ld}", tenths / 10, tenths % 10);
    size_t open_len = strlen(attributes) - 1; /* without the closing brace */
    struct buf attrs = {0};
    buf_add(&attrs, attributes, open_len);
    if (open_len > 1) buf_str(&attrs, ",");
    buf_str(&attrs, duration);
    char step[128];
    snprintf(step, sizeof step, "record container event %s", action);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO events (time, type, action, id, attributes) VALUES (?, ?, ?, ?, ?)", -1, &st, NULL);
    if (rc != SQLITE_OK) store_error(step, rc);
    sqlite3_bind_text(st, 1, time, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, "container", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, attrs.p, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(attrs.p);
    if (rc != SQLITE_DONE) store_error(step, rc);
}

/* ---- create (create.c): the new row, and JSON read with SQLite's JSON functions ------------ */

/* The containers columns create.c fills, in the migrations' order (POLIS_CONTAINERS_COLUMNS). */
#define INSERT_COLUMNS                                                                                          \
    "id,bundle,rootfs,phase,pid,pid_start_time,boot_id,creator_pid,creator_start_time,created,owner,"            \
    "annotations,config,cgroup_paths,state_dir,session_keyring"

bool store_can_insert(void) { return !strcmp(INSERT_COLUMNS, POLIS_CONTAINERS_COLUMNS); }

/* A scratch connection for JSON work before the state database is needed (no file). */
static sqlite3 *json_db;

sqlite3 *store_json_db(void) {
    if (!json_db && sqlite3_open_v2(":memory:", &json_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, NULL) != SQLITE_OK) handoff();
    return json_db;
}

/*
 * json_type and json_extract of `path` in `json`: type NULL when absent; *text (malloc'd, may be
 * NULL) is the value as SQLite gives it (strings unquoted, arrays and objects as minified JSON).
 * A malformed path or document hands off: create.c asks only before its first change.
 */
const char *store_json(const char *json, const char *path, char **text) {
    /* a few results may be held at once (callers compare several types) */
    static char types[8][16];
    static int next;
    char *type = types[next++ % 8];
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store_json_db(), "SELECT json_type(?1, ?2), json_extract(?1, ?2)", -1, &st, NULL) != SQLITE_OK) handoff();
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) handoff();
    const unsigned char *t = sqlite3_column_text(st, 0), *v = sqlite3_column_text(st, 1);
    const char *result = NULL;
    if (t) {
        snprintf(type, sizeof types[0], "%s", t);
        result = type;
    }
    if (text) *text = v ? strdup((const char *)v) : NULL;
    sqlite3_finalize(st);
    return result;
}

/* json_each of `path` (an object or array): fn(key, type, value) per member; false stops. */
void store_json_each(const char *json, const char *path, bool (*fn)(void *, const char *, const char *, const char *), void *ctx) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store_json_db(), "SELECT key, type, CASE WHEN type IN ('object','array') THEN json(value) ELSE value END FROM json_each(?1, ?2)", -1, &st, NULL) != SQLITE_OK) handoff();
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0), *t = (const char *)sqlite3_column_text(st, 1),
                   *v = (const char *)sqlite3_column_text(st, 2);
        if (!fn(ctx, k ? k : "", t ? t : "", v ? v : "")) break;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) handoff();
}

/*
 * config.json as node records it (JSON.stringify of the validated spec): minified, with
 * loadSpec's normaliseProcess applied (process.user and its uid/gid default to 0). NULL when
 * the document is not one this can do that for (then node does the create).
 */
char *store_recorded_config(const char *json) {
    static const char *const SQL =
        "WITH a(c) AS (SELECT json(?1)), "
        "b(c) AS (SELECT CASE WHEN json_type(c, '$.process') = 'object' AND json_type(c, '$.process.user') IS NULL "
        "  THEN json_set(c, '$.process.user', json('{\"uid\":0,\"gid\":0}')) ELSE c END FROM a), "
        "d(c) AS (SELECT CASE WHEN json_type(c, '$.process.user') = 'object' AND json_type(c, '$.process.user.uid') IS NULL "
        "  THEN json_set(c, '$.process.user.uid', 0) ELSE c END FROM b), "
        "e(c) AS (SELECT CASE WHEN json_type(c, '$.process.user') = 'object' AND json_type(c, '$.process.user.gid') IS NULL "
        "  THEN json_set(c, '$.process.user.gid', 0) ELSE c END FROM d) "
        "SELECT c FROM e";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store_json_db(), SQL, -1, &st, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

/*
 * store.insert(rec) of a new container in phase "creating": 1 done, 0 the id is taken (node
 * reports that), -1 another failure (node redoes and reports it). Never dies: the caller undoes.
 */
int store_insert_container(const struct new_row *r) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO containers (" INSERT_COLUMNS ") VALUES "
                               "(?, ?, ?, 'creating', NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int i = 1;
    sqlite3_bind_text(st, i++, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, r->bundle, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, r->rootfs, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, r->boot_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, i++, r->creator_pid);
    sqlite3_bind_text(st, i++, r->creator_start_time, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, r->created, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, r->owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, r->annotations, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, r->config, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, r->cgroup_paths, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, r->state_dir, -1, SQLITE_STATIC);
    if (r->session_keyring) sqlite3_bind_text(st, i++, r->session_keyring, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i++);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) return 1;
    return sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY ? 0 : -1;
}

/* store.update(id, {pid, pidStartTime}) or ({phase: "created"}): 1 done, 0 no such row, -1 failed. */
int store_update_created(const char *id, long long pid, const char *pid_start_time) {
    sqlite3_stmt *st;
    int rc = pid > 0 ? sqlite3_prepare_v2(db, "UPDATE containers SET pid = ?, pid_start_time = ? WHERE id = ?", -1, &st, NULL)
                     : sqlite3_prepare_v2(db, "UPDATE containers SET phase = 'created' WHERE id = ?", -1, &st, NULL);
    if (rc != SQLITE_OK) return -1;
    if (pid > 0) {
        sqlite3_bind_int64(st, 1, pid);
        sqlite3_bind_text(st, 2, pid_start_time, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return -1;
    return sqlite3_changes(db) > 0;
}

/* store.remove(id) while undoing a create: false on failure, never dies. */
bool store_try_remove(const char *id) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "DELETE FROM containers WHERE id = ?", -1, &st, NULL) != SQLITE_OK) return false;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

/* ---- run --image (run_image.c): the image's run template, the image-bundle resource ---------- */

/*
 * In one write transaction (BEGIN IMMEDIATE, ended by store_commit, or rolled back by the close
 * of a hand-off): the image `name` points at and its run template (src/image/run-template.ts),
 * with the container's parts filled in by SQLite: hostname, process.args (the image's Entrypoint
 * then `args_json`, when not NULL) and, when `upper` is not NULL, the `volatile` overlay first in
 * mounts; pretty-printed as node's JSON.stringify(spec, null, "\t"). False when the name, the
 * image or its template is missing, or when the image has a Healthcheck and `healthcheck_ok` is
 * false (a detached container of it gets a monitor: node's).
 * The transaction holds until the image-bundle row is in: an `rmi` cannot take the image (and
 * with it its layers) in between.
 */
bool store_run_template(const char *name, const char *hostname, const char *args_json, const char *upper, const char *work,
                        bool healthcheck_ok, struct run_template *out) {
    static const char *const SQL =
        "SELECT t.image, t.lower, json_pretty(json_replace(t.spec, "
        "  '$.hostname', ?2, "
        "  '$.process.args', CASE WHEN ?3 IS NULL THEN t.spec -> '$.process.args' ELSE ("
        "    SELECT json_group_array(value) FROM (SELECT 0 AS o, key AS k, value FROM json_each(t.entrypoint) "
        "    UNION ALL SELECT 1, key, value FROM json_each(?3) ORDER BY o, k)) END, "
        "  '$.mounts', CASE WHEN ?4 IS NULL THEN t.spec -> '$.mounts' ELSE (SELECT json_group_array(json(m)) FROM ("
        "    SELECT 0 AS o, 0 AS k, json_object('destination', '/', 'type', 'overlay', 'source', 'overlay', 'options', "
        "      json_array('lowerdir=' || t.lower, 'upperdir=' || ?4, 'workdir=' || ?5, 'volatile')) AS m "
        "    UNION ALL SELECT 1, key, value FROM json_each(t.spec, '$.mounts') ORDER BY o, k)) END"
        "), char(9)) "
        "FROM image_names n JOIN images i ON i.id = n.image JOIN image_run_templates t ON t.image = i.id WHERE n.name = ?1 "
        "AND (?6 OR coalesce(json_type(i.config, '$.config.Healthcheck'), 'null') = 'null')";
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) store_error("read the image", rc);
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(db, SQL, -1, &st, NULL);
    if (rc != SQLITE_OK) store_error("read the image", rc);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hostname, -1, SQLITE_STATIC);
    if (args_json) sqlite3_bind_text(st, 3, args_json, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 3);
    if (upper) sqlite3_bind_text(st, 4, upper, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, work, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, healthcheck_ok);
    rc = sqlite3_step(st);
    bool found = rc == SQLITE_ROW && sqlite3_column_text(st, 2);
    if (found) {
        out->image = text(st, 0);
        out->lower = text(st, 1);
        out->config = text(st, 2);
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_error("read the image", rc);
    }
    sqlite3_finalize(st);
    return found;
}

/* store.addResource(id, "image-bundle", dir, { image, dir }): false on failure, never dies. */
bool store_add_image_bundle(const char *id, const char *image, const char *dir) {
    struct buf data = {0};
    buf_str(&data, "{\"image\":");
    buf_json_string(&data, image);
    buf_str(&data, ",\"dir\":");
    buf_json_string(&data, dir);
    buf_str(&data, "}");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO container_resources (container_id, kind, name, data) VALUES (?, 'image-bundle', ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return free(data.p), false;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, data.p, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(data.p);
    return rc == SQLITE_DONE;
}

bool store_commit(void) { return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK; }

/* store.removeResource(id, "image-bundle", dir): false on failure, never dies. */
bool store_remove_image_bundle(const char *id, const char *dir) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "DELETE FROM container_resources WHERE container_id = ? AND kind = 'image-bundle' AND name = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

/*
 * The container's resources, most recent first (releaseResources' order): fn(kind, name, dir)
 * with dir = data.dir when it is a string (else NULL); false from fn stops. False when the rows
 * cannot be read.
 */
bool store_each_resource(const char *id, bool (*fn)(void *, const char *, const char *, const char *), void *ctx) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT kind, name, CASE WHEN json_type(data, '$.dir') = 'text' THEN json_extract(data, '$.dir') END "
                               "FROM container_resources WHERE container_id = ? ORDER BY rowid DESC", -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0), *n = (const char *)sqlite3_column_text(st, 1),
                   *d = (const char *)sqlite3_column_text(st, 2);
        if (!fn(ctx, k ? k : "", n ? n : "", d)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

/*
 * polis's native launcher: the `polis` executable. For the hot commands (state, list, kill,
 * start, pause, resume, delete of a stopped or never-started container; create and run of a
 * plain config, create.c; create and run of a pulled image, run_image.c) it does the whole job
 * itself, byte for byte as the Node implementation would; for everything else, and for any case
 * it does not fully handle, it execs node with dist/polis-entry.cjs (see handoff()).
 *
 * The rule that keeps the two paths identical: before its first side effect, any surprise (an
 * unreadable cgroup file, an SQLite error, a flag it does not know) hands the call to node,
 * which then does and reports everything itself. After a side effect the launcher finishes the
 * job and reports failures with node's texts; except `create` and `run` (create.c), whose many
 * failures after a change (a cgroup write, the shim's report, the pid file) cannot all be
 * reproduced here: until the container is recorded as created they undo every change (init and
 * shim killed and reaped, cgroup, state directory, row) and then hand the call to node, which
 * redoes it and reports its own error. A `run` whose init has been released finishes natively.
 */
#ifndef POLIS_LAUNCHER_H
#define POLIS_LAUNCHER_H

#include <time.h>
#include <stddef.h>
#include <stdbool.h>

#define MAX_CGROUPS 32

/* The global flags that matter here (argv.ts and main.ts decide the same). */
struct globals {
    const char *root;     /* absolute */
    const char *log_file; /* NULL: stderr */
    int log_fd;           /* the --log file, opened up front as log.ts does; 2 without one */
    bool log_json;
    const char *config;   /* --config as given (the rooms read it; node's delete after a run needs it) */
};

/* One row of the containers table, as much as the native commands need. */
struct record {
    char *id, *bundle, *rootfs, *phase, *pid_start_time, *boot_id, *creator_start_time;
    char *created, *owner, *annotations, *state_dir;
    long long pid;
    bool pid_null;
    long long creator_pid;
    int ncg;                       /* cgroup_paths, in recorded order */
    char *cg_key[MAX_CGROUPS], *cg_dir[MAX_CGROUPS];
    bool start_hooks;              /* config.hooks.startContainer or .poststart non-empty */
    bool poststop_hooks;           /* config.hooks.poststop non-empty */
    bool own_pid_ns;               /* a pid namespace without a path in config.linux.namespaces */
    long long resources;           /* rows in container_resources (the release seam) */
    bool shares_mount_ns;          /* no mount namespace in config.linux.namespaces */
};

/* main.c */
extern struct globals G;
extern bool side_effects; /* set before the first change: no hand-off to node after it */
_Noreturn void handoff(void);
_Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void committed(void);

/* report.c: output and log lines in node's exact shapes */
struct buf { char *p; size_t len, cap; };
void buf_add(struct buf *b, const char *s, size_t n);
void buf_str(struct buf *b, const char *s);
void buf_fmt(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_json_string(struct buf *b, const char *s);
bool utf8_valid(const char *s);
size_t utf16_length(const char *s);
void write_fd(int fd, const char *s, size_t n);
void log_line(const char *level, const char *msg);
const char *errno_name(int err);
void sleep_ms(int ms);

/* store.c: the only SQL here */
void store_open(void);
void store_close(void);
bool store_get(const char *id, struct record *rec);
int store_list(struct record **out);
bool store_transition_to_running(const char *id);
void store_remove(const char *id);
long long store_resource_count(const char *id);
long long store_other_resource_count(const char *id);
/* attributes: a JSON object; durationMs (since the launcher started, as the Node path's since node's) is added. */
void store_append_event(const char *action, const char *id, const char *attributes);
extern struct timespec g_started; /* CLOCK_MONOTONIC when main() began */

/* store.c, for create (create.c) */
struct sqlite3;
struct new_row {
    const char *id, *bundle, *rootfs, *boot_id, *creator_start_time, *created, *owner;
    const char *annotations, *config, *cgroup_paths, *state_dir, *session_keyring;
    long long creator_pid;
};
void rfc3339_nano(char *out, size_t len);
bool store_can_insert(void);
struct sqlite3 *store_json_db(void);
const char *store_json(const char *json, const char *path, char **text);
void store_json_each(const char *json, const char *path, bool (*fn)(void *, const char *, const char *, const char *), void *ctx);
char *store_recorded_config(const char *json);
int store_insert_container(const struct new_row *r);
int store_update_created(const char *id, long long pid, const char *pid_start_time);
bool store_try_remove(const char *id);

/* store.c, for run --image (run_image.c) */
struct run_template { char *image, *lower, *config; };
bool store_run_template(const char *name, const char *hostname, const char *args_json, const char *upper, const char *work,
                        bool healthcheck_ok, struct run_template *out);
bool store_add_image_bundle(const char *id, const char *image, const char *dir);
bool store_commit(void);
bool store_remove_image_bundle(const char *id, const char *dir);
bool store_each_resource(const char *id, bool (*fn)(void *, const char *, const char *, const char *), void *ctx);

/* warm.c: for `create` and `run` handed to node, keep the kernel's cgroup-move lock warm while it boots */
void warm_cgroup_lock(const char *command, char **argv, int argc);

/* proc.c */
const char *boot_id(void);
bool proc_start_time(long long pid, char *out, size_t len);
bool same_process(long long pid, const char *start_time, const char *boot_id);
bool init_alive(const struct record *rec);
const char *live_status(const struct record *rec);

/* cgroup.c: the freezer, the kill sweep and removal, over the recorded paths */
const char *cg_path(const struct record *rec, const char *key);
int freezer_kind(const struct record *rec); /* 0 none, 1 v1, 2 v2 */
bool is_frozen(const struct record *rec);
void cg_set_frozen(const struct record *rec, bool frozen);
bool cg_try_thaw(const struct record *rec);
void cg_kill_all(const struct record *rec, int sig);
int cg_pid_count(const struct record *rec);
bool cg_destroy(const struct record *rec, char *why, size_t whylen);

/* commands.c */
int cmd_state(int argc, char **args);
int cmd_list(const char *format, bool quiet);
int cmd_kill(const char *id, const char *signal, bool all);
int cmd_start(const char *id);
int cmd_pause(const char *id, bool pause);
int cmd_delete(const char *id, bool force);
int remove_all(const char *path);
void release_init(const struct record *rec);
const char *try_release_init(const struct record *rec);
bool teardown_stopped(const struct record *rec, char *why, size_t whylen, char *first, size_t firstlen);

/* create.c: `polis create` of a plain config (the rule for hand-offs is in create.c's head) */
struct create_opts {
    const char *id, *bundle, *pid_file, *console_socket, *preserve_fds;
    bool no_pivot, no_new_keyring, systemd_cgroup;
};
int cmd_create(const struct create_opts *o);
int cmd_run(const struct create_opts *o, bool detach, bool keep);

/* run_image.c: `polis create|run --image REF ID [-- ARGS]` of a pulled image */
enum image_run {
    IMAGE_FOREGROUND, /* run: the container goes with it; its overlay is mounted in its own namespace */
    IMAGE_KEEP,       /* run --keep, and the others: the overlay mounted on the host (under the bundle) */
    IMAGE_DETACH,     /* run -d */
    IMAGE_CREATE,     /* create */
};
int cmd_run_image(struct create_opts *o, enum image_run how, const char *ref, char **args, int nargs);
/* the image-bundle resources of container `id` given back (delete's releaseResources, for that kind) */
bool release_image_bundles(const char *id, char *why, size_t whylen);
/* what handoff() takes back first: a change made before a create that node will redo */
extern void (*handoff_undo)(void);
/* create.c: what handoff() does next, once nothing is left: the signals a foreground run caught */
extern void (*handoff_signals)(void);

#endif

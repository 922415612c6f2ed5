/*
 * config.json -> the init plan node sends the shim for `polis create` (or a foreground `run`: wait
 * mode), byte for byte (src/container/launch.ts planInit + src/container/plan-init.ts
 * buildInitPlan, encoded as src/linux/plan.ts Plan.encode does), for "plain" configs only.
 * Anything else — a field this builder does not implement, or a config node would reject — is
 * refused, so that the caller hands the whole command to node, which then does it (or reports the
 * error) itself.
 *
 * What "plain" means, field by field, is the table in plan_check.c. The interface is agreed with
 * the native create (create.c); test/integration/native-plan-differential.test.ts checks the bytes.
 */
#ifndef POLIS_PLAN_INIT_H
#define POLIS_PLAN_INIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sqlite3.h>

#include "launcher.h"

#define PLAN_MAX_CGROUPS 32

struct init_input {
    const char *config_json;      /* the bytes of config.json, NUL-terminated */
    const char *bundle;           /* absolute bundle dir (relative bind sources are relative to it) */
    const char *rootfs;           /* absolute host path of root.path */
    const char *fifo_path;        /* the exec fifo (state dir) */
    bool no_pivot;
    int ncg;                      /* cgroup paths, in node's order (cgroup.paths of the manager) */
    const char *cg_key[PLAN_MAX_CGROUPS], *cg_dir[PLAN_MAX_CGROUPS];
    int nprocs;                   /* cgroup.procs files to join, in node's order */
    const char *procs[PLAN_MAX_CGROUPS];
    const char *session_keyring;  /* NULL with --no-new-keyring; else "_ses.<id>" */
    /* Added by ncplan (NCREATE-INTERFACE.md "Change by ncplan"); all zero = a detached create
     * without a console socket, as above. */
    const char *console_socket;   /* --console-socket (needs process.terminal; detach mode only) */
    bool wait_mode;               /* a foreground `run`: CLONE "wait", a terminal is proxied */
    int nparent;                  /* wait mode: polis's own cgroup.procs files (ownProcsFiles) */
    const char *parent_procs[PLAN_MAX_CGROUPS];
    /* the size of config.json in bytes, when known (0: strlen). A NUL inside the file would make
     * the C string shorter than what node parses (and rejects): a mismatch is refused. */
    size_t config_len;
};

/*
 * 0: *out holds the plan bytes exactly as node's Plan.encode() would produce for the same input.
 * -1: not a config this builder handles; `why` says which field (for debug logging only, never
 * printed to the user) — the caller hands off to node. No side effects either way (it reads
 * config.json's text, stats bind sources and reads the rootfs's /etc/passwd, as node does).
 * `db` may be any connection (":memory:" will do): only SQLite's JSON functions are used.
 * `out` is appended to; on -1 it may hold a partial plan, which the caller discards.
 */
int plan_init_build(sqlite3 *db, const struct init_input *in, struct buf *out, char *why, size_t whylen);

#endif

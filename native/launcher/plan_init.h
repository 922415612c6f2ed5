/* Interface placeholder from NCREATE-INTERFACE.md: branch ncplan owns this file and plan_init.c. */
#ifndef POLIS_PLAN_INIT_H
#define POLIS_PLAN_INIT_H

#include <stdbool.h>
#include <stddef.h>
#include "sqlite3.h"
#include "launcher.h"

struct init_input {
    const char *config_json;
    const char *bundle;
    const char *rootfs;
    const char *fifo_path;
    bool no_pivot;
    int ncg;
    const char *cg_key[32], *cg_dir[32];
    int nprocs;
    const char *procs[32];
    const char *session_keyring;
};

int plan_init_build(sqlite3 *db, const struct init_input *in, struct buf *out, char *why, size_t whylen);

#endif

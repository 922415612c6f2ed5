/*
 * A test entry for plan_init_build (not part of the launcher): prints the plan bytes for a
 * config.json, or "refused: <why>" on stderr with exit status 2. Built and run by
 * test/integration/native-plan-differential.test.ts.
 *
 *   plan-dump CONFIG BUNDLE ROOTFS FIFO [--no-pivot] [--keyring NAME] [--cg KEY=DIR]... [--procs FILE]...
 *             [--console-socket PATH] [--wait] [--parent FILE]...
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan_init.h"

struct globals G = { "/", NULL, 2, false, NULL }; /* report.c's log_line wants one */

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s", path);
    struct buf b = { 0 };
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_add(&b, chunk, n);
    fclose(f);
    if (!b.p) buf_add(&b, "", 0);
    *len = b.len;
    return b.p;
}

int main(int argc, char **argv) {
    if (argc < 5) die("usage: plan-dump CONFIG BUNDLE ROOTFS FIFO [options]");
    struct init_input in = { 0 };
    size_t len;
    char *json = read_all(argv[1], &len);
    in.config_json = json;
    in.config_len = len;
    in.bundle = argv[2];
    in.rootfs = argv[3];
    in.fifo_path = argv[4];
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--no-pivot")) in.no_pivot = true;
        else if (!strcmp(argv[i], "--keyring") && i + 1 < argc) in.session_keyring = argv[++i];
        else if (!strcmp(argv[i], "--cg") && i + 1 < argc && in.ncg < PLAN_MAX_CGROUPS) {
            char *eq = strstr(argv[++i], "=/"); /* keys may hold "=" (name=systemd), dirs start with "/" */
            if (!eq) die("--cg KEY=DIR");
            *eq = 0;
            in.cg_key[in.ncg] = argv[i];
            in.cg_dir[in.ncg++] = eq + 1;
        } else if (!strcmp(argv[i], "--procs") && i + 1 < argc && in.nprocs < PLAN_MAX_CGROUPS) {
            in.procs[in.nprocs++] = argv[++i];
        } else if (!strcmp(argv[i], "--console-socket") && i + 1 < argc) {
            in.console_socket = argv[++i];
        } else if (!strcmp(argv[i], "--wait")) {
            in.wait_mode = true;
        } else if (!strcmp(argv[i], "--parent") && i + 1 < argc && in.nparent < PLAN_MAX_CGROUPS) {
            in.parent_procs[in.nparent++] = argv[++i];
        } else die("unknown argument %s", argv[i]);
    }
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) die("sqlite3_open");
    struct buf out = { 0 };
    char why[256];
    int rc = plan_init_build(db, &in, &out, why, sizeof why);
    sqlite3_close(db);
    free(json);
    if (rc != 0) {
        fprintf(stderr, "refused: %s\n", why);
        free(out.p);
        return 2;
    }
    if (write(1, out.p, out.len) != (ssize_t)out.len) die("write");
    free(out.p);
    return 0;
}

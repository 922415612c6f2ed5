/*
 * The container's cgroup from its recorded paths, as src/cgroups/freezer.ts and
 * src/cgroups/manager.ts (FsCgroupManager) handle it: freezer state, freeze/thaw, the kill sweep
 * of `kill --all` and delete, and removal. Same order of steps, same waits, same error texts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launcher.h"

const char *cg_path(const struct record *rec, const char *key) {
    for (int i = 0; i < rec->ncg; i++) if (!strcmp(rec->cg_key[i], key)) return rec->cg_dir[i];
    return NULL;
}

static void join(char *out, size_t len, const char *dir, const char *file) { snprintf(out, len, "%s/%s", dir, file); }

static bool exists(const char *dir, const char *file) {
    char p[4096];
    join(p, sizeof p, dir, file);
    struct stat st;
    return stat(p, &st) == 0;
}

/* readCg: the file's text, trimmed; NULL with errno set on failure. */
static char *read_cg(const char *dir, const char *file, char *buf, size_t len) {
    char p[4096];
    join(p, sizeof p, dir, file);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t n = 0;
    ssize_t r;
    while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0) n += (size_t)r;
    int saved = errno;
    close(fd);
    if (r < 0) {
        errno = saved;
        return NULL;
    }
    buf[n] = 0;
    char *s = buf;
    while (*s == ' ' || *s == '\n' || *s == '\t') s++;
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\n' || buf[n - 1] == '\t')) buf[--n] = 0;
    return s;
}

static const char *must_read(const char *dir, const char *file, char *buf, size_t len) {
    const char *s = read_cg(dir, file, buf, len);
    if (!s) die("read %s/%s: %s", dir, file, errno_name(errno));
    return s;
}

/* writeCg: false with `write "<value>" to <path>: <errno>` on failure. */
static bool write_cg(const char *dir, const char *file, const char *value, char *err, size_t errlen) {
    char p[4096];
    join(p, sizeof p, dir, file);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    ssize_t w = -1;
    if (fd >= 0) {
        w = write(fd, value, strlen(value));
        int saved = errno;
        close(fd);
        errno = saved;
    }
    if (w >= 0) return true;
    snprintf(err, errlen, "write \"%s\" to %s: %s", value, p, errno_name(errno));
    return false;
}

int freezer_kind(const struct record *rec) {
    const char *f = cg_path(rec, "freezer"), *u = cg_path(rec, "unified");
    if (f && *f) return 1;
    if (u && *u && exists(u, "cgroup.freeze")) return 2;
    return 0;
}

bool is_frozen(const struct record *rec) {
    char buf[256];
    switch (freezer_kind(rec)) {
    case 1: return strcmp(must_read(cg_path(rec, "freezer"), "freezer.state", buf, sizeof buf), "THAWED") != 0;
    case 2: return strcmp(must_read(cg_path(rec, "unified"), "cgroup.freeze", buf, sizeof buf), "1") == 0;
    default: return false;
    }
}

/*
 * setFrozen: write, then wait until the kernel says so (re-asserting FREEZING on v1). False with
 * node's error text in err on failure (delete ignores a failed thaw, as node does).
 */
static bool set_frozen(const struct record *rec, bool frozen, char *err, size_t errlen) {
    char buf[4096];
    int kind = freezer_kind(rec);
    if (!kind) {
        snprintf(err, errlen, "freeze: no freezer cgroup (neither v1 freezer nor cgroup.freeze)");
        return false;
    }
    const char *dir = cg_path(rec, kind == 1 ? "freezer" : "unified");
    const char *file = kind == 1 ? "freezer.state" : "cgroup.freeze";
    const char *want = kind == 1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "frozen 1" : "frozen 0");
    if (!write_cg(dir, file, kind == 1 ? want : frozen ? "1" : "0", err, errlen)) return false;
    for (int i = 0; i < 2000; i++) {
        if (kind == 1) {
            const char *now = read_cg(dir, "freezer.state", buf, sizeof buf);
            if (!now) {
                snprintf(err, errlen, "read %s/freezer.state: %s", dir, errno_name(errno));
                return false;
            }
            if (!strcmp(now, want)) return true;
            if (i % 50 == 49 && !write_cg(dir, file, want, err, errlen)) return false;
        } else {
            const char *events = read_cg(dir, "cgroup.events", buf, sizeof buf);
            if (!events) {
                if (errno == ENOENT || errno == ENODEV) return true; /* readCgOptional ?? want */
                snprintf(err, errlen, "read %s/cgroup.events: %s", dir, errno_name(errno));
                return false;
            }
            for (const char *line = events; line;) {
                const char *nl = strchr(line, '\n');
                size_t n = nl ? (size_t)(nl - line) : strlen(line);
                if (n == strlen(want) && !strncmp(line, want, n)) return true;
                line = nl ? nl + 1 : NULL;
            }
        }
        sleep_ms(1);
    }
    if (kind == 1 && frozen && !write_cg(dir, file, "THAWED", err, errlen)) return false;
    snprintf(err, errlen, "%s %s: timed out waiting for %s", frozen ? "freeze" : "thaw", dir, want);
    return false;
}

void cg_set_frozen(const struct record *rec, bool frozen) {
    char err[4200];
    if (!set_frozen(rec, frozen, err, sizeof err)) die("%s", err);
}

bool cg_try_thaw(const struct record *rec) {
    char err[4200];
    return set_frozen(rec, false, err, sizeof err);
}

/* ---- pids ---------------------------------------------------------------------------------- */

struct pids { long *v; int n, cap; };

static void pids_add(struct pids *p, long pid) {
    for (int i = 0; i < p->n; i++) if (p->v[i] == pid) return;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 32;
        p->v = realloc(p->v, sizeof *p->v * (size_t)p->cap);
        if (!p->v) die("out of memory");
    }
    p->v[p->n++] = pid;
}

/* collectPids: cgroup.procs of dir and of every child cgroup below it. */
static void collect(const char *dir, struct pids *into) {
    char p[4096];
    join(p, sizeof p, dir, "cgroup.procs");
    FILE *f = fopen(p, "re");
    if (!f) {
        if (errno == ENOENT || errno == ENODEV) return;
        die("read %s: %s", p, errno_name(errno));
    }
    char line[64];
    while (fgets(line, sizeof line, f)) {
        char *end;
        long pid = strtol(line, &end, 10);
        if (end != line && pid > 0) pids_add(into, pid);
    }
    fclose(f);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        join(p, sizeof p, dir, e->d_name);
        collect(p, into);
    }
    closedir(d);
}

/* The distinct directories (co-mounted controllers share one), in recorded order. */
static int dirs(const struct record *rec, const char **out) {
    int n = 0;
    for (int i = 0; i < rec->ncg; i++) {
        bool seen = false;
        for (int j = 0; j < n; j++) seen |= !strcmp(out[j], rec->cg_dir[i]);
        if (!seen) out[n++] = rec->cg_dir[i];
    }
    return n;
}

static int by_value(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* pids(): every pid in the container's cgroups, sorted. */
static struct pids all_pids(const struct record *rec) {
    struct pids p = {0};
    const char *d[MAX_CGROUPS];
    int n = dirs(rec, d);
    for (int i = 0; i < n; i++) collect(d[i], &p);
    if (p.n) qsort(p.v, (size_t)p.n, sizeof *p.v, by_value);
    return p;
}

int cg_pid_count(const struct record *rec) {
    struct pids p = all_pids(rec);
    free(p.v);
    return p.n;
}

static bool only_unified(const struct record *rec) {
    for (int i = 0; i < rec->ncg; i++) if (strcmp(rec->cg_key[i], "unified")) return false;
    return true;
}

/* killAll: cgroup.kill where there is one, else freeze, signal every pid once, thaw. */
void cg_kill_all(const struct record *rec, int sig) {
    struct pids p = all_pids(rec);
    if (p.n == 0) return;
    free(p.v);
    const char *uni = cg_path(rec, "unified");
    if (sig == SIGKILL && uni && *uni && exists(uni, "cgroup.kill")) {
        char err[4200];
        committed();
        if (!write_cg(uni, "cgroup.kill", "1", err, sizeof err)) die("%s", err);
        if (freezer_kind(rec) && is_frozen(rec)) cg_set_frozen(rec, false);
        if (only_unified(rec)) return;
        for (int t = 0; t < 200 && cg_pid_count(rec) > 0; t += 5) sleep_ms(5);
        if (cg_pid_count(rec) == 0) return;
    }
    bool can_freeze = freezer_kind(rec) != 0;
    bool was_frozen = can_freeze && is_frozen(rec);
    committed();
    if (can_freeze && !was_frozen) cg_set_frozen(rec, true);
    struct pids seen = {0};
    char failure[256] = "";
    for (int round = 0; round < (can_freeze ? 1 : 10) && !*failure; round++) {
        struct pids now = all_pids(rec);
        int fresh = 0;
        for (int i = 0; i < now.n && !*failure; i++) {
            bool old = false;
            for (int j = 0; j < seen.n; j++) old |= seen.v[j] == now.v[i];
            if (old) continue;
            fresh++;
            pids_add(&seen, now.v[i]);
            if (kill((pid_t)now.v[i], sig) < 0 && errno != ESRCH) {
                snprintf(failure, sizeof failure, "kill %ld: %s", now.v[i], errno_name(errno));
            }
        }
        free(now.v);
        if (!fresh) break;
    }
    free(seen.v);
    /* finally: a frozen process only dies once thawed; other signals leave a paused one paused */
    if (can_freeze && (!was_frozen || sig == SIGKILL)) cg_set_frozen(rec, false);
    if (*failure) die("%s", failure);
}

/* ---- removal ------------------------------------------------------------------------------- */

static long long monotonic_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* removeTree: child cgroups deepest first, then rmdir, retrying EBUSY until `deadline` (ms). */
static int remove_tree(const char *dir, long long deadline) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : errno;
    struct dirent *e;
    int err = 0;
    char p[4096];
    while (!err && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        join(p, sizeof p, dir, e->d_name);
        struct stat st;
        if (stat(p, &st) < 0) {
            if (errno != ENOENT) err = errno;
            continue;
        }
        if (S_ISDIR(st.st_mode)) err = remove_tree(p, deadline);
    }
    closedir(d);
    if (err) return err;
    for (;;) {
        if (rmdir(dir) == 0 || errno == ENOENT) return 0;
        if (errno != EBUSY || monotonic_ms() >= deadline) return errno;
        sleep_ms(10);
    }
}

/* destroy(): false with node's "remove cgroup <dir>: <errno>, ..." text when some rmdir failed. */
bool cg_destroy(const struct record *rec, char *why, size_t whylen) {
    const char *d[MAX_CGROUPS];
    int n = dirs(rec, d);
    struct buf b = {0};
    /* one second for all hierarchies, as node: a cgroup still in use (shared with another
     * container) is busy in each of them, and a second per hierarchy made delete take ten */
    long long deadline = monotonic_ms() + 1000;
    for (int i = 0; i < n; i++) {
        int err = remove_tree(d[i], deadline);
        if (!err) continue;
        buf_str(&b, b.len ? ", " : "remove cgroup ");
        buf_fmt(&b, "%s: %s", d[i], errno_name(err));
    }
    if (!b.len) return true;
    snprintf(why, whylen, "%s", b.p);
    free(b.p);
    return false;
}

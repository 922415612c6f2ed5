/*
 * The commands done natively, each step for step as src/container/<verb>.ts and src/cli/<verb>.ts
 * do them, with the same texts. Cases they do not handle go to node before any change.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launcher.h"
#include "launcher-gen.h"

static struct record must_get(const char *id) {
    struct record rec;
    store_open();
    if (!store_get(id, &rec)) fail("container does not exist");
    return rec;
}

static void out(struct buf *b) {
    if (b->len) write_fd(1, b->p, b->len);
}

/* ---- state, list --------------------------------------------------------------------------- */

/* The annotations object re-indented as JSON.stringify(state, null, 2) prints it (2 levels in). */
static void indented_annotations(struct buf *b, const char *text) {
    buf_str(b, ",\n  \"annotations\": {\n    ");
    /* JSON.stringify wrote the text: outside strings there is only {}:, to re-space. */
    bool in_string = false;
    for (const char *p = text + 1; p[1]; p++) {
        if (in_string) {
            buf_add(b, p, 1);
            if (*p == '\\') buf_add(b, ++p, 1);
            else if (*p == '"') in_string = false;
        } else if (*p == '"') {
            in_string = true;
            buf_add(b, p, 1);
        } else if (*p == ':') {
            buf_str(b, ": ");
        } else if (*p == ',') {
            buf_str(b, ",\n    ");
        }
    }
    buf_str(b, "\n  }");
}

int cmd_state(int nargs, char **args) {
    (void)nargs;
    struct record rec = must_get(args[0]);
    const char *status = live_status(&rec);
    struct buf b = {0};
    buf_str(&b, "{\n  \"ociVersion\": ");
    buf_json_string(&b, POLIS_OCI_VERSION);
    buf_str(&b, ",\n  \"id\": ");
    buf_json_string(&b, rec.id);
    buf_fmt(&b, ",\n  \"pid\": %lld", !strcmp(status, "stopped") || rec.pid_null ? 0 : rec.pid);
    buf_str(&b, ",\n  \"status\": ");
    buf_json_string(&b, status);
    buf_str(&b, ",\n  \"bundle\": ");
    buf_json_string(&b, rec.bundle);
    buf_str(&b, ",\n  \"rootfs\": ");
    buf_json_string(&b, rec.rootfs);
    buf_str(&b, ",\n  \"created\": ");
    buf_json_string(&b, rec.created);
    buf_str(&b, ",\n  \"owner\": ");
    buf_json_string(&b, rec.owner);
    if (strcmp(rec.annotations, "{}")) indented_annotations(&b, rec.annotations);
    buf_str(&b, "\n}"); /* no trailing newline, like runc */
    store_close();
    out(&b);
    return 0;
}

struct entry {
    struct record *rec;
    const char *status;
};

static int by_id(const void *a, const void *b) {
    return strcmp(((const struct entry *)a)->rec->id, ((const struct entry *)b)->rec->id);
}

static void pad(struct buf *b, const char *cell, size_t width) {
    buf_str(b, cell);
    for (size_t n = utf16_length(cell); n < width; n++) buf_add(b, " ", 1);
}

int cmd_list(const char *format, bool quiet) {
    if (!quiet && strcmp(format, "table") && strcmp(format, "json")) fail("invalid format option");
    store_open();
    struct record *recs;
    int n = store_list(&recs);
    struct entry *e = calloc((size_t)n + 1, sizeof *e);
    for (int i = 0; i < n; i++) {
        /* JavaScript compares ids by UTF-16 units: the same as bytes only for ASCII ids. */
        for (const char *p = recs[i].id; *p; p++) if ((unsigned char)*p >= 0x80) handoff();
        e[i] = (struct entry){&recs[i], live_status(&recs[i])};
    }
    qsort(e, (size_t)n, sizeof *e, by_id);
    struct buf b = {0};
    if (quiet) {
        for (int i = 0; i < n; i++) buf_fmt(&b, "%s\n", e[i].rec->id);
    } else if (!strcmp(format, "json")) {
        if (n == 0) buf_str(&b, "null");
        else buf_str(&b, "[");
        for (int i = 0; i < n; i++) {
            struct record *r = e[i].rec;
            bool stopped = !strcmp(e[i].status, "stopped");
            buf_str(&b, i ? ",{\"ociVersion\":" : "{\"ociVersion\":");
            buf_json_string(&b, POLIS_OCI_VERSION);
            buf_str(&b, ",\"id\":");
            buf_json_string(&b, r->id);
            buf_fmt(&b, ",\"pid\":%lld,\"status\":", stopped || r->pid_null ? 0 : r->pid);
            buf_json_string(&b, e[i].status);
            buf_str(&b, ",\"bundle\":");
            buf_json_string(&b, r->bundle);
            /* list.ts prints `${bundle}/rootfs`: the entries it gets carry no rootfs */
            struct buf rootfs = {0};
            buf_str(&rootfs, r->bundle);
            buf_str(&rootfs, "/rootfs");
            buf_str(&b, ",\"rootfs\":");
            buf_json_string(&b, rootfs.p);
            free(rootfs.p);
            buf_str(&b, ",\"created\":");
            buf_json_string(&b, r->created);
            buf_str(&b, ",\"owner\":");
            buf_json_string(&b, r->owner);
            if (strcmp(r->annotations, "{}")) {
                buf_str(&b, ",\"annotations\":");
                buf_str(&b, r->annotations);
            }
            buf_str(&b, "}");
        }
        buf_str(&b, n ? "]\n" : "\n");
    } else {
        /* Go's tabwriter as runc sets it up: minwidth 12, padding 3, the last column unpadded */
        static const char *const head[] = {"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"};
        char (*pids)[24] = calloc((size_t)n + 1, sizeof *pids);
        size_t w[5];
        for (int c = 0; c < 5; c++) w[c] = strlen(head[c]) + 3 > 12 ? strlen(head[c]) + 3 : 12;
        for (int i = 0; i < n; i++) {
            struct record *r = e[i].rec;
            snprintf(pids[i], sizeof pids[i], "%lld", !strcmp(e[i].status, "stopped") || r->pid_null ? 0 : r->pid);
            const char *cells[5] = {r->id, pids[i], e[i].status, r->bundle, r->created};
            for (int c = 0; c < 5; c++) if (utf16_length(cells[c]) + 3 > w[c]) w[c] = utf16_length(cells[c]) + 3;
        }
        for (int c = 0; c < 5; c++) pad(&b, head[c], w[c]);
        buf_str(&b, "OWNER\n");
        for (int i = 0; i < n; i++) {
            struct record *r = e[i].rec;
            const char *cells[5] = {r->id, pids[i], e[i].status, r->bundle, r->created};
            for (int c = 0; c < 5; c++) pad(&b, cells[c], w[c]);
            buf_str(&b, r->owner);
            buf_str(&b, "\n");
        }
    }
    store_close();
    out(&b);
    return 0;
}

/* ---- kill ---------------------------------------------------------------------------------- */

static const struct { const char *name; int n; } SIGNALS[] = {POLIS_SIGNALS};

/* src/linux/signals.ts's parseSignal; -1 for an invalid one. */
static int parse_signal(const char *in) {
    if (!in || !*in) return SIGTERM;
    bool digits = true;
    for (const char *p = in; *p; p++) {
        if ((unsigned char)*p >= 0x80) handoff(); /* toUpperCase of non-ASCII: node's business */
        digits &= *p >= '0' && *p <= '9';
    }
    if (digits) {
        size_t len = strlen(in);
        const char *p = in;
        while (len > 1 && *p == '0') p++, len--;
        return len > 2 || atoi(p) > 64 ? -1 : atoi(p);
    }
    char name[64];
    size_t len = strlen(in);
    if (len >= sizeof name) return -1;
    for (size_t i = 0; i <= len; i++) name[i] = (char)toupper((unsigned char)in[i]);
    const char *s = strncmp(name, "SIG", 3) ? name : name + 3;
    if (!strncmp(s, "RTMIN", 5) || !strncmp(s, "RTMAX", 5)) {
        int base = s[4] == 'N' ? 34 : 64;
        const char *rest = s + 5;
        if (!*rest) return base;
        if ((*rest != '+' && *rest != '-') || !rest[1]) return -1;
        for (const char *p = rest + 1; *p; p++) if (*p < '0' || *p > '9') return -1;
        long delta = strlen(rest + 1) > 3 ? 1000 : atol(rest + 1);
        long n = base + (*rest == '-' ? -delta : delta);
        return n < 34 || n > 64 ? -1 : (int)n;
    }
    for (size_t i = 0; i < sizeof SIGNALS / sizeof SIGNALS[0]; i++) if (!strcmp(SIGNALS[i].name, s)) return SIGNALS[i].n;
    return -1;
}

int cmd_kill(const char *id, const char *signal, bool all) {
    int sig = parse_signal(signal);
    if (sig < 0) fail("invalid signal \"%s\"", signal);
    struct record rec = must_get(id);
    const char *status = live_status(&rec);
    if (!strcmp(status, "creating")) fail("container not running");
    /* --all still sweeps the cgroup after the init exited (containerd's `kill --all 9`) */
    if (!strcmp(status, "stopped") && !all) fail("container not running");
    char attributes[64];
    if (all) {
        cg_kill_all(&rec, sig);
        snprintf(attributes, sizeof attributes, "{\"signal\":%d,\"all\":true}", sig);
    } else {
        committed();
        if (kill((pid_t)rec.pid, sig) < 0) {
            if (errno == ESRCH) fail("container not running");
            fail("kill %s", errno_name(errno));
        }
        snprintf(attributes, sizeof attributes, "{\"signal\":%d}", sig);
    }
    committed();
    store_append_event("kill", rec.id, attributes);
    store_close();
    return 0;
}

/* ---- start --------------------------------------------------------------------------------- */

/* node's fs error text: "<code>: <libuv description>, <syscall> '<path>'" */
/* node's fs error text: "<code>: <libuv description>, <syscall> '<path>'" */
static const char *fs_error(char *out, size_t len, int err, const char *syscall, const char *path) {
    char desc[256];
    snprintf(desc, sizeof desc, "%s", strerror(err));
    desc[0] = (char)tolower((unsigned char)desc[0]);
    if (path) snprintf(out, len, "%s: %s, %s '%s'", errno_name(err), desc, syscall, path);
    else snprintf(out, len, "%s: %s, %s", errno_name(err), desc, syscall);
    return out;
}

static bool read_once(int fd) {
    char c;
    return read(fd, &c, 1) == 1;
}

/*
 * releaseInit: take the init's one byte from its exec fifo, polling so that a dead init cannot
 * hang us. NULL when released, else node's error text (in a static buffer).
 */
const char *try_release_init(const struct record *rec) {
    static char err[4400];
    char path[4096];
    snprintf(path, sizeof path, "%s/exec.fifo", rec->state_dir);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return "cannot start an already running container"; /* another start took it */
        return fs_error(err, sizeof err, errno, "open", path);
    }
    const char *failure = NULL;
    for (int i = 0;; i++) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno != EAGAIN) {
            failure = fs_error(err, sizeof err, errno, "read", NULL);
            break;
        }
        if (n == 1) break;
        /* a process that exits at once may have written its byte just after our last read */
        if (!init_alive(rec) && !read_once(fd)) {
            failure = "cannot start a container that has stopped";
            break;
        }
        if (!init_alive(rec)) break;
        if (i > 10000) {
            failure = "start: the container init did not answer on its exec fifo";
            break;
        }
        /* node sleeps 1 ms (then 10 ms) between reads; waking as soon as the byte is there
         * instead keeps a loaded machine's scheduling delay out of `start` */
        int ms = i < 100 ? 1 : 10;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, ms) > 0 && !(pfd.revents & POLLIN)) sleep_ms(ms); /* a hang-up alone: no spin */
    }
    close(fd);
    if (failure) return failure;
    if (unlink(path) < 0) return fs_error(err, sizeof err, errno, "unlink", path);
    return NULL;
}

void release_init(const struct record *rec) {
    const char *failure = try_release_init(rec);
    if (failure) fail("%s", failure);
}

int cmd_start(const char *id) {
    struct record rec = must_get(id);
    const char *status = live_status(&rec);
    if (!strcmp(status, "stopped")) fail("cannot start a container that has stopped");
    if (strcmp(status, "created")) fail("cannot start an already running container");
    if (rec.start_hooks) handoff(); /* hooks run in node */
    committed();
    if (!store_transition_to_running(rec.id)) fail("cannot start an already running container");
    release_init(&rec);
    store_append_event("start", rec.id, "{}");
    store_close();
    return 0;
}

/* ---- pause, resume ------------------------------------------------------------------------- */

int cmd_pause(const char *id, bool pause) {
    struct record rec = must_get(id);
    const char *status = live_status(&rec);
    if (pause) {
        if (!strcmp(status, "paused")) fail("container already paused");
        if (strcmp(status, "running") && strcmp(status, "created")) fail("container not running");
    } else if (strcmp(status, "paused")) {
        fail("container not paused");
    }
    committed();
    cg_set_frozen(&rec, pause);
    store_close();
    return 0;
}

/* ---- delete -------------------------------------------------------------------------------- */

/*
 * cleanupContainer of a container without hooks, resources or a shared mount namespace whose
 * init is dead or dying, and deleteLocked's event: false (why) when the cgroup will not go, with
 * nothing else removed yet; else the row and the state directory are gone, `first` holds the
 * error to report for a state directory that could not be removed.
 */
bool teardown_stopped(const struct record *recp, char *why, size_t whylen, char *first, size_t firstlen) {
    const struct record rec = *recp;
    const char *id = rec.id;
    if (init_alive(&rec)) kill((pid_t)rec.pid, SIGKILL);
    cg_try_thaw(&rec);
    /* with its own pid namespace the init's death takes the rest; the cgroup may be shared */
    bool own_pid_ns = !rec.pid_null && rec.own_pid_ns;
    if (!own_pid_ns) cg_kill_all(&rec, SIGKILL);
    for (int i = 0; i < 200 && init_alive(&rec); i++) sleep_ms(5);
    if (!cg_destroy(&rec, why, whylen)) return false;
    /* what rooms attached: here only image bundles (`delete` and the end of a native `run`
     * leave containers with other resources to node's delete) */
    if (rec.resources > 0) release_image_bundles(id, first, firstlen);
    /* Like node: a state directory that cannot be removed is the error, and the row goes all
     * the same (else the container could never be deleted). */
    int err = remove_all(rec.state_dir);
    if (err && !*first) {
        char desc[256];
        snprintf(desc, sizeof desc, "%s", strerror(err));
        desc[0] = (char)tolower((unsigned char)desc[0]);
        snprintf(first, firstlen, "remove %s: %s: %s, rm '%s'", rec.state_dir, errno_name(err), desc, rec.state_dir);
    }
    store_remove(rec.id);
    store_append_event("delete", id, "{}");
    return true;
}


/* rmSync(dir, { recursive: true, force: true }) */
int remove_all(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : errno;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return errno;
        struct dirent *e;
        char child[4096];
        int err = 0;
        while (!err && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            err = remove_all(child);
        }
        closedir(d);
        if (err) return err;
        return rmdir(path) < 0 && errno != ENOENT ? errno : 0;
    }
    return unlink(path) < 0 && errno != ENOENT ? errno : 0;
}

int cmd_delete(const char *id, bool force) {
    store_open();
    struct record rec;
    if (!store_get(id, &rec)) {
        /* containerd deletes twice; node releases what a polis killed before the row left behind */
        if (force && store_resource_count(id) > 0) handoff();
        if (force) return store_close(), 0;
        fail("container does not exist");
    }
    const char *status = live_status(&rec);
    bool live = !strcmp(status, "running") || !strcmp(status, "paused") || !strcmp(status, "creating");
    if (live && !force) fail("cannot delete container %s that is not stopped: %s", id, status);
    /*
     * Node deletes live containers (--force), runs poststop hooks, releases resources other than
     * image bundles (run_image.c releases those), and detaches the mounts of a container that
     * shared its mount namespace.
     */
    if (live || rec.poststop_hooks || rec.shares_mount_ns) handoff();
    if (rec.resources > 0 && store_other_resource_count(id) > 0) handoff();

    /* cleanupContainer */
    committed();
    char why[8192];
    /* A cgroup that will not go: node decides what that means (an exec's shim caught half-way
     * to kill, another container sharing the cgroup, or an error that keeps the row for another
     * delete, as runc's destroy does). Everything done so far is idempotent; node repeats it. */
    char first[8400] = "";
    if (!teardown_stopped(&rec, why, sizeof why, first, sizeof first)) handoff();
    store_close();
    if (*first) fail("%s", first);
    return 0;
}

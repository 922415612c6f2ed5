/*
 * The cgroup-lock warmer: a tiny process the launcher leaves behind while node boots for `create`
 * and `run`, so that the first cgroup move of that create does not wait for the kernel.
 *
 * Why: writing a pid into any cgroup.procs takes the global cgroup_threadgroup_rwsem for writing,
 * and when no move happened in the last grace period that first waits for an RCU grace period
 * (7-18 ms here) with cgroup_mutex held, so node's `mkdir`s of the container's cgroups wait too.
 * Within about one grace period of another move it is immediate (0.05 ms). The shim node spawns
 * early keeps the lock warm from then on (native/src/main.c warm_cgroup_moves), but it starts
 * only after node's boot; this process covers the time before: it moves itself into the cgroup
 * it is already in (nothing changes) every 3 ms, from t=0 until node has spawned a child (the
 * shim, which takes over) and a few moves more, until node exits, or 2 s at most.
 *
 * Leaving nothing behind, and nothing for node's children to inherit: it is a grandchild (the
 * middle process exits at once and the launcher reaps it), so it is never node's child and never
 * a zombie of node's; when it ends, the nearest subreaper (containerd's shim, conmon) or init
 * reaps it, as they reap any orphan. It closes every fd it inherited (a caller's pipe must see
 * EOF when polis exits, a --preserve-fds fd must not stay open), and node gets no fd of it: the
 * only link is a pidfd of node's process, which only the warmer holds. Its own cgroup is polis's,
 * never the container's, so no pids cgroup of a container is charged for it. Every failure ends
 * the warming, never the command: this is only time. POLIS_WARM=0 turns it off (measurements).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h"

#define WARM_EVERY_MS 3
#define WARM_MAX_MOVES 700 /* ~2 s: a node that takes longer is slow for other reasons */
#define MOVES_AFTER_CHILD 4 /* the shim needs a few ms from spawn to its own first move */

/* The whole of a small /proc file (NUL-terminated); -1 when it cannot be read. */
static ssize_t slurp(const char *path, char *buf, size_t len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = 0;
    ssize_t r;
    while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0) n += (size_t)r;
    close(fd);
    buf[n] = 0;
    return (ssize_t)n;
}

/* Does the comma-separated list `opts` contain every comma-separated name of `want`? */
static bool has_all(const char *opts, const char *want) {
    char w[256];
    snprintf(w, sizeof w, "%s", want);
    for (char *save = NULL, *name = strtok_r(w, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(name);
        bool found = false;
        for (const char *p = opts; *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (len == n && !strncmp(p, name, n)) { found = true; break; }
            if (!comma) break;
            p = comma + 1;
        }
        if (!found) return false;
    }
    return true;
}

/* The line of /proc/self/cgroup (in `cg`) for a hierarchy: its path, or false. */
static bool own_path(const char *cg, bool v2, const char *superopts, char *out, size_t len) {
    for (const char *l = cg; *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        char row[4096];
        if (n < sizeof row) {
            memcpy(row, l, n);
            row[n] = 0;
            char *c1 = strchr(row, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c2) {
                *c1 = *c2 = 0;
                const char *ctrls = c1 + 1;
                if (v2 ? !strcmp(row, "0") && !*ctrls : *ctrls && has_all(superopts, ctrls)) {
                    snprintf(out, len, "%s", c2 + 1);
                    return true;
                }
            }
        }
        if (!nl) break;
        l = nl + 1;
    }
    return false;
}

/*
 * Open this process's own cgroup.procs in some hierarchy (the v1 ones first, as
 * src/cgroups/paths.ts ownProcsFiles orders them): -1 when there is none it can write.
 */
static int open_own_procs(void) {
    static char cg[8192], mi[65536];
    if (slurp("/proc/self/cgroup", cg, sizeof cg) <= 0 || slurp("/proc/self/mountinfo", mi, sizeof mi) <= 0) return -1;
    for (int pass = 0; pass < 2; pass++) { /* 0: cgroup v1 hierarchies, 1: cgroup2 */
        for (const char *l = mi; *l;) {
            const char *nl = strchr(l, '\n');
            size_t n = nl ? (size_t)(nl - l) : strlen(l);
            /* id parent maj:min root mountpoint options [optional...] - fstype source superopts */
            char line[4096], root[1024], mnt[1024], fstype[32], superopts[512], own[2048];
            const char *dash;
            if (n < sizeof line) {
                memcpy(line, l, n);
                line[n] = 0;
                dash = strstr(line, " - ");
                bool v2 = false;
                if (dash && sscanf(line, "%*s %*s %*s %1023s %1023s", root, mnt) == 2 &&
                    sscanf(dash, " - %31s %*s %511s", fstype, superopts) == 2 &&
                    (pass == 0 ? !strcmp(fstype, "cgroup") : (v2 = !strcmp(fstype, "cgroup2"))) &&
                    !strchr(root, '\\') && !strchr(mnt, '\\') && /* escaped names: not worth it */
                    own_path(cg, v2, superopts, own, sizeof own)) {
                    /* our cgroup below the mount's root (a mount of /a shows cgroup /a/b as <mnt>/b) */
                    size_t rl = strlen(root);
                    const char *rel = !strcmp(root, "/") ? own
                                      : !strcmp(own, root) ? ""
                                      : !strncmp(own, root, rl) && own[rl] == '/' ? own + rl : own;
                    char path[4096];
                    snprintf(path, sizeof path, "%s%s/cgroup.procs", mnt, !strcmp(rel, "/") ? "" : rel);
                    int fd = open(path, O_WRONLY | O_CLOEXEC);
                    if (fd >= 0) return fd;
                }
            }
            if (!nl) break;
            l = nl + 1;
        }
    }
    return -1;
}

/* Has process `pid` any child (CONFIG_PROC_CHILDREN: /proc/PID/task/PID/children)? */
static bool has_child(pid_t pid) {
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    ssize_t n = slurp(path, buf, sizeof buf);
    return n > 0 && buf[0] >= '0' && buf[0] <= '9';
}

/*
 * Its own command line, as setproctitle(3) does it: a fork keeps polis's argv, so for its ~50 ms
 * `pgrep -f 'polis create'` (and any tool that looks for create processes) would find it. The
 * kernel shows argv's memory (/proc/PID/cmdline), and cannot be told a shorter one without
 * CAP_SYS_RESOURCE: the name goes at its start, NULs after it, and a non-NUL last byte, which
 * makes the kernel show the area as one string up to its first NUL ("polis-warm").
 */
static void set_cmdline(char **argv, int argc) {
    static const char name[] = "polis-warm";
    if (argc < 1 || !argv[0]) return;
    char *start = argv[0], *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc && argv[i] == end; i++) end += strlen(argv[i]) + 1; /* the contiguous part */
    if ((size_t)(end - start) < sizeof name + 1) return;
    memset(start, 0, (size_t)(end - start));
    memcpy(start, name, sizeof name);
    end[-1] = ' ';
}

static _Noreturn void warm(pid_t node, int pidfd, char **argv, int argc) {
    /* Nothing inherited stays open: stdio, a --preserve-fds fd, the caller's pipes. */
    int keep = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
    if (keep < 0) _exit(0);
    int null = open("/dev/null", O_RDWR);
    if (null < 0) _exit(0);
    for (int fd = 0; fd < 3; fd++)
        if (null != fd) dup2(null, fd);
    if (keep > 3) syscall(SYS_close_range, 3, keep - 1, 0);
    syscall(SYS_close_range, keep + 1, ~0U, 0);
    pidfd = keep;
    if (chdir("/") < 0) _exit(0); /* hold no bundle directory */
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_NAME, "polis-warm"); /* ps, top: not another `polis` */
    set_cmdline(argv, argc);          /* ps -f, pgrep -f: not a `polis create` */

    int procs = open_own_procs();
    if (procs < 0) _exit(0);
    char me[24];
    int n = snprintf(me, sizeof me, "%d", (int)getpid());
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int after = -1;
    for (int i = 0; i < WARM_MAX_MOVES; i++) {
        if (write(procs, me, (size_t)n) != n) break;
        int r = poll(&p, 1, WARM_EVERY_MS);
        if (r > 0) break; /* node exited */
        if (after < 0 && has_child(node)) after = i;
        if (after >= 0 && i - after >= MOVES_AFTER_CHILD) break;
    }
    _exit(0);
}

void warm_cgroup_lock(const char *command, char **argv, int argc) {
    if (!command || (strcmp(command, "create") && strcmp(command, "run"))) return;
    const char *off = getenv("POLIS_WARM");
    if (off && !strcmp(off, "0")) return;
    pid_t self = getpid();
    int pidfd = (int)syscall(SYS_pidfd_open, self, 0); /* close-on-exec: node never sees it */
    if (pidfd < 0) return;
    pid_t middle = fork();
    if (middle == 0) {
        if (fork() == 0) warm(self, pidfd, argv, argc);
        _exit(0);
    }
    close(pidfd);
    if (middle > 0)
        while (waitpid(middle, NULL, 0) < 0 && errno == EINTR) {}
}

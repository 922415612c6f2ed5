/*
 * The launcher's side of the shim protocol (native/PROTOCOL.md) for `create`, as
 * src/linux/shim.ts's ShimSession does it: spawn `polis-shim <sync-fd> <procs-file>` early (it
 * keeps the cgroup lock warm until the plan comes), send the plan, read the messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "create.h"

extern char **environ;

/* shimPath(): POLIS_SHIM, else <package>/native/build/Release/polis-shim. */
static const char *shim_path(void) {
    const char *env = getenv("POLIS_SHIM");
    if (env && *env) return env;
    static char path[PATH_MAX + 64];
    char dir[PATH_MAX];
    if (!realpath("/proc/self/exe", dir)) return NULL;
    /* packageRoot(): the first directory upwards holding package.json */
    for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
        *slash = 0;
        snprintf(path, sizeof path, "%s/package.json", *dir ? dir : "");
        if (access(path, F_OK) == 0) {
            snprintf(path, sizeof path, "%s/native/build/Release/polis-shim", dir);
            return path;
        }
    }
    return NULL;
}

/*
 * ShimSession.spawnEarly: stdio inherited, the sync socket as fd 3 (no --preserve-fds here),
 * signals back to their defaults and none blocked (libuv does the same for node's spawn: the
 * launcher ignores SIGPIPE, which the container must not inherit).
 */
bool shim_spawn_early(struct shim *s, const char *warm) {
    s->pid = -1;
    s->sock = -1;
    const char *bin = shim_path();
    if (!bin) return false;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return false;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    /* dup2 onto itself clears close-on-exec (glibc >= 2.29) */
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    char *argv[] = {(char *)bin, "3", (char *)warm, NULL};
    if (!warm) argv[2] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        return false;
    }
    s->pid = pid;
    s->sock = sv[0];
    return true;
}

bool shim_send(struct shim *s, const char *bytes, size_t len) {
    while (len > 0) {
        ssize_t w = send(s->sock, bytes, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        bytes += w;
        len -= (size_t)w;
    }
    return true;
}

static bool read_full(int fd, void *p, size_t len) {
    char *c = p;
    while (len > 0) {
        ssize_t r = read(fd, c, len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        c += r;
        len -= (size_t)r;
    }
    return true;
}

/* The next message (type:u32 step:i32 errno:i32 value:i64 len:u32 bytes); false at EOF. */
bool shim_next(struct shim *s, struct shim_msg *m) {
    unsigned char h[24];
    if (!read_full(s->sock, h, sizeof h)) return false;
    uint32_t type, len;
    int32_t step, err;
    int64_t value;
    memcpy(&type, h, 4);
    memcpy(&step, h + 4, 4);
    memcpy(&err, h + 8, 4);
    memcpy(&value, h + 12, 8);
    memcpy(&len, h + 20, 4);
    m->type = type;
    m->step = step;
    m->err = err;
    m->value = value;
    m->detail[0] = 0;
    while (len > 0) {
        char chunk[256];
        size_t n = len < sizeof chunk ? len : sizeof chunk;
        if (!read_full(s->sock, chunk, n)) return false;
        if (!m->detail[0]) snprintf(m->detail, sizeof m->detail, "%.*s", (int)n, chunk);
        len -= (uint32_t)n;
    }
    return true;
}

bool shim_resume(struct shim *s) { return send(s->sock, "R", 1, MSG_NOSIGNAL) == 1; }

/* The shim's exit status (waitpid), once. */
int shim_reap(struct shim *s) {
    int status = 0;
    if (s->pid > 0) {
        while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {}
        s->pid = -1;
    }
    return status;
}

/*
 * dismiss(): drop our end (a shim without a plan leaves without a word; one running a plan and
 * its child exit on EOF too) and reap it, SIGKILL after two seconds.
 */
void shim_dismiss(struct shim *s) {
    if (s->sock >= 0) close(s->sock);
    s->sock = -1;
    if (s->pid <= 0) return;
    for (int i = 0; i < 400; i++) {
        int status;
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid || (r < 0 && errno == ECHILD)) {
            s->pid = -1;
            return;
        }
        sleep_ms(5);
    }
    kill(s->pid, SIGKILL);
    shim_reap(s);
}

/*
 * Liveness as src/linux/proc.ts and src/container/context.ts decide it: a pid is the recorded
 * process only if it is alive (not a zombie), has the recorded start time (field 22 of
 * /proc/<pid>/stat) and this is the boot it was recorded in.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launcher.h"

static ssize_t read_file(const char *path, char *buf, size_t len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, len - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        if (n == len - 1) break;
    }
    close(fd);
    buf[n] = 0;
    return (ssize_t)n;
}

const char *boot_id(void) {
    static char id[128];
    static bool read;
    if (!read) {
        if (read_file("/proc/sys/kernel/random/boot_id", id, sizeof id) < 0) die("read /proc/sys/kernel/random/boot_id");
        /* String.prototype.trim */
        char *s = id;
        while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
        memmove(id, s, strlen(s) + 1);
        size_t n = strlen(id);
        while (n && (id[n - 1] == ' ' || id[n - 1] == '\n' || id[n - 1] == '\t' || id[n - 1] == '\r')) id[--n] = 0;
        read = true;
    }
    return id;
}

static bool all_digits(const char *s, bool sign) {
    if (sign && *s == '-') s++;
    if (!*s) return false;
    for (; *s; s++) if (*s < '0' || *s > '9') return false;
    return true;
}

/* parseStat: the fields after the LAST ')', split on single spaces; state and start time. */
static bool read_stat(long long pid, char *state, size_t slen, char *start, size_t stlen) {
    if (pid <= 0) return false;
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    if (read_file(path, text, sizeof text) < 0) return false;
    char *close = strrchr(text, ')');
    if (!close) return false;
    char *p = close + 1;
    while (*p == ' ' || *p == '\n') p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\n')) p[--n] = 0;
    char *fields[24];
    int nf = 0;
    for (char *f = p; nf < 24;) {
        fields[nf++] = f;
        char *sp = strchr(f, ' ');
        if (!sp) break;
        *sp = 0;
        f = sp + 1;
    }
    if (nf < 20 || !*fields[0] || !all_digits(fields[19], false) || !all_digits(fields[1], true)) return false;
    snprintf(state, slen, "%s", fields[0]);
    snprintf(start, stlen, "%s", fields[19]);
    return true;
}

bool same_process(long long pid, const char *start_time, const char *recorded_boot) {
    if (!start_time || strcmp(recorded_boot, boot_id()) != 0) return false;
    char state[16], start[32];
    if (!read_stat(pid, state, sizeof state, start, sizeof start)) return false;
    bool dead = !strcmp(state, "Z") || !strcmp(state, "X") || !strcmp(state, "x");
    return !dead && !strcmp(start, start_time);
}

bool init_alive(const struct record *rec) {
    return !rec->pid_null && rec->pid_start_time && same_process(rec->pid, rec->pid_start_time, rec->boot_id);
}

/* liveStatus: derived from facts, not trusted from the row. */
const char *live_status(const struct record *rec) {
    if (!strcmp(rec->phase, "creating")) {
        return same_process(rec->creator_pid, rec->creator_start_time, rec->boot_id) ? "creating" : "stopped";
    }
    if (!init_alive(rec)) return "stopped";
    char fifo[4096];
    snprintf(fifo, sizeof fifo, "%s/exec.fifo", rec->state_dir);
    struct stat st;
    if (stat(fifo, &st) == 0) return "created";
    return is_frozen(rec) ? "paused" : "running";
}

/* processStartTime: field 22 of /proc/<pid>/stat; false when the process is gone. */
bool proc_start_time(long long pid, char *out, size_t len) {
    char state[16];
    return read_stat(pid, state, sizeof state, out, len);
}

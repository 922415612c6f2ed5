/*
 * HOME for the init when process.env has none (src/container/launch.ts withInitHome and
 * src/linux/in-root.ts): the user's home from the container's /etc/passwd — a file bound onto
 * /etc/passwd wins (the last such mount) — and "/" when the user is not there. The rootfs's file
 * is opened with openat2(RESOLVE_IN_ROOT), which resolves symlinks inside the rootfs exactly as
 * in-root.ts's component-by-component walk does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "plan_internal.h"

#define MAX_BYTES (1 << 20) /* in-root.ts: larger files are not what we look for */

enum read_result { READ_OK, READ_NONE, READ_UNSURE };

/* Up to MAX_BYTES of a regular file on fd (in-root.ts readFileInRoot / readHostFile). */
static enum read_result read_regular(int fd, struct buf *text) {
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > MAX_BYTES) return READ_NONE;
    size_t want = (size_t)st.st_size + 1 < MAX_BYTES ? (size_t)st.st_size + 1 : MAX_BYTES;
    char chunk[4096];
    while (text->len < want) {
        size_t n = want - text->len < sizeof chunk ? want - text->len : sizeof chunk;
        ssize_t r = read(fd, chunk, n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return READ_UNSURE;
        if (r == 0) break;
        buf_add(text, chunk, (size_t)r);
    }
    if (!text->p) buf_add(text, "", 0);
    return READ_OK;
}

static enum read_result read_in_root(const char *rootfs, struct buf *text) {
    int root = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return READ_NONE;
    struct open_how how = { .flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
    int fd = (int)syscall(SYS_openat2, root, "etc/passwd", &how, sizeof how);
    int err = errno;
    close(root);
    if (fd < 0) return err == ENOENT || err == ENOTDIR || err == ELOOP ? READ_NONE : READ_UNSURE;
    enum read_result r = read_regular(fd, text);
    close(fd);
    return r;
}

static enum read_result read_host(const char *path, struct buf *text) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? READ_NONE : READ_UNSURE;
    enum read_result r = read_regular(fd, text);
    close(fd);
    return r;
}

/* Number(field) === uid, decided only where that is certain: plain digits, or no digit and no
 * space (NaN). Anything else (" 0", "0x0", "1e0": JavaScript's Number takes them) is unsure. */
static int uid_matches(const char *f, size_t n, double uid) {
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)f[i];
        if (ch >= '0' && ch <= '9') digits++;
        else if (ch >= 0x80 || ch == ' ' || (ch >= '\t' && ch <= '\r')) return -1;
    }
    if (digits == 0) return 0;
    if (digits != n) return -1;
    while (n > 1 && *f == '0') f++, n--;
    if (n > 10) return 0; /* more than a uint32 */
    double v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (f[i] - '0');
    return v == uid;
}

/* in-root.ts homeOf; NULL when unsure. */
static char *home_of(const char *text, double uid) {
    for (const char *line = text; line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *f[7] = { 0 };
        size_t flen[7] = { 0 };
        int count = 0;
        for (const char *p = line; count < 7;) {
            const char *colon = memchr(p, ':', len - (size_t)(p - line));
            f[count] = p;
            flen[count++] = colon ? (size_t)(colon - p) : len - (size_t)(p - line);
            if (!colon) break;
            p = colon + 1;
        }
        if (count >= 6 && flen[2] > 0) {
            int m = uid_matches(f[2], flen[2], uid);
            if (m < 0) return NULL;
            if (m) return flen[5] ? plan_strndup(f[5], flen[5]) : plan_strdup("/");
        }
        line = end ? end + 1 : NULL;
    }
    return plan_strdup("/");
}

/* The path node's path.resolve(bundle, source) gives: normalised, no trailing slash. */
static char *resolve_path(const char *bundle, const char *source) {
    char *p = source[0] == '/' ? path_normalize(source) : path_join(bundle, source);
    size_t n = strlen(p);
    if (n > 1 && p[n - 1] == '/') p[n - 1] = 0;
    return p;
}

bool plan_home(const char *rootfs, const char *bundle, const char *bound_source, double uid, char **home, char *why,
               size_t whylen) {
    struct buf text = { 0 };
    enum read_result r;
    if (bound_source) {
        char *path = resolve_path(bundle, bound_source);
        r = read_host(path, &text);
        free(path);
    } else {
        r = read_in_root(rootfs, &text);
    }
    *home = r == READ_OK ? home_of(text.p, uid) : r == READ_NONE ? plan_strdup("/") : NULL;
    free(text.p);
    if (r == READ_UNSURE) return plan_refuse(why, whylen, "process.env: cannot read /etc/passwd for HOME");
    if (!*home || !utf8_valid(*home)) {
        free(*home);
        *home = NULL;
        return plan_refuse(why, whylen, "process.env: /etc/passwd too odd to find HOME");
    }
    return true;
}

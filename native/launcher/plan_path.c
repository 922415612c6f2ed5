/*
 * node's path.posix.normalize / join / dirname, for the absolute paths the plan handles (mount
 * destinations, device paths, bind sources joined to the bundle): "." and empty components go,
 * ".." takes one back (never above "/"), a trailing "/" stays, as node keeps it. And
 * src/linux/mountinfo.ts mountPointOf.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launcher.h"
#include "plan_internal.h"

char *plan_strndup(const char *s, size_t n) {
    char *copy = strndup(s, n);
    if (!copy) die("out of memory");
    return copy;
}

char *path_normalize(const char *path) {
    if (path[0] != '/') return NULL;
    size_t n = strlen(path);
    char *out = malloc(n + 2);
    if (!out) die("out of memory");
    size_t len = 0; /* out holds "/a/b" without a trailing slash ("" for the root) */
    for (const char *p = path; *p;) {
        while (*p == '/') p++;
        size_t seg = strcspn(p, "/");
        if (seg == 0 || (seg == 1 && p[0] == '.')) {
            /* nothing */
        } else if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 0 && out[len - 1] != '/') len--;
            if (len > 0) len--; /* the slash before the dropped component */
        } else {
            out[len++] = '/';
            memcpy(out + len, p, seg);
            len += seg;
        }
        p += seg;
    }
    if (len == 0 || path[n - 1] == '/') out[len++] = '/';
    out[len] = 0;
    return out;
}

char *path_join(const char *dir, const char *rel) {
    struct buf b = { 0 };
    buf_str(&b, dir);
    if (*rel) {
        buf_str(&b, "/");
        buf_str(&b, rel);
    }
    char *out = path_normalize(b.p);
    free(b.p);
    return out;
}

/* For a normalised absolute path without a trailing slash. */
char *path_dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash && slash != path ? (size_t)(slash - path) : 1;
    return plan_strndup(path, n);
}

/* One mount point of /proc/self/mountinfo (field 5), its octal escapes (\040...) decoded. false
 * for a byte node would read differently (an escape above \177, or invalid UTF-8). */
static bool decode_mount_point(const char *field, size_t n, struct buf *out) {
    for (size_t i = 0; i < n; i++) {
        char ch = field[i];
        if (ch == '\\' && i + 3 < n && field[i + 1] >= '0' && field[i + 1] <= '7' && field[i + 2] >= '0' &&
            field[i + 2] <= '7' && field[i + 3] >= '0' && field[i + 3] <= '7') {
            int code = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
            if (code >= 0x80 || code == 0) return false;
            ch = (char)code;
            i += 3;
        }
        buf_add(out, &ch, 1);
    }
    return utf8_valid(out->p ? out->p : "");
}

char *mount_point_of(const char *path) {
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return NULL;
    char *best = plan_strndup("/", 1);
    char *line = NULL;
    size_t cap = 0;
    bool sure = true;
    while (sure && getline(&line, &cap, f) > 0) {
        const char *p = line;
        for (int i = 0; i < 4 && p; i++) p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
        if (!p) continue;
        struct buf point = { 0 };
        buf_add(&point, "", 0);
        sure = decode_mount_point(p, strcspn(p, " \n"), &point);
        size_t n = strlen(point.p);
        if (n == 0) sure = false;
        /* mountinfo.ts mountPointOf: the longest mount point at or above path */
        bool within = !strcmp(point.p, "/") || !strcmp(path, point.p) ||
                      (!strncmp(path, point.p, n) && (point.p[n - 1] == '/' || path[n] == '/'));
        if (sure && within && n > strlen(best)) {
            free(best);
            best = point.p;
        } else {
            free(point.p);
        }
    }
    free(line);
    fclose(f);
    if (!sure) {
        free(best);
        return NULL;
    }
    return best;
}

/*
 * node's path.posix.normalize / join / dirname, for the absolute paths the plan handles (mount
 * destinations, device paths, bind sources joined to the bundle): "." and empty components go,
 * ".." takes one back (never above "/"), a trailing "/" stays, as node keeps it.
 */
#include <stdlib.h>
#include <string.h>

#include "launcher.h"
#include "plan_internal.h"

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
    char *out = strndup(path, n);
    if (!out) die("out of memory");
    return out;
}

/*
 * The device nodes and /dev links of a container, as src/linux/devices.ts planDevices emits them
 * (runc's createDevices, setupPtmx, setupDevSymlinks): mknod, or a bind of the host's node in a
 * new user namespace.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "plan_internal.h"

struct device {
    char *path;
    const char *type;
    double major, minor, mode, uid, gid;
};

static char *clean_device_path(const char *path) {
    char *p = path_normalize(path);
    size_t n = strlen(p);
    if (n > 1 && p[n - 1] == '/') p[n - 1] = 0;
    return p;
}

/* deviceList: the defaults (minus those linux.devices redefines), then linux.devices. */
static int device_list(const struct jdoc *d, struct device *out) {
    static const struct { const char *path; int major, minor; } DEFAULTS[] = {
        { "/dev/null", 1, 3 }, { "/dev/random", 1, 8 }, { "/dev/full", 1, 7 },
        { "/dev/tty", 5, 0 },  { "/dev/zero", 1, 5 },   { "/dev/urandom", 1, 9 },
    };
    int own = jpath(d, 0, "linux.devices");
    int n = 0;
    for (size_t i = 0; i < sizeof DEFAULTS / sizeof DEFAULTS[0]; i++) {
        bool redefined = false;
        JFOR(d, own, dev) {
            char *p = clean_device_path(jtext(d, jget(d, dev, "path")));
            redefined |= !strcmp(p, DEFAULTS[i].path);
            free(p);
        }
        if (!redefined)
            out[n++] = (struct device){ plan_strdup(DEFAULTS[i].path), "c", DEFAULTS[i].major, DEFAULTS[i].minor,
                                        0666, 0, 0 };
    }
    JFOR(d, own, dev) {
        out[n++] = (struct device){
            clean_device_path(jtext(d, jget(d, dev, "path"))), jtext(d, jget(d, dev, "type")),
            jnum_or(d, dev, "major", 0), jnum_or(d, dev, "minor", 0), jnum_or(d, dev, "fileMode", 0666),
            jnum_or(d, dev, "uid", 0), jnum_or(d, dev, "gid", 0),
        };
    }
    return n;
}

/* planDevices (no user namespace: the nodes are made with mknod) */
void plan_devices(struct builder *b, bool userns) {
    const char *rootfs = b->in->rootfs;
    struct device *devs = calloc((size_t)jlen(b->d, jpath(b->d, 0, "linux.devices")) + 6, sizeof *devs);
    if (!devs) die("out of memory");
    int n = device_list(b->d, devs);
    char **made = calloc((size_t)n + 1, sizeof *made);
    if (!made) die("out of memory");
    int nmade = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(devs[i].path, "/dev/ptmx")) { /* the devpts instance's (links below) */
        } else if (userns) {
            emit_mkdirs(b, devs[i].path, rootfs, "file");
            emit_mount(b, OP_MOUNT, devs[i].path, devs[i].path, "", MS_BIND, "", rootfs);
        } else {
            char *dir = path_dirname(devs[i].path);
            bool seen = false;
            for (int j = 0; j < nmade; j++) seen |= !strcmp(made[j], dir);
            if (seen) free(dir);
            else {
                emit_mkdirs(b, dir, rootfs, "dir");
                made[nmade++] = dir;
            }
            emit_op(b, OP_MKNOD);
            emit_arg(b, devs[i].path);
            emit_arg(b, devs[i].type);
            emit_int(b, devs[i].major);
            emit_int(b, devs[i].minor);
            emit_int(b, devs[i].mode);
            emit_int(b, devs[i].uid);
            emit_int(b, devs[i].gid);
            emit_arg(b, rootfs);
        }
        free(devs[i].path);
    }
    for (int j = 0; j < nmade; j++) free(made[j]);
    free(made);
    free(devs);
    static const char *const LINKS[][2] = {
        { "pts/ptmx", "/dev/ptmx" }, { "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
        { "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" }, { "/proc/kcore", "/dev/core" },
    };
    /* runc links /dev/core only when the host has /proc/kcore */
    size_t nlinks = access("/proc/kcore", F_OK) == 0 ? 6 : 5;
    for (size_t i = 0; i < nlinks; i++) {
        emit_op(b, OP_SYMLINK);
        emit_arg(b, LINKS[i][0]);
        emit_arg(b, LINKS[i][1]);
        emit_arg(b, rootfs);
    }
}

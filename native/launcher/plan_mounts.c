/*
 * config.json mounts -> MOUNT/MKDIRS/MOUNT_SETATTR ops, as src/linux/mounts.ts planMount emits them
 * (option parsing, bind + remount, propagation, recursive attributes, runc's cgroup v1 layout).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "plan_internal.h"

#define SAFE_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)

struct mount_opts {
    unsigned flags, attr_set, attr_clr;
    bool recursive;
    struct buf data; /* the filesystem-specific rest, comma-joined */
};

/* parseMountOptions: left to right, so "ro,rw" ends read-write. */
static void parse_options(const struct jdoc *d, int options, struct mount_opts *mo) {
    memset(mo, 0, sizeof *mo);
    buf_add(&mo->data, "", 0);
    JFOR(d, options, o) {
        const char *name = jtext(d, o);
        const struct mount_option *m = mount_option(name);
        bool is_data = m ? m->kind == MOPT_EXTENSION && !strcmp(name, "tmpcopyup") : name[0] != 0;
        if (is_data) {
            if (mo->data.len) buf_add(&mo->data, ",", 1);
            buf_str(&mo->data, name);
            continue;
        }
        if (!m) continue;
        switch (m->kind) {
        case MOPT_SET: mo->flags |= m->value; break;
        case MOPT_CLEAR: mo->flags &= ~m->value; break;
        case MOPT_PROPAGATION: break; /* applied by add_propagation, in config order */
        case MOPT_RSET:
            mo->recursive = true;
            mo->attr_set |= m->value;
            mo->attr_clr &= ~m->value;
            if (m->atime) mo->attr_clr |= MOUNT_ATTR__ATIME; /* a 3-bit enum: clear it to set a mode */
            break;
        case MOPT_RCLEAR:
            mo->recursive = true;
            mo->attr_clr |= m->value;
            mo->attr_set &= ~m->value;
            break;
        case MOPT_EXTENSION: mo->flags |= !strcmp(name, "rbind") ? MS_BIND | MS_REC : MS_BIND; break;
        }
    }
}

static bool has_option(const struct jdoc *d, int options, const char *a, const char *b2) {
    JFOR(d, options, o) {
        if (!strcmp(jtext(d, o), a) || !strcmp(jtext(d, o), b2)) return true;
    }
    return false;
}

/* isBindMount */
bool is_bind(const struct jdoc *d, int m) {
    const char *type = jtext(d, jget(d, m, "type"));
    if (has_option(d, jget(d, m, "options"), "bind", "rbind")) return true;
    return type && (!strcmp(type, "bind") || !strcmp(type, "rbind") || !strcmp(type, "none"));
}

/* cleanDestination: absolute, normalised, no trailing slash. */
char *clean_destination(const char *dest) {
    char *p = path_normalize(dest);
    size_t n = strlen(p);
    if (n > 1 && p[n - 1] == '/') p[n - 1] = 0;
    return p;
}

static void add_propagation(struct builder *b, int options, const char *dest, const char *scope) {
    JFOR(b->d, options, o) {
        const struct mount_option *m = mount_option(jtext(b->d, o));
        if (m && m->kind == MOPT_PROPAGATION) emit_mount(b, OP_MOUNT, "", dest, "", m->value, "", scope);
    }
}

static void add_setattr(struct builder *b, const struct mount_opts *mo, const char *dest) {
    if (!mo->recursive) return;
    emit_op(b, OP_MOUNT_SETATTR);
    emit_arg(b, dest);
    emit_arg(b, b->in->rootfs);
    emit_argf(b, "%u", mo->attr_set);
    emit_argf(b, "%u", mo->attr_clr);
    emit_arg(b, "0");
    emit_arg(b, "1");
}

/* bindSource: the host path (relative to the bundle, as runc), and whether the bind is recursive
 * (without "bind"/"rbind" in the options the type alone made it a bind: recursive, like crun).
 * NULL (refused) without a source. */
static char *bind_source(struct builder *b, int m, bool *recursive) {
    const struct jdoc *d = b->d;
    const char *given = jtext(d, jget(d, m, "source"));
    if (!given || !given[0]) {
        plan_refuse(b->why, b->whylen, "mounts[]: a bind mount without a source");
        return NULL;
    }
    int options = jget(d, m, "options");
    struct mount_opts mo;
    parse_options(d, options, &mo);
    free(mo.data.p);
    *recursive = has_option(d, options, "bind", "rbind") ? (mo.flags & MS_REC) != 0 : true;
    return given[0] == '/' ? plan_strdup(given) : path_join(b->in->bundle, given);
}

/* planOpenedSources: OPEN_TREE of every bind source before CLONE, for a container in a user
 * namespace (its root may not reach the host path); the copies are numbered in plan order. */
bool plan_opened_sources(struct builder *b) {
    const struct jdoc *d = b->d;
    JFOR(d, jget(d, 0, "mounts"), m) {
        const char *type = jtext(d, jget(d, m, "type"));
        if ((type && (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2"))) || !is_bind(d, m)) continue;
        bool recursive;
        char *source = bind_source(b, m, &recursive);
        if (!source) return false;
        emit_op(b, OP_OPEN_TREE);
        emit_arg(b, source);
        emit_arg(b, recursive ? "1" : "0");
        free(source);
        b->opened[b->nopened++] = m;
    }
    return true;
}

/* The OPEN_TREE copy of mount node m, or -1. */
static int opened_copy(const struct builder *b, int m) {
    for (int i = 0; i < b->nopened; i++) {
        if (b->opened[i] == m) return i;
    }
    return -1;
}

/* planBindMount */
static bool plan_bind(struct builder *b, int m, const struct mount_opts *mo, const char *dest) {
    const struct jdoc *d = b->d;
    bool recursive;
    char *source = bind_source(b, m, &recursive);
    if (!source) return false;
    int options = jget(d, m, "options");
    struct stat st;
    if (stat(source, &st)) {
        free(source);
        return plan_refuse(b->why, b->whylen, "mounts[].source: cannot stat it");
    }
    emit_mkdirs(b, dest, b->in->rootfs, S_ISDIR(st.st_mode) ? "dir" : "file");
    int copy = opened_copy(b, m);
    if (copy >= 0) {
        emit_op(b, OP_MOVE_MOUNT);
        emit_int(b, copy);
        emit_arg(b, dest);
        emit_arg(b, b->in->rootfs);
    } else {
        emit_mount(b, OP_MOUNT, source, dest, "", MS_BIND | (recursive ? MS_REC : 0), "", b->in->rootfs);
    }
    add_propagation(b, options, dest, b->in->rootfs);
    /* A bind mount ignores every flag but MS_REC: ro, nosuid... need a bind-remount. */
    unsigned extra = mo->flags & ~(unsigned)(MS_BIND | MS_REC | MS_REMOUNT);
    if (extra) emit_mount(b, OP_MOUNT, "", dest, "", MS_REMOUNT | MS_BIND | extra, "", b->in->rootfs);
    add_setattr(b, mo, dest);
    free(source);
    return true;
}

/* cgroupDirs: the container's cgroup directories, co-mounted controllers grouped, sorted by name. */
struct cg_dir {
    const char *dir;
    char name[256];
    char controllers[256]; /* comma-joined, as listed */
    bool unified, all_unified;
};

/* Appends `part` (n bytes) to a fixed field, comma-separated; false when it does not fit. */
static bool join_part(char *field, size_t size, const char *part, size_t n) {
    size_t used = strlen(field);
    if (used + (used ? 1 : 0) + n >= size) return false;
    if (used) field[used++] = ',';
    memcpy(field + used, part, n);
    field[used + n] = 0;
    return true;
}

static bool ascii(const char *s) {
    for (; *s; s++) {
        if ((unsigned char)*s >= 0x80) return false;
    }
    return true;
}

/* -1 for names that do not fit, or are not ASCII (JavaScript sorts by UTF-16 units, not bytes). */
static int cgroup_dirs(const struct init_input *in, struct cg_dir *out) {
    int n = 0;
    for (int i = 0; i < in->ncg; i++) {
        int j = 0;
        while (j < n && strcmp(out[j].dir, in->cg_dir[i])) j++;
        if (j == n) {
            memset(&out[n], 0, sizeof out[n]);
            out[n].dir = in->cg_dir[i];
            out[n++].all_unified = true;
        }
        struct cg_dir *c = &out[j];
        if (!join_part(c->controllers, sizeof c->controllers, in->cg_key[i], strlen(in->cg_key[i]))) return -1;
        c->unified |= !strcmp(in->cg_key[i], "unified");
        c->all_unified &= !strcmp(in->cg_key[i], "unified");
    }
    for (int i = 0; i < n; i++) {
        const char *prefix = "/sys/fs/cgroup/";
        const char *under = !strncmp(out[i].dir, prefix, strlen(prefix)) ? out[i].dir + strlen(prefix) : "";
        size_t len = strcspn(under, "/");
        if (len && !join_part(out[i].name, sizeof out[i].name, under, len)) return -1;
        /* else: the controllers without their "name=" prefixes */
        for (const char *p = out[i].controllers; !len && *p;) {
            size_t part = strcspn(p, ",");
            if (!strncmp(p, "name=", 5)) p += 5, part -= 5;
            if (!join_part(out[i].name, sizeof out[i].name, p, part)) return -1;
            p += part + (p[part] == ',');
        }
        if (!ascii(out[i].name)) return -1;
    }
    for (int i = 1; i < n; i++) { /* insertion sort: stable, as Array.prototype.sort */
        struct cg_dir t = out[i];
        int j = i;
        for (; j > 0 && strcmp(out[j - 1].name, t.name) > 0; j--) out[j] = out[j - 1];
        out[j] = t;
    }
    return n;
}

/* planCgroupMount: cgroup v2 alone, or runc's v1 layout (a tmpfs with one directory per hierarchy). */
static bool plan_cgroup(struct builder *b, int options, const struct mount_opts *mo, const char *dest) {
    const char *rootfs = b->in->rootfs;
    struct cg_dir dirs[PLAN_MAX_CGROUPS];
    int n = cgroup_dirs(b->in, dirs);
    if (n < 0) return plan_refuse(b->why, b->whylen, "linux.cgroupsPath: cgroup names too long or not ASCII");
    bool cgroupns = config_namespace(b->d, "cgroup", NULL);
    unsigned flags = mo->flags & ~(unsigned)(MS_BIND | MS_REC | MS_REMOUNT);
    bool v2only = true;
    for (int i = 0; i < n; i++) v2only &= dirs[i].all_unified;
    emit_mkdirs(b, dest, rootfs, "dir");
    if (v2only) {
        if (cgroupns || n == 0) {
            emit_mount(b, OP_MOUNT, "cgroup2", dest, "cgroup2", flags, "", rootfs);
        } else {
            emit_mount(b, OP_MOUNT, dirs[0].dir, dest, "", MS_BIND | MS_REC, "", rootfs);
            if (flags) emit_mount(b, OP_MOUNT, "", dest, "", MS_REMOUNT | MS_BIND | flags, "", rootfs);
        }
        add_propagation(b, options, dest, rootfs);
        return true;
    }
    emit_mount(b, OP_MOUNT, "tmpfs", dest, "tmpfs", SAFE_FLAGS, "mode=755", rootfs);
    add_propagation(b, options, dest, rootfs);
    unsigned sub_flags = (flags | SAFE_FLAGS) & ~(unsigned)MS_RDONLY;
    unsigned ro = flags & MS_RDONLY;
    for (int i = 0; i < n; i++) {
        struct buf sub = { 0 };
        buf_str(&sub, dest);
        buf_str(&sub, "/");
        buf_str(&sub, dirs[i].name);
        emit_mkdirs(b, sub.p, rootfs, "dir");
        if (cgroupns) {
            const char *fstype = dirs[i].unified ? "cgroup2" : "cgroup";
            const char *data = dirs[i].unified ? "" : dirs[i].controllers;
            emit_mount(b, OP_MOUNT, fstype, sub.p, fstype, sub_flags | ro, data, rootfs);
        } else {
            emit_mount(b, OP_MOUNT, dirs[i].dir, sub.p, "", MS_BIND | MS_REC, "", rootfs);
            emit_mount(b, OP_MOUNT, "", sub.p, "", MS_REMOUNT | MS_BIND | sub_flags | ro, "", rootfs);
        }
        if (strchr(dirs[i].name, ',')) {
            for (const char *p = dirs[i].name; *p;) {
                size_t part = strcspn(p, ",");
                struct buf link = { 0 };
                buf_str(&link, dest);
                buf_str(&link, "/");
                buf_add(&link, p, part);
                emit_op(b, OP_SYMLINK);
                emit_arg(b, dirs[i].name);
                emit_arg(b, link.p);
                emit_arg(b, rootfs);
                free(link.p);
                p += part + (p[part] == ',');
            }
        }
        free(sub.p);
    }
    if (ro) emit_mount(b, OP_MOUNT, "", dest, "", MS_REMOUNT | MS_BIND | MS_RDONLY | SAFE_FLAGS, "", rootfs);
    return true;
}

static bool has_mode(const char *data) {
    for (const char *p = data; *p;) {
        if (!strncmp(p, "mode=", 5)) return true;
        p += strcspn(p, ",");
        p += *p == ',';
    }
    return false;
}

/* planMount */
bool plan_mount(struct builder *b, int m) {
    const struct jdoc *d = b->d;
    const char *rootfs = b->in->rootfs;
    int options = jget(d, m, "options");
    struct mount_opts mo;
    parse_options(d, options, &mo);
    char *dest = clean_destination(jtext(d, jget(d, m, "destination")));
    const char *type = jtext(d, jget(d, m, "type"));
    if (!type) type = "";
    const char *source = jtext(d, jget(d, m, "source"));
    bool ok = true;
    if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) {
        ok = plan_cgroup(b, options, &mo, dest);
    } else if (is_bind(d, m)) {
        ok = plan_bind(b, m, &mo, dest);
    } else {
        unsigned flags = mo.flags;
        /* runc: files are made in tmpfs mounts and /dev, so a read-only one is remounted later */
        if ((!strcmp(type, "tmpfs") || !strcmp(dest, "/dev")) && flags & MS_RDONLY) {
            flags &= ~(unsigned)MS_RDONLY;
            b->deferred[b->ndeferred].dest = plan_strdup(dest);
            b->deferred[b->ndeferred++].flags = mo.flags;
        }
        if (!source) source = type;
        if (!strcmp(type, "tmpfs") && !has_mode(mo.data.p)) {
            /* runc: a tmpfs without mode= keeps the mode of the directory it covers */
            emit_mount(b, OP_MOUNT_KEEP_MODE, source, dest, type, flags, mo.data.p, rootfs);
        } else {
            emit_mkdirs(b, dest, rootfs, "dir");
            emit_mount(b, OP_MOUNT, source, dest, type, flags, mo.data.p, rootfs);
        }
        add_propagation(b, options, dest, rootfs);
        add_setattr(b, &mo, dest);
    }
    free(mo.data.p);
    free(dest);
    return ok;
}

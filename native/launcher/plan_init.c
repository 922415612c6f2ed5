/*
 * The init plan of `polis create` (and of a foreground `run`: wait mode), op for op as src/container/plan-init.ts builds it
 * (and src/container/launch.ts planInit around it), for the configs plan_check.c lets through.
 * Each function below names the TypeScript function it mirrors; keep the two in step (the
 * differential test compares their bytes).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_internal.h"
#include "../src/shim.h"

#define SAFE_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)
/* paths.ts DEFAULT_PATH: runc's PATH when the process has none */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* A tmpfs (or /dev) asked to be read-only is made read-only after pivot_root (DeferredRemount). */
struct deferred {
    char *dest;
    unsigned flags;
};

struct builder {
    const struct jdoc *d;
    const struct init_input *in;
    struct buf *out;
    size_t nargs_at; /* where the current op's argument count is, patched by each arg() */
    uint32_t nargs;
    const char **env; /* process.env as the init gets it (HOME added when missing) */
    int nenv;
    char *home;
    bool terminal; /* a console is set up: through the console socket, or proxied (wait mode) */
    struct deferred *deferred;
    int ndeferred;
    char *why;
    size_t whylen;
};

/* ---- the wire format (plan.ts Plan.encode): op:u32 nargs:u32 (len:u32 bytes)* ---- */

static void put_u32(struct buf *b, uint32_t v) {
    char le[4] = { (char)(v & 0xff), (char)(v >> 8 & 0xff), (char)(v >> 16 & 0xff), (char)(v >> 24 & 0xff) };
    buf_add(b, le, 4);
}

static void op(struct builder *b, enum op_code code) {
    put_u32(b->out, code);
    b->nargs_at = b->out->len;
    b->nargs = 0;
    put_u32(b->out, 0);
}

static void arg(struct builder *b, const char *s) {
    size_t n = strlen(s);
    put_u32(b->out, (uint32_t)n);
    buf_add(b->out, s, n);
    uint32_t count = ++b->nargs;
    for (int i = 0; i < 4; i++) b->out->p[b->nargs_at + (size_t)i] = (char)(count >> (8 * i) & 0xff);
}

static void argf(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argf(struct builder *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) die("plan: number too long");
    arg(b, tmp);
}

/* String(n) of an integer below 2^53 (plan_check.c keeps them there), and BigInt(n) of any
 * integral double: exact digits, and -0 prints as "0". */
static const char *int_text(char out[32], double v) {
    snprintf(out, 32, "%.0f", v == 0 ? 0.0 : v);
    return out;
}

static void arg_int(struct builder *b, double v) {
    char text[32];
    arg(b, int_text(text, v));
}

static void arg_mask(struct builder *b, uint64_t mask) { argf(b, "0x%llx", (unsigned long long)mask); }

/* MOUNT and MOUNT_KEEP_MODE: source, target, fstype, flags, data, scope. */
static void mount_op(struct builder *b, enum op_code code, const char *source, const char *target, const char *fstype,
                     unsigned flags, const char *data, const char *scope) {
    op(b, code);
    arg(b, source);
    arg(b, target);
    arg(b, fstype);
    argf(b, "%u", flags);
    arg(b, data);
    arg(b, scope);
}

static void mkdirs_op(struct builder *b, const char *path, const char *scope, const char *kind) {
    op(b, OP_MKDIRS);
    arg(b, path);
    arg(b, scope);
    arg(b, kind);
}

static void op1(struct builder *b, enum op_code code, const char *a) {
    op(b, code);
    arg(b, a);
}

/* ---- mounts (src/linux/mounts.ts) ---- */

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
static bool is_bind(const struct jdoc *d, int m) {
    const char *type = jtext(d, jget(d, m, "type"));
    if (has_option(d, jget(d, m, "options"), "bind", "rbind")) return true;
    return type && (!strcmp(type, "bind") || !strcmp(type, "rbind") || !strcmp(type, "none"));
}

/* cleanDestination: absolute, normalised, no trailing slash. */
static char *clean_destination(const char *dest) {
    char *p = path_normalize(dest);
    size_t n = strlen(p);
    if (n > 1 && p[n - 1] == '/') p[n - 1] = 0;
    return p;
}

static void add_propagation(struct builder *b, int options, const char *dest, const char *scope) {
    JFOR(b->d, options, o) {
        const struct mount_option *m = mount_option(jtext(b->d, o));
        if (m && m->kind == MOPT_PROPAGATION) mount_op(b, OP_MOUNT, "", dest, "", m->value, "", scope);
    }
}

static void add_setattr(struct builder *b, const struct mount_opts *mo, const char *dest) {
    if (!mo->recursive) return;
    op(b, OP_MOUNT_SETATTR);
    arg(b, dest);
    arg(b, b->in->rootfs);
    argf(b, "%u", mo->attr_set);
    argf(b, "%u", mo->attr_clr);
    arg(b, "0");
    arg(b, "1");
}

/* planBindMount */
static bool plan_bind(struct builder *b, int m, const struct mount_opts *mo, const char *dest) {
    const struct jdoc *d = b->d;
    const char *given = jtext(d, jget(d, m, "source"));
    if (!given || !given[0]) return plan_refuse(b->why, b->whylen, "mounts[]: a bind mount without a source");
    char *source = given[0] == '/' ? strdup(given) : path_join(b->in->bundle, given);
    int options = jget(d, m, "options");
    bool recursive = has_option(d, options, "bind", "rbind") ? (mo->flags & MS_REC) != 0 : true;
    struct stat st;
    if (stat(source, &st)) {
        free(source);
        return plan_refuse(b->why, b->whylen, "mounts[].source: cannot stat it");
    }
    mkdirs_op(b, dest, b->in->rootfs, S_ISDIR(st.st_mode) ? "dir" : "file");
    mount_op(b, OP_MOUNT, source, dest, "", MS_BIND | (recursive ? MS_REC : 0), "", b->in->rootfs);
    add_propagation(b, options, dest, b->in->rootfs);
    /* A bind mount ignores every flag but MS_REC: ro, nosuid... need a bind-remount. */
    unsigned extra = mo->flags & ~(unsigned)(MS_BIND | MS_REC | MS_REMOUNT);
    if (extra) mount_op(b, OP_MOUNT, "", dest, "", MS_REMOUNT | MS_BIND | extra, "", b->in->rootfs);
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
        size_t used = strlen(c->controllers);
        snprintf(c->controllers + used, sizeof c->controllers - used, "%s%s", used ? "," : "", in->cg_key[i]);
        c->unified |= !strcmp(in->cg_key[i], "unified");
        c->all_unified &= !strcmp(in->cg_key[i], "unified");
    }
    for (int i = 0; i < n; i++) {
        const char *prefix = "/sys/fs/cgroup/";
        const char *under = !strncmp(out[i].dir, prefix, strlen(prefix)) ? out[i].dir + strlen(prefix) : "";
        size_t len = strcspn(under, "/");
        if (len) snprintf(out[i].name, sizeof out[i].name, "%.*s", (int)len, under);
        else {
            /* the controllers without their "name=" prefixes */
            for (const char *p = out[i].controllers; *p;) {
                size_t part = strcspn(p, ",");
                if (!strncmp(p, "name=", 5)) p += 5, part -= 5;
                size_t used = strlen(out[i].name);
                snprintf(out[i].name + used, sizeof out[i].name - used, "%s%.*s", used ? "," : "", (int)part, p);
                p += part + (p[part] == ',');
            }
        }
    }
    for (int i = 1; i < n; i++) { /* insertion sort: stable, as Array.prototype.sort */
        struct cg_dir t = out[i];
        int j = i;
        for (; j > 0 && strcmp(out[j - 1].name, t.name) > 0; j--) out[j] = out[j - 1];
        out[j] = t;
    }
    return n;
}

static bool has_namespace(const struct jdoc *d, const char *type, bool *joined) {
    JFOR(d, jpath(d, 0, "linux.namespaces"), ns) {
        if (!strcmp(jtext(d, jget(d, ns, "type")), type)) {
            if (joined) *joined = jget(d, ns, "path") >= 0;
            return true;
        }
    }
    return false;
}

/* planCgroupMount: cgroup v2 alone, or runc's v1 layout (a tmpfs with one directory per hierarchy). */
static void plan_cgroup(struct builder *b, int options, const struct mount_opts *mo, const char *dest) {
    const char *rootfs = b->in->rootfs;
    struct cg_dir dirs[PLAN_MAX_CGROUPS];
    int n = cgroup_dirs(b->in, dirs);
    bool cgroupns = has_namespace(b->d, "cgroup", NULL);
    unsigned flags = mo->flags & ~(unsigned)(MS_BIND | MS_REC | MS_REMOUNT);
    bool v2only = true;
    for (int i = 0; i < n; i++) v2only &= dirs[i].all_unified;
    mkdirs_op(b, dest, rootfs, "dir");
    if (v2only) {
        if (cgroupns || n == 0) {
            mount_op(b, OP_MOUNT, "cgroup2", dest, "cgroup2", flags, "", rootfs);
        } else {
            mount_op(b, OP_MOUNT, dirs[0].dir, dest, "", MS_BIND | MS_REC, "", rootfs);
            if (flags) mount_op(b, OP_MOUNT, "", dest, "", MS_REMOUNT | MS_BIND | flags, "", rootfs);
        }
        add_propagation(b, options, dest, rootfs);
        return;
    }
    mount_op(b, OP_MOUNT, "tmpfs", dest, "tmpfs", SAFE_FLAGS, "mode=755", rootfs);
    add_propagation(b, options, dest, rootfs);
    unsigned sub_flags = (flags | SAFE_FLAGS) & ~(unsigned)MS_RDONLY;
    unsigned ro = flags & MS_RDONLY;
    for (int i = 0; i < n; i++) {
        struct buf sub = { 0 };
        buf_fmt(&sub, "%s/%s", dest, dirs[i].name);
        mkdirs_op(b, sub.p, rootfs, "dir");
        if (cgroupns) {
            const char *fstype = dirs[i].unified ? "cgroup2" : "cgroup";
            mount_op(b, OP_MOUNT, fstype, sub.p, fstype, sub_flags | ro, dirs[i].unified ? "" : dirs[i].controllers, rootfs);
        } else {
            mount_op(b, OP_MOUNT, dirs[i].dir, sub.p, "", MS_BIND | MS_REC, "", rootfs);
            mount_op(b, OP_MOUNT, "", sub.p, "", MS_REMOUNT | MS_BIND | sub_flags | ro, "", rootfs);
        }
        if (strchr(dirs[i].name, ',')) {
            for (const char *p = dirs[i].name; *p;) {
                size_t part = strcspn(p, ",");
                struct buf link = { 0 };
                buf_fmt(&link, "%s/%.*s", dest, (int)part, p);
                op(b, OP_SYMLINK);
                arg(b, dirs[i].name);
                arg(b, link.p);
                arg(b, rootfs);
                free(link.p);
                p += part + (p[part] == ',');
            }
        }
        free(sub.p);
    }
    if (ro) mount_op(b, OP_MOUNT, "", dest, "", MS_REMOUNT | MS_BIND | MS_RDONLY | SAFE_FLAGS, "", rootfs);
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
static bool plan_mount(struct builder *b, int m) {
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
        plan_cgroup(b, options, &mo, dest);
    } else if (is_bind(d, m)) {
        ok = plan_bind(b, m, &mo, dest);
    } else {
        unsigned flags = mo.flags;
        /* runc: files are made in tmpfs mounts and /dev, so a read-only one is remounted later */
        if ((!strcmp(type, "tmpfs") || !strcmp(dest, "/dev")) && flags & MS_RDONLY) {
            flags &= ~(unsigned)MS_RDONLY;
            b->deferred[b->ndeferred].dest = strdup(dest);
            b->deferred[b->ndeferred++].flags = mo.flags;
        }
        if (!source) source = type;
        if (!strcmp(type, "tmpfs") && !has_mode(mo.data.p)) {
            /* runc: a tmpfs without mode= keeps the mode of the directory it covers */
            mount_op(b, OP_MOUNT_KEEP_MODE, source, dest, type, flags, mo.data.p, rootfs);
        } else {
            mkdirs_op(b, dest, rootfs, "dir");
            mount_op(b, OP_MOUNT, source, dest, type, flags, mo.data.p, rootfs);
        }
        add_propagation(b, options, dest, rootfs);
        add_setattr(b, &mo, dest);
    }
    free(mo.data.p);
    free(dest);
    return ok;
}

/* ---- devices (src/linux/devices.ts) ---- */

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

static double num_or(const struct jdoc *d, int node, const char *key, double fallback) {
    int i = jget(d, node, key);
    return i >= 0 ? jnum(d, i) : fallback;
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
            out[n++] = (struct device){ strdup(DEFAULTS[i].path), "c", DEFAULTS[i].major, DEFAULTS[i].minor, 0666, 0, 0 };
    }
    JFOR(d, own, dev) {
        out[n++] = (struct device){
            clean_device_path(jtext(d, jget(d, dev, "path"))), jtext(d, jget(d, dev, "type")),
            num_or(d, dev, "major", 0), num_or(d, dev, "minor", 0), num_or(d, dev, "fileMode", 0666),
            num_or(d, dev, "uid", 0), num_or(d, dev, "gid", 0),
        };
    }
    return n;
}

/* planDevices (no user namespace: the nodes are made with mknod) */
static void plan_devices(struct builder *b) {
    const char *rootfs = b->in->rootfs;
    struct device *devs = calloc((size_t)jlen(b->d, jpath(b->d, 0, "linux.devices")) + 6, sizeof *devs);
    if (!devs) die("out of memory");
    int n = device_list(b->d, devs);
    char **made = calloc((size_t)n + 1, sizeof *made);
    if (!made) die("out of memory");
    int nmade = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(devs[i].path, "/dev/ptmx")) { /* ptmx is the devpts instance's (links below) */
            char *dir = path_dirname(devs[i].path);
            bool seen = false;
            for (int j = 0; j < nmade; j++) seen |= !strcmp(made[j], dir);
            if (seen) free(dir);
            else {
                mkdirs_op(b, dir, rootfs, "dir");
                made[nmade++] = dir;
            }
            op(b, OP_MKNOD);
            arg(b, devs[i].path);
            arg(b, devs[i].type);
            arg_int(b, devs[i].major);
            arg_int(b, devs[i].minor);
            arg_int(b, devs[i].mode);
            arg_int(b, devs[i].uid);
            arg_int(b, devs[i].gid);
            arg(b, rootfs);
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
        op(b, OP_SYMLINK);
        arg(b, LINKS[i][0]);
        arg(b, LINKS[i][1]);
        arg(b, rootfs);
    }
}

/* ---- the phases of buildInitPlan ---- */

/* addRootfs: the private root, the mounts, the devices (unless /dev is a bind mount). */
static bool add_rootfs(struct builder *b) {
    const struct jdoc *d = b->d;
    const char *rootfs = b->in->rootfs;
    mount_op(b, OP_MOUNT, "", "/", "", MS_SLAVE | MS_REC, "", "");
    mount_op(b, OP_MOUNT, rootfs, rootfs, "", MS_BIND | MS_REC, "", "");
    bool binds_dev = false;
    JFOR(d, jget(d, 0, "mounts"), m) {
        if (!plan_mount(b, m)) return false;
        char *dest = clean_destination(jtext(d, jget(d, m, "destination")));
        binds_dev |= is_bind(d, m) && !strcmp(dest, "/dev");
        free(dest);
    }
    if (!binds_dev) plan_devices(b);
    return true;
}

/* addConsole: a terminal sized from process.consoleSize (0: the default), given to the process's
 * user (-1 for root: leave it), its group left to devpts. */
static void add_console(struct builder *b) {
    const struct jdoc *d = b->d;
    int proc = jget(d, 0, "process");
    int size = jget(d, proc, "consoleSize");
    double uid = num_or(d, jget(d, proc, "user"), "uid", 0);
    op(b, OP_CONSOLE);
    arg_int(b, num_or(d, size, "height", 0));
    arg_int(b, num_or(d, size, "width", 0));
    arg_int(b, uid == 0 ? -1 : uid);
}

/* addFinishRootfs */
static void add_finish_rootfs(struct builder *b) {
    const struct jdoc *d = b->d;
    const char *cwd = jtext(d, jpath(d, 0, "process.cwd"));
    int masked = jpath(d, 0, "linux.maskedPaths");
    if (jlen(d, masked)) op1(b, OP_MASK_SOURCE, "/dev/null");
    op1(b, b->in->no_pivot ? OP_MOVE_ROOT : OP_PIVOT_ROOT, b->in->rootfs);
    if (strcmp(cwd, "/")) mkdirs_op(b, cwd, "/", "dir"); /* runc creates a missing cwd */
    if (b->terminal) add_console(b);
    for (int i = 0; i < b->ndeferred; i++) {
        unsigned flags = b->deferred[i].flags | MS_REMOUNT | MS_BIND | MS_RDONLY;
        mount_op(b, OP_MOUNT, "", b->deferred[i].dest, "", flags, "", "/");
    }
    if (jtrue(d, jpath(d, 0, "root.readonly"))) mount_op(b, OP_MOUNT, "", "/", "", MS_REMOUNT | MS_BIND | MS_RDONLY, "", "");
    const char *hostname = jtext(d, jget(d, 0, "hostname"));
    const char *domainname = jtext(d, jget(d, 0, "domainname"));
    if (hostname && hostname[0]) op1(b, OP_SETHOSTNAME, hostname);
    if (domainname && domainname[0]) op1(b, OP_SETDOMAINNAME, domainname);
    JFOR(d, jpath(d, 0, "linux.sysctl"), s) {
        struct buf path = { 0 };
        buf_fmt(&path, "/proc/sys/%s", d->n[s].key);
        for (char *p = path.p; *p; p++) *p = *p == '.' ? '/' : *p;
        op(b, OP_WRITE_FILE);
        arg(b, path.p);
        arg(b, jtext(d, s));
        free(path.p);
    }
    JFOR(d, jpath(d, 0, "linux.readonlyPaths"), p) op1(b, OP_READONLY, jtext(d, p));
    JFOR(d, masked, p) op1(b, OP_MASK, jtext(d, p));
}

static uint64_t cap_bits(const struct jdoc *d, int list) {
    uint64_t mask = 0;
    JFOR(d, list, c) mask |= 1ull << cap_number(jtext(d, c));
    return mask;
}

/* rlimitValue: "-1" (infinity) from 2^64-1 up, which a double reads as 2^64. */
static void arg_rlimit(struct builder *b, double v) {
    if (v >= 18446744073709551616.0) arg(b, "-1");
    else arg_int(b, v);
}

/* addProcessOps (no ioPriority, scheduler, personality or seccomp here) */
static void add_process_ops(struct builder *b, int proc) {
    const struct jdoc *d = b->d;
    JFOR(d, jget(d, proc, "rlimits"), r) {
        op(b, OP_RLIMIT);
        argf(b, "%d", rlimit_number(jtext(d, jget(d, r, "type"))));
        arg_rlimit(b, jnum(d, jget(d, r, "soft")));
        arg_rlimit(b, jnum(d, jget(d, r, "hard")));
    }
    int oom = jget(d, proc, "oomScoreAdj");
    if (oom >= 0) {
        op(b, OP_WRITE_FILE);
        arg(b, "/proc/self/oom_score_adj");
        arg_int(b, jnum(d, oom));
    }
    int caps = jget(d, proc, "capabilities");
    if (caps >= 0) {
        op(b, OP_CAP_BOUNDING);
        arg_mask(b, cap_bits(d, jget(d, caps, "bounding")));
    }
    op1(b, OP_CHDIR, jtext(d, jget(d, proc, "cwd")));
    int user = jget(d, proc, "user");
    op(b, OP_USER);
    arg_int(b, num_or(d, user, "uid", 0));
    arg_int(b, num_or(d, user, "gid", 0));
    struct buf groups = { 0 };
    buf_add(&groups, "", 0);
    JFOR(d, jget(d, user, "additionalGids"), g) {
        char text[32];
        buf_fmt(&groups, "%s%s", groups.len ? "," : "", int_text(text, jnum(d, g)));
    }
    arg(b, groups.p);
    free(groups.p);
    int umask = jget(d, user, "umask");
    if (umask < 0) arg(b, "0022"); /* runc's default */
    else argf(b, "0%o", (unsigned)jnum(d, umask));
    if (caps >= 0) {
        uint64_t permitted = cap_bits(d, jget(d, caps, "permitted"));
        uint64_t inheritable = cap_bits(d, jget(d, caps, "inheritable"));
        op(b, OP_CAPS);
        arg_mask(b, cap_bits(d, jget(d, caps, "effective")));
        arg_mask(b, permitted);
        arg_mask(b, inheritable);
        /* the kernel raises an ambient cap only if permitted and inheritable; runc skips the rest */
        op(b, OP_CAP_AMBIENT);
        arg_mask(b, cap_bits(d, jget(d, caps, "ambient")) & permitted & inheritable);
    }
    if (jtrue(d, jget(d, proc, "noNewPrivileges"))) op(b, OP_NO_NEW_PRIVS);
}

/* launch.ts withInitHome: process.env, with HOME from /etc/passwd when it has no usable one. */
static bool init_env(struct builder *b, int proc) {
    const struct jdoc *d = b->d;
    int env = jget(d, proc, "env");
    b->env = calloc((size_t)jlen(d, env) + 1, sizeof *b->env);
    if (!b->env) die("out of memory");
    int home_at = -1;
    bool usable = false;
    JFOR(d, env, e) {
        const char *s = jtext(d, e);
        if (!strncmp(s, "HOME=", 5) && home_at < 0) home_at = b->nenv;
        usable |= !strncmp(s, "HOME=", 5) && s[5];
        b->env[b->nenv++] = s;
    }
    if (usable) return true;
    /* runc reads the file once the mounts are made: a file bound onto /etc/passwd wins (the last) */
    const char *bound = NULL;
    JFOR(d, jget(d, 0, "mounts"), m) {
        char *dest = clean_destination(jtext(d, jget(d, m, "destination")));
        if (is_bind(d, m) && !strcmp(dest, "/etc/passwd")) bound = jtext(d, jget(d, m, "source"));
        free(dest);
    }
    if (bound && !bound[0]) bound = NULL;
    char *home;
    double uid = num_or(d, jget(d, proc, "user"), "uid", 0);
    if (!plan_home(b->in->rootfs, b->in->bundle, bound, uid, &home, b->why, b->whylen)) return false;
    struct buf entry = { 0 };
    buf_str(&entry, "HOME=");
    buf_str(&entry, home);
    free(home);
    b->home = entry.p;
    b->env[home_at >= 0 ? home_at : b->nenv++] = b->home;
    return true;
}

/* addBeforeClone + addClone: cgroups, namespaces joined, the clone, the child's first steps. */
static void add_clone(struct builder *b) {
    const struct jdoc *d = b->d;
    const struct init_input *in = b->in;
    int list = jpath(d, 0, "linux.namespaces");
    if (in->wait_mode && in->nparent > 0) { /* addParentCgroups: where the waiting shim goes back to */
        struct buf files = { 0 };
        for (int i = 0; i < in->nparent; i++) buf_fmt(&files, "%s%s", i ? "\n" : "", in->parent_procs[i]);
        op1(b, OP_PARENT_CGROUPS, files.p);
        free(files.p);
    }
    for (int i = 0; i < in->nprocs; i++) op1(b, OP_CGROUP_JOIN, in->procs[i]);
    if (b->terminal && in->console_socket) op1(b, OP_CONSOLE_SOCKET, in->console_socket);
    else if (b->terminal) op(b, OP_CONSOLE_PAIR);
    bool joins_mount = false;
    has_namespace(d, "mount", &joins_mount);
    /* the fifo is a host path: open it before joining another mount namespace would hide it */
    if (joins_mount) op1(b, OP_FIFO_OPEN, in->fifo_path);
    for (int rank = 0; rank < 8; rank++) { /* JOIN_ORDER: user first, mount last */
        JFOR(d, list, ns) {
            const char *type = jtext(d, jget(d, ns, "type"));
            int path = jget(d, ns, "path");
            if (path < 0 || ns_join_rank(type) != rank) continue;
            op(b, OP_SETNS);
            arg(b, type);
            arg(b, jtext(d, path));
        }
    }
    unsigned flags = 0;
    bool new_net = false;
    JFOR(d, list, ns) {
        const char *type = jtext(d, jget(d, ns, "type"));
        if (jget(d, ns, "path") >= 0) continue;
        flags |= ns_clone_flag(type);
        new_net |= !strcmp(type, "network");
    }
    op(b, OP_CLONE);
    argf(b, "%u", flags);
    arg(b, "");
    arg(b, "");
    arg(b, ""); /* setgroups: runc writes "deny" only for rootless containers */
    arg(b, in->wait_mode ? "wait" : "detach");
    op(b, OP_SETSID);
    if (!joins_mount) op1(b, OP_FIFO_OPEN, in->fifo_path);
    if (new_net) op(b, OP_LOOPBACK_UP);
    if (in->session_keyring) op1(b, OP_NEW_KEYRING, in->session_keyring);
}

static const char *path_from_env(const struct builder *b) {
    for (int i = 0; i < b->nenv; i++) {
        if (!strncmp(b->env[i], "PATH=", 5)) return b->env[i] + 5;
    }
    return DEFAULT_PATH;
}

/* planInit + buildInitPlan, detach mode */
static bool build(struct builder *b) {
    const struct jdoc *d = b->d;
    int proc = jget(d, 0, "process");
    int args = jget(d, proc, "args");
    if (!init_env(b, proc)) return false;
    b->terminal = jtrue(d, jget(d, proc, "terminal")) && (b->in->console_socket || b->in->wait_mode);
    b->deferred = calloc((size_t)jlen(d, jget(d, 0, "mounts")) + 1, sizeof *b->deferred);
    if (!b->deferred) die("out of memory");
    op(b, OP_MKFIFO); /* prepended by planInit: the exec fifo, mode 0622 whatever the umask */
    arg(b, b->in->fifo_path);
    arg(b, "402");
    add_clone(b);
    if (!add_rootfs(b)) return false;
    op1(b, OP_PAUSE, "hooks");
    add_finish_rootfs(b);
    add_process_ops(b, proc);
    op(b, OP_FIND_EXEC);
    arg(b, jtext(d, d->n[args].first));
    arg(b, path_from_env(b));
    op(b, OP_READY);
    op(b, OP_FIFO_WAIT);
    op(b, OP_EXEC);
    argf(b, "%d", jlen(d, args));
    JFOR(d, args, a) arg(b, jtext(d, a));
    for (int i = 0; i < b->nenv; i++) arg(b, b->env[i]);
    op(b, OP_END);
    return true;
}

static void builder_free(struct builder *b) {
    for (int i = 0; i < b->ndeferred; i++) free(b->deferred[i].dest);
    free(b->deferred);
    free(b->env);
    free(b->home);
}

int plan_init_build(sqlite3 *db, const struct init_input *in, struct buf *out, char *why, size_t whylen) {
    if (whylen) why[0] = 0;
    if (in->ncg > PLAN_MAX_CGROUPS || in->nprocs > PLAN_MAX_CGROUPS || in->nparent > PLAN_MAX_CGROUPS ||
        in->bundle[0] != '/')
        return plan_refuse(why, whylen, "input: out of range"), -1;
    struct jdoc d;
    if (!jdoc_load(db, in->config_json, &d, why, whylen)) return -1;
    struct builder b = { .d = &d, .in = in, .out = out, .why = why, .whylen = whylen };
    bool ok = plan_check(&d, in, why, whylen) && build(&b);
    builder_free(&b);
    jdoc_free(&d);
    return ok ? 0 : -1;
}

/*
 * The init plan of `polis create` (and of a foreground `run`: wait mode), op for op as
 * src/container/plan-init.ts buildInitPlan (and src/container/launch.ts planInit around it) builds
 * it, for the configs plan_check.c lets through. The mounts are plan_mounts.c's, the devices
 * plan_devices.c's. Each function names the TypeScript function it mirrors; keep the two in step
 * (test/integration/native-plan-differential.test.ts compares their bytes).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "plan_internal.h"

/* paths.ts DEFAULT_PATH: runc's PATH when the process has none */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* addRootfs: the private root, the mounts, the devices (unless /dev is a bind mount). */
static bool add_rootfs(struct builder *b) {
    const struct jdoc *d = b->d;
    const char *rootfs = b->in->rootfs;
    /* addPrivateRoot: stop our mounts from propagating to the host (runc: slave unless the config
     * says otherwise), then make the rootfs a mount point. Sharing the runtime's mount namespace,
     * its propagation is not ours to change. */
    if (config_namespace(d, "mount", NULL)) {
        unsigned prop = b->root_propagation ? b->root_propagation : MS_SLAVE | MS_REC;
        emit_mount(b, OP_MOUNT, "", "/", "", prop, "", "");
        /* pivot_root refuses a new root whose parent mount is shared: make just that one private */
        if (prop & MS_SHARED) {
            char *parent = mount_point_of(rootfs);
            if (!parent) return plan_refuse(b->why, b->whylen, "linux.rootfsPropagation: mountinfo unreadable");
            emit_mount(b, OP_MOUNT, "", parent, "", MS_PRIVATE, "", "");
            free(parent);
        }
        emit_mount(b, OP_MOUNT, rootfs, rootfs, "", MS_BIND | MS_REC, "", "");
    }
    bool binds_dev = false;
    JFOR(d, jget(d, 0, "mounts"), m) {
        if (!plan_mount(b, m)) return false;
        char *dest = clean_destination(jtext(d, jget(d, m, "destination")));
        binds_dev |= is_bind(d, m) && !strcmp(dest, "/dev");
        free(dest);
    }
    if (!binds_dev) plan_devices(b, config_new_namespace(d, "user"));
    return true;
}

/* addConsole: a terminal sized from process.consoleSize (0: the default), given to the process's
 * user (-1 for root: leave it), its group left to devpts. */
static void add_console(struct builder *b) {
    const struct jdoc *d = b->d;
    int proc = jget(d, 0, "process");
    int size = jget(d, proc, "consoleSize");
    double uid = jnum_or(d, jget(d, proc, "user"), "uid", 0);
    emit_op(b, OP_CONSOLE);
    emit_int(b, jnum_or(d, size, "height", 0));
    emit_int(b, jnum_or(d, size, "width", 0));
    emit_int(b, uid == 0 ? -1 : uid);
}

/* addFinishRootfs */
static void add_finish_rootfs(struct builder *b) {
    const struct jdoc *d = b->d;
    const char *cwd = jtext(d, jpath(d, 0, "process.cwd"));
    int masked = jpath(d, 0, "linux.maskedPaths");
    if (jlen(d, masked)) emit_op1(b, OP_MASK_SOURCE, "/dev/null");
    if (!config_namespace(d, "mount", NULL)) emit_op1(b, OP_CHROOT, b->in->rootfs);
    else emit_op1(b, b->in->no_pivot ? OP_MOVE_ROOT : OP_PIVOT_ROOT, b->in->rootfs);
    if (b->root_propagation) emit_mount(b, OP_MOUNT, "", "/", "", b->root_propagation, "", "");
    if (strcmp(cwd, "/")) emit_mkdirs(b, cwd, "/", "dir"); /* runc creates a missing cwd */
    if (b->terminal) add_console(b);
    for (int i = 0; i < b->ndeferred; i++) {
        unsigned flags = b->deferred[i].flags | MS_REMOUNT | MS_BIND | MS_RDONLY;
        emit_mount(b, OP_MOUNT, "", b->deferred[i].dest, "", flags, "", "/");
    }
    if (jtrue(d, jpath(d, 0, "root.readonly")))
        emit_mount(b, OP_MOUNT, "", "/", "", MS_REMOUNT | MS_BIND | MS_RDONLY, "", "");
    const char *hostname = jtext(d, jget(d, 0, "hostname"));
    const char *domainname = jtext(d, jget(d, 0, "domainname"));
    if (hostname && hostname[0]) emit_op1(b, OP_SETHOSTNAME, hostname);
    if (domainname && domainname[0]) emit_op1(b, OP_SETDOMAINNAME, domainname);
    JFOR(d, jpath(d, 0, "linux.sysctl"), s) {
        struct buf path = { 0 };
        buf_str(&path, "/proc/sys/");
        buf_str(&path, d->n[s].key);
        for (char *p = path.p; *p; p++) *p = *p == '.' ? '/' : *p;
        emit_op(b, OP_WRITE_FILE);
        emit_arg(b, path.p);
        emit_arg(b, jtext(d, s));
        free(path.p);
    }
    JFOR(d, jpath(d, 0, "linux.readonlyPaths"), p) emit_op1(b, OP_READONLY, jtext(d, p));
    JFOR(d, masked, p) emit_op1(b, OP_MASK, jtext(d, p));
}

static uint64_t cap_bits(const struct jdoc *d, int list) {
    uint64_t mask = 0;
    JFOR(d, list, c) mask |= 1ull << cap_number(jtext(d, c));
    return mask;
}

/* rlimitValue: "-1" (infinity) from 2^64-1 up, which a double reads as 2^64. */
static void arg_rlimit(struct builder *b, double v) {
    if (v >= 18446744073709551616.0) emit_arg(b, "-1");
    else emit_int(b, v);
}

/* IOPRIO, SCHED, PERSONALITY (process-attrs.ts ioprioArgs, schedArgs, personalityValue) */
static void add_process_attributes(struct builder *b, int proc) {
    const struct jdoc *d = b->d;
    int io = jget(d, proc, "ioPriority");
    if (io >= 0) {
        emit_op(b, OP_IOPRIO);
        emit_argf(b, "%d", ioprio_class(jtext(d, jget(d, io, "class"))));
        emit_int(b, jnum_or(d, io, "priority", 0));
    }
    int s = jget(d, proc, "scheduler");
    if (s >= 0) {
        int flags = 0;
        JFOR(d, jget(d, s, "flags"), f) flags |= sched_flag(jtext(d, f));
        emit_op(b, OP_SCHED);
        emit_argf(b, "%d", sched_policy(jtext(d, jget(d, s, "policy"))));
        emit_int(b, jnum_or(d, s, "priority", 0));
        emit_int(b, jnum_or(d, s, "nice", 0));
        emit_argf(b, "%d", flags);
        emit_int(b, jnum_or(d, s, "runtime", 0));
        emit_int(b, jnum_or(d, s, "deadline", 0));
        emit_int(b, jnum_or(d, s, "period", 0));
    }
    int personality = jpath(d, 0, "linux.personality");
    if (personality >= 0) {
        emit_op(b, OP_PERSONALITY);
        emit_argf(b, "%d", personality_domain(jtext(d, jget(d, personality, "domain"))));
    }
}

/* addSeccomp (no listener: plan_seccomp.c refuses notify) */
static void add_seccomp(struct builder *b) {
    emit_op(b, OP_SECCOMP);
    emit_bytes(b, b->seccomp.bpf, b->seccomp.len);
    emit_argf(b, "%u", b->seccomp.flags);
    emit_arg(b, "");
    emit_arg(b, "");
}

/* addProcessOps */
static void add_process_ops(struct builder *b, int proc) {
    const struct jdoc *d = b->d;
    JFOR(d, jget(d, proc, "rlimits"), r) {
        emit_op(b, OP_RLIMIT);
        emit_argf(b, "%d", rlimit_number(jtext(d, jget(d, r, "type"))));
        arg_rlimit(b, jnum(d, jget(d, r, "soft")));
        arg_rlimit(b, jnum(d, jget(d, r, "hard")));
    }
    int oom = jget(d, proc, "oomScoreAdj");
    if (oom >= 0) {
        emit_op(b, OP_WRITE_FILE);
        emit_arg(b, "/proc/self/oom_score_adj");
        emit_int(b, jnum(d, oom));
    }
    add_process_attributes(b, proc);
    /* without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before any capability is dropped */
    if (b->seccomp.present && !jtrue(d, jget(d, proc, "noNewPrivileges"))) add_seccomp(b);
    int caps = jget(d, proc, "capabilities");
    if (caps >= 0) {
        emit_op(b, OP_CAP_BOUNDING);
        emit_mask(b, cap_bits(d, jget(d, caps, "bounding")));
    }
    emit_op1(b, OP_CHDIR, jtext(d, jget(d, proc, "cwd")));
    int user = jget(d, proc, "user");
    emit_op(b, OP_USER);
    emit_int(b, jnum_or(d, user, "uid", 0));
    emit_int(b, jnum_or(d, user, "gid", 0));
    struct buf groups = { 0 };
    buf_add(&groups, "", 0);
    JFOR(d, jget(d, user, "additionalGids"), g) {
        char text[32];
        buf_fmt(&groups, "%s%s", groups.len ? "," : "", int_text(text, jnum(d, g)));
    }
    emit_arg(b, groups.p);
    free(groups.p);
    int umask = jget(d, user, "umask");
    if (umask < 0) emit_arg(b, "0022"); /* runc's default */
    else emit_argf(b, "0%o", (unsigned)jnum(d, umask));
    if (caps >= 0) {
        uint64_t permitted = cap_bits(d, jget(d, caps, "permitted"));
        uint64_t inheritable = cap_bits(d, jget(d, caps, "inheritable"));
        emit_op(b, OP_CAPS);
        emit_mask(b, cap_bits(d, jget(d, caps, "effective")));
        emit_mask(b, permitted);
        emit_mask(b, inheritable);
        /* the kernel raises an ambient cap only if permitted and inheritable; runc skips the rest */
        emit_op(b, OP_CAP_AMBIENT);
        emit_mask(b, cap_bits(d, jget(d, caps, "ambient")) & permitted & inheritable);
    }
    if (jtrue(d, jget(d, proc, "noNewPrivileges"))) emit_op(b, OP_NO_NEW_PRIVS);
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
    double uid = jnum_or(d, jget(d, proc, "user"), "uid", 0);
    if (!plan_home(b->in->rootfs, b->in->bundle, bound, uid, &home, b->why, b->whylen)) return false;
    struct buf entry = { 0 };
    buf_str(&entry, "HOME=");
    buf_str(&entry, home);
    free(home);
    b->home = entry.p;
    b->env[home_at >= 0 ? home_at : b->nenv++] = b->home;
    return true;
}

/* TIMENS: /proc/self/timens_offsets text, one "clock secs nanosecs" line per linux.timeOffsets entry. */
static void add_time_namespace(struct builder *b) {
    const struct jdoc *d = b->d;
    struct buf offsets = { 0 };
    buf_add(&offsets, "", 0);
    JFOR(d, jpath(d, 0, "linux.timeOffsets"), clock) {
        char secs[32], nanosecs[32];
        int_text(secs, jnum_or(d, clock, "secs", 0));
        int_text(nanosecs, jnum_or(d, clock, "nanosecs", 0));
        buf_fmt(&offsets, "%s %s %s\n", d->n[clock].key, secs, nanosecs);
    }
    emit_op1(b, OP_TIMENS, offsets.p);
    free(offsets.p);
}

/* idMapString: /proc/<pid>/uid_map text, one "containerID hostID size" line per mapping. */
static char *id_map(const struct jdoc *d, int list) {
    struct buf map = { 0 };
    buf_add(&map, "", 0);
    JFOR(d, list, m) {
        char ids[3][32];
        int_text(ids[0], jnum_or(d, m, "containerID", 0));
        int_text(ids[1], jnum_or(d, m, "hostID", 0));
        int_text(ids[2], jnum_or(d, m, "size", 0));
        buf_fmt(&map, "%s %s %s\n", ids[0], ids[1], ids[2]);
    }
    return map.p;
}

/* addBeforeClone: in the shim itself, everything that needs the host's view. */
static bool add_before_clone(struct builder *b) {
    const struct jdoc *d = b->d;
    const struct init_input *in = b->in;
    if (in->wait_mode && in->nparent > 0) { /* addParentCgroups: where the waiting shim goes back to */
        struct buf files = { 0 };
        for (int i = 0; i < in->nparent; i++) {
            if (i) buf_str(&files, "\n");
            buf_str(&files, in->parent_procs[i]);
        }
        emit_op1(b, OP_PARENT_CGROUPS, files.p);
        free(files.p);
    }
    for (int i = 0; i < in->nprocs; i++) emit_op1(b, OP_CGROUP_JOIN, in->procs[i]);
    if (b->terminal && in->console_socket) emit_op1(b, OP_CONSOLE_SOCKET, in->console_socket);
    else if (b->terminal) emit_op(b, OP_CONSOLE_PAIR);
    /* runc: the runtime opens the bind sources of a user-namespaced container before entering it */
    if (config_namespace(d, "user", NULL) && !plan_opened_sources(b)) return false;
    /* the fifo is a host path: open it before joining another mount namespace would hide it */
    if (b->joins_mount) emit_op1(b, OP_FIFO_OPEN, in->fifo_path);
    int list = jpath(d, 0, "linux.namespaces");
    for (int rank = 0; rank < 8; rank++) { /* JOIN_ORDER: user first, mount last */
        JFOR(d, list, ns) {
            const char *type = jtext(d, jget(d, ns, "type"));
            int path = jget(d, ns, "path");
            if (path < 0 || ns_join_rank(type) != rank) continue;
            emit_op(b, OP_SETNS);
            emit_arg(b, type);
            emit_arg(b, jtext(d, path));
        }
    }
    if (config_new_namespace(d, "time")) add_time_namespace(b);
    return true;
}

/* addClone: CLONE, then the child's first steps: its own session, the fifo, root in a new user
 * namespace, the loopback interface of a new network namespace, the session keyring. */
static void add_clone(struct builder *b) {
    const struct jdoc *d = b->d;
    const struct init_input *in = b->in;
    unsigned flags = 0;
    JFOR(d, jpath(d, 0, "linux.namespaces"), ns) {
        const char *type = jtext(d, jget(d, ns, "type"));
        /* CLONE_NEWTIME shares CSIGNAL's bits: a time namespace is TIMENS's (unshare) */
        if (jget(d, ns, "path") < 0 && strcmp(type, "time")) flags |= ns_clone_flag(type);
    }
    bool new_user = config_new_namespace(d, "user");
    char *uid_map = new_user ? id_map(d, jpath(d, 0, "linux.uidMappings")) : NULL;
    char *gid_map = new_user ? id_map(d, jpath(d, 0, "linux.gidMappings")) : NULL;
    emit_op(b, OP_CLONE);
    emit_argf(b, "%u", flags);
    emit_arg(b, uid_map ? uid_map : "");
    emit_arg(b, gid_map ? gid_map : "");
    emit_arg(b, ""); /* setgroups: runc writes "deny" only for rootless containers */
    emit_arg(b, in->wait_mode ? "wait" : "detach");
    free(uid_map);
    free(gid_map);
    emit_op(b, OP_SETSID);
    if (!b->joins_mount) emit_op1(b, OP_FIFO_OPEN, in->fifo_path);
    if (new_user) emit_op(b, OP_BECOME_ROOT);
    if (config_new_namespace(d, "network")) emit_op(b, OP_LOOPBACK_UP);
    /* after BECOME_ROOT: the keyring belongs to the container's root, not to the overflow uid */
    if (in->session_keyring) emit_op1(b, OP_NEW_KEYRING, in->session_keyring);
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
    if (!plan_seccomp(d, &b->seccomp, b->why, b->whylen)) return false;
    if (!init_env(b, proc)) return false;
    b->terminal = jtrue(d, jget(d, proc, "terminal")) && (b->in->console_socket || b->in->wait_mode);
    config_namespace(d, "mount", &b->joins_mount);
    b->opened = calloc((size_t)jlen(d, jget(d, 0, "mounts")) + 1, sizeof *b->opened);
    if (!b->opened) die("out of memory");
    const char *prop = jtext(d, jpath(d, 0, "linux.rootfsPropagation"));
    b->root_propagation = prop ? rootfs_propagation(prop) : 0;
    b->deferred = calloc((size_t)jlen(d, jget(d, 0, "mounts")) + 1, sizeof *b->deferred);
    if (!b->deferred) die("out of memory");
    emit_op(b, OP_MKFIFO); /* prepended by planInit: the exec fifo, mode 0622 whatever the umask */
    emit_arg(b, b->in->fifo_path);
    emit_arg(b, "402");
    if (!add_before_clone(b)) return false;
    add_clone(b);
    if (!add_rootfs(b)) return false;
    emit_op1(b, OP_PAUSE, "hooks");
    add_finish_rootfs(b);
    add_process_ops(b, proc);
    emit_op(b, OP_FIND_EXEC);
    emit_arg(b, jtext(d, d->n[args].first));
    emit_arg(b, path_from_env(b));
    emit_op(b, OP_READY);
    emit_op(b, OP_FIFO_WAIT);
    /* with no_new_privs, as late as possible (runc) */
    if (b->seccomp.present && jtrue(d, jget(d, proc, "noNewPrivileges"))) add_seccomp(b);
    emit_op(b, OP_EXEC);
    emit_argf(b, "%d", jlen(d, args));
    JFOR(d, args, a) emit_arg(b, jtext(d, a));
    for (int i = 0; i < b->nenv; i++) emit_arg(b, b->env[i]);
    emit_op(b, OP_END);
    return true;
}

static void builder_free(struct builder *b) {
    for (int i = 0; i < b->ndeferred; i++) free(b->deferred[i].dest);
    free(b->deferred);
    free(b->opened);
    free(b->env);
    free(b->home);
    free(b->seccomp.bpf);
}

int plan_init_build(sqlite3 *db, const struct init_input *in, struct buf *out, char *why, size_t whylen) {
    if (whylen) why[0] = 0;
    if (in->ncg > PLAN_MAX_CGROUPS || in->nprocs > PLAN_MAX_CGROUPS || in->nparent > PLAN_MAX_CGROUPS ||
        in->bundle[0] != '/')
        return plan_refuse(why, whylen, "input: out of range"), -1;
    if (in->config_len && strlen(in->config_json) != in->config_len)
        return plan_refuse(why, whylen, "config.json: a NUL byte in it"), -1;
    struct jdoc d;
    if (!jdoc_load(db, in->config_json, &d, why, whylen)) return -1;
    struct builder b = { .d = &d, .in = in, .out = out, .why = why, .whylen = whylen };
    bool ok = plan_check(&d, in, why, whylen) && build(&b);
    builder_free(&b);
    jdoc_free(&d);
    return ok ? 0 : -1;
}

/*
 * `polis create` of a plain config, step for step as src/container/create.ts does it: the row
 * (phase creating), the state directory, the cgroup and its resources, the init through the
 * shim up to its exec fifo, the pid file, phase created and the `create` event. And `polis run`
 * (src/container/run.ts): that create in wait mode, start, the forwarded signals, the exit
 * status and the delete; or, with --detach, create and start.
 *
 * The rule (launcher.h has the general one): every decision to leave the call to node is made
 * before the first change: an option, a config field or a host fact this file does not handle
 * exactly as node would (plan_init_build decides for the plan). Once something has changed, any
 * failure is undone completely (the init and the shim killed and reaped, the cgroup directories,
 * the state directory and the row removed) and then the call goes to node all the same, which
 * redoes the create and reports its own error. So every error text a user sees is node's. A
 * polis SIGKILLed half-way leaves what node's would: a row in phase creating whose creator is
 * dead (so "stopped"), which `delete --force` cleans.
 *
 * Hidden test hooks (test/integration/native-create-differential.test.ts):
 *   POLIS_LAUNCHER_TRACE=FILE  append one line per create or run: done natively, or handed off and why
 *   POLIS_CREATE_STOP_AT=STEP  SIGSTOP itself after STEP (inserted, cgroup, pid, ready), or at
 *                              the start of a hand-off to node (handoff: main.c)
 *   POLIS_PLAN_DUMP_TO=FILE    write the plan bytes it sends the shim (compared with node's planInit)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "create.h"
#include "plan_init.h"

/* ---- hand-offs ------------------------------------------------------------------------------- */

void trace(const char *fmt, ...) {
    const char *file = getenv("POLIS_LAUNCHER_TRACE");
    if (!file || !*file) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    size_t n = strlen(line);
    line[n] = '\n';
    write_fd(fd, line, n + 1);
    close(fd);
}

/* Not a config or a call done here: node does all of it (nothing has changed yet). */
_Noreturn void to_node(const char *why) {
    trace("create: node: %s", why);
    handoff();
}

static void stop_at(const char *step) {
    const char *want = getenv("POLIS_CREATE_STOP_AT");
    if (want && !strcmp(want, step)) raise(SIGSTOP);
}

/* What has been done so far, for undo(). */
struct made {
    const char *id, *state_dir;
    struct cg_plan *cg;
    struct shim shim;
    bool inserted, state_dir_made, cgroup_made;
    bool tty; /* process.terminal (run: the shim proxies it) */
    long long init_pid;
    char init_start[32];
};

static void wait_init_gone(struct made *m) {
    if (m->init_pid <= 0 || !*m->init_start) return;
    for (int i = 0; i < 200 && same_process(m->init_pid, m->init_start, boot_id()); i++) sleep_ms(5);
}

/* Take back every change, in reverse, as cleanupContainer would. Never fails: best effort. */
static void undo(struct made *m, bool remove_row) {
    if (m->init_pid > 0) kill((pid_t)m->init_pid, SIGKILL);
    shim_dismiss(&m->shim);
    if (m->cgroup_made) cg_plan_remove(m->cg);
    wait_init_gone(m);
    if (m->state_dir_made) remove_all(m->state_dir);
    if (m->inserted && remove_row) store_try_remove(m->id);
}

/* A failure after the first change: undo it all, then node redoes the create and reports. */
static _Noreturn void undo_to_node(struct made *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void undo_to_node(struct made *m, const char *fmt, ...) {
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    undo(m, true);
    trace("create: undone, then node: %s", why);
    handoff();
}

/* ---- checks before any change ------------------------------------------------------------------ */

/* validateId: [\w+\-.]+, not . or .., at most 255 bytes. */
bool valid_id(const char *id) {
    size_t n = strlen(id);
    if (!n || n > 255 || !strcmp(id, ".") || !strcmp(id, "..")) return false;
    for (const char *p = id; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

/* config.json's bytes (NUL-terminated; *len counts them all, a NUL inside included). */
static char *read_config(const char *bundle, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", bundle);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (16 << 20)) {
        close(fd);
        return NULL;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t n = 0;
    ssize_t r;
    while (text && n < (size_t)st.st_size && (r = read(fd, text + n, (size_t)st.st_size - n)) > 0) n += (size_t)r;
    close(fd);
    if (!text || n != (size_t)st.st_size) return NULL;
    text[n] = 0;
    *len = n;
    return text;
}

bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* hooks: every list empty (node runs hooks; an empty one is no hook). */
static bool no_hook(void *ctx, const char *key, const char *type, const char *value) {
    (void)key;
    bool *ok = ctx;
    if (strcmp(type, "array") || strcmp(value, "[]")) *ok = false;
    return *ok;
}


/*
 * Annotations node would store as this very text (JSON.stringify after JSON.parse): strings
 * without escapes, no integer-like key (those move to the front), no key twice.
 */
struct annotations_check { bool ok; char *keys[512]; int n; };

static bool plain_annotation(void *ctx, const char *key, const char *type, const char *value) {
    struct annotations_check *c = ctx;
    size_t digits = strspn(key, "0123456789");
    if (strcmp(type, "text") || (*key && digits == strlen(key)) || c->n == 512) return c->ok = false;
    for (int i = 0; i < c->n; i++) if (!strcmp(c->keys[i], key)) return c->ok = false;
    c->keys[c->n++] = strdup(key);
    (void)value;
    return true;
}

static bool has_mount_ns(void *ctx, const char *key, const char *type, const char *value) {
    (void)key;
    bool *found = ctx;
    char *t = NULL;
    if (!strcmp(type, "object") && store_json(value, "$.type", &t) && t && !strcmp(t, "mount")) *found = true;
    free(t);
    return !*found;
}

static char *owner_name(void) {
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_name) return strdup(res->pw_name);
    char uid[24];
    snprintf(uid, sizeof uid, "%u", (unsigned)geteuid());
    return strdup(uid);
}

/* mkdirSync(dir, { recursive: true, mode: 0o700 }) */
bool mkdir_p(const char *dir, mode_t mode) {
    if (mkdir(dir, mode) == 0 || errno == EEXIST) return is_dir(dir);
    if (errno != ENOENT) return false;
    char *parent = strdup(dir);
    char *slash = strrchr(parent, '/');
    if (!slash || slash == parent) return free(parent), false;
    *slash = 0;
    bool ok = mkdir_p(parent, mode);
    free(parent);
    return ok && (mkdir(dir, mode) == 0 || (errno == EEXIST && is_dir(dir)));
}

/* writePidFile: temp file (exclusive, unguessable) then rename; no newline; 0666 less umask. */
static bool write_pid_file(const char *path, long long pid) {
    char *dir = strdup(path), *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash == dir) dir[1] = 0;
    else if (slash) *slash = 0;
    char tmp[4096];
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt <= 5; attempt++) {
        unsigned char rnd[6];
        int r = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (r < 0 || read(r, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
            if (r >= 0) close(r);
            free(dir);
            return false;
        }
        close(r);
        snprintf(tmp, sizeof tmp, "%s/.%s.%d.%02x%02x%02x%02x%02x%02x.tmp", dir, base, (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    free(dir);
    if (fd < 0) return false;
    char text[24];
    int n = snprintf(text, sizeof text, "%lld", pid);
    bool ok = write(fd, text, (size_t)n) == n;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) == 0) return true;
    unlink(tmp);
    return false;
}

/* ---- create ------------------------------------------------------------------------------------ */

/*
 * createContainer(g, o, mode): detach (create) or wait (run: the shim stays the init's parent and
 * reports its exit). Returns with the container created and recorded, `m` holding the session.
 */
static void create_container(const struct create_opts *o, bool wait, struct made *m_out) {
    if (!store_can_insert()) to_node("the containers table has columns this build does not fill");
    if (!valid_id(o->id)) to_node("container id");
    /* preserved fds are node's (any count but 0); a console socket only with a terminal, below */
    bool console = o->console_socket && *o->console_socket;
    if (console && wait) to_node("run --console-socket");
    if (o->preserve_fds && strcmp(o->preserve_fds, "0")) to_node("--preserve-fds");
    if (o->systemd_cgroup) to_node("--systemd-cgroup");

    /* the bundle, the config, the rootfs */
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) to_node("getcwd");
    char *bundle = path_resolve(cwd, o->bundle && *o->bundle ? o->bundle : cwd);
    if (!is_dir(bundle)) to_node("bundle");
    size_t config_len = 0;
    char *config = read_config(bundle, &config_len);
    /* a NUL inside is node's error (JSON.parse sees what a C string would hide) */
    if (!config || strlen(config) != config_len || !utf8_valid(config)) to_node("config.json unreadable");
    const char *t = store_json(config, "$", NULL);
    if (!t || strcmp(t, "object")) to_node("config.json is not an object");
    char *root_path = NULL;
    t = store_json(config, "$.root.path", &root_path);
    if (!t || strcmp(t, "text") || !*root_path) to_node("root.path");
    char *rootfs = path_resolve(bundle, root_path);
    if (!is_dir(rootfs)) to_node("rootfs");

    /* what node does around the plan: hooks, a terminal */
    bool ok = true;
    if (store_json(config, "$.hooks", NULL)) store_json_each(config, "$.hooks", no_hook, &ok);
    if (!ok) to_node("hooks");
    /* run: node's delete detaches the mounts of a container in the runtime's mount namespace */
    bool mount_ns = false;
    if (store_json(config, "$.linux.namespaces", NULL)) store_json_each(config, "$.linux.namespaces", has_mount_ns, &mount_ns);
    if (wait && !mount_ns) to_node("run without a mount namespace");
    char *terminal = NULL;
    t = store_json(config, "$.process.terminal", &terminal);
    /* a terminal: through --console-socket (create), or proxied by the waiting shim (run) */
    bool tty = t && !strcmp(t, "true");
    if (t && strcmp(t, "false") && !tty) to_node("process.terminal");
    if (tty && !console && !wait) to_node("process.terminal");
    if (!tty && console) to_node("--console-socket without process.terminal");
    char *cgroups_path = NULL;
    t = store_json(config, "$.linux.cgroupsPath", &cgroups_path);
    if (t && strcmp(t, "text")) to_node("linux.cgroupsPath");

    /* the annotations and the config as node records them */
    char *annotations = NULL;
    t = store_json(config, "$.annotations", &annotations);
    if (t && strcmp(t, "object")) to_node("annotations");
    if (!t) annotations = "{}";
    struct annotations_check ac = {.ok = true};
    if (t) store_json_each(config, "$.annotations", plain_annotation, &ac);
    if (!ac.ok || strchr(annotations, '\\')) to_node("annotations");
    char *recorded = store_recorded_config(config);
    if (!recorded) to_node("config");

    /* the cgroup: this host's layout, a directory nobody has yet, devices rules node accepts */
    static struct cg_plan cg;
    if (!cg_plan_resolve(cgroups_path, o->id, &cg)) to_node("cgroup layout or linux.cgroupsPath");
    if (cg_plan_any_exists(&cg)) to_node("the container's cgroup exists already");
    struct devices_want devices;
    if (!cg.devices_dir || !cg_devices_want(config, &devices)) to_node("linux.resources.devices");
    struct resources_want resources;
    if (!cg_resources_want(config, &cg, &resources)) {
        char *res = NULL;
        store_json(config, "$.linux.resources", &res);
        trace("create: node: linux.resources other than devices, memory.limit/swap, cpu.shares and pids.limit: %s", res);
        handoff();
    }

    /* the state directory and the exec fifo in it */
    char *root = path_resolve("/", G.root);
    struct buf sd = {0};
    buf_str(&sd, root);
    buf_str(&sd, "/containers/");
    buf_str(&sd, o->id);
    char *state_dir = path_resolve("/", sd.p);
    struct buf fifo = {0};
    buf_str(&fifo, state_dir);
    buf_str(&fifo, "/exec.fifo");
    struct buf keyring = {0};
    buf_str(&keyring, "_ses.");
    buf_str(&keyring, o->id);

    /* the plan: the builder decides whether it can make node's exact bytes (and whether node
     * would accept the config at all: it validates every field, resources included) */
    struct init_input in = {
        .config_json = config,
        .config_len = config_len,
        .bundle = bundle,
        .rootfs = rootfs,
        .fifo_path = fifo.p,
        .no_pivot = o->no_pivot,
        .ncg = cg.n,
        .nprocs = cg.ndirs,
        .session_keyring = o->no_new_keyring ? NULL : keyring.p,
        .wait_mode = wait,
        .console_socket = console ? path_resolve(cwd, o->console_socket) : NULL,
        .nparent = wait ? cg.nowns : 0,
    };
    for (int i = 0; wait && i < cg.nowns; i++) in.parent_procs[i] = cg.owns[i];
    char *procs[MAX_CGROUPS];
    for (int i = 0; i < cg.n; i++) in.cg_key[i] = cg.key[i], in.cg_dir[i] = cg.dir[i];
    for (int i = 0; i < cg.ndirs; i++) {
        struct buf p = {0};
        buf_str(&p, cg.dirs[i]);
        buf_str(&p, "/cgroup.procs");
        in.procs[i] = procs[i] = p.p;
    }
    struct buf plan = {0};
    char why[512] = "";
    if (plan_init_build(store_json_db(), &in, &plan, why, sizeof why) != 0) {
        trace("create: node: plan: %s", why);
        handoff();
    }

    char created[64], creator_start[32] = "";
    rfc3339_nano(created, sizeof created);
    proc_start_time(getpid(), creator_start, sizeof creator_start);
    char *owner = owner_name();
    char *cg_json = cg_plan_json(&cg);
    struct buf db = {0};
    buf_str(&db, root);
    buf_str(&db, "/state.db");
    if (access(db.p, F_OK) != 0) to_node("no state database yet (node makes it, migrations and all)");
    store_open(); /* hands off when its schema is another */

    /* ---- changes from here on: a failure undoes them all, then node ---- */
    struct made m = {.id = o->id, .state_dir = state_dir, .cg = &cg, .tty = tty};
    if (!shim_spawn_early(&m.shim, cg.warm)) undo_to_node(&m, "spawn polis-shim");
    struct new_row row = {
        .id = o->id, .bundle = bundle, .rootfs = rootfs, .boot_id = boot_id(), .creator_start_time = creator_start,
        .created = created, .owner = owner, .annotations = annotations, .config = recorded, .cgroup_paths = cg_json,
        .state_dir = state_dir, .session_keyring = in.session_keyring, .creator_pid = getpid(),
    };
    int rc = store_insert_container(&row);
    if (rc != 1) undo_to_node(&m, rc == 0 ? "the id is taken" : "insert the row");
    m.inserted = true;
    stop_at("inserted");
    if (!mkdir_p(state_dir, 0700)) undo_to_node(&m, "mkdir %s: %s", state_dir, errno_name(errno));
    m.state_dir_made = true;
    char err[4400];
    m.cgroup_made = true; /* also half-made: undo removes what is there */
    if (!cg_plan_create(&cg, err, sizeof err)) undo_to_node(&m, "%s", err);
    if (!cg_devices_apply(cg.devices_dir, &devices, err, sizeof err)) undo_to_node(&m, "%s", err);
    if (!cg_resources_apply(&cg, &resources, err, sizeof err)) undo_to_node(&m, "%s", err);
    stop_at("cgroup");

    /* launchInit: the plan, then PID (recorded at once), PAUSE (no hooks: resume), READY */
    const char *dump = getenv("POLIS_PLAN_DUMP_TO");
    if (dump && *dump) {
        int fd = open(dump, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) write_fd(fd, plan.p, plan.len), close(fd);
    }
    if (!shim_send(&m.shim, plan.p, plan.len)) undo_to_node(&m, "send the plan");
    for (;;) {
        struct shim_msg msg;
        if (!shim_next(&m.shim, &msg)) undo_to_node(&m, "polis-shim ended without a report");
        if (msg.type == 1) {
            m.init_pid = msg.value;
            if (!proc_start_time(m.init_pid, m.init_start, sizeof m.init_start)) undo_to_node(&m, "the init is gone");
            rc = store_update_created(o->id, m.init_pid, m.init_start);
            if (rc == 0) {
                /* a `delete --force` took the row meanwhile: node's words for it */
                undo(&m, false);
                fail("container %s was deleted while it was being created", o->id);
            }
            if (rc < 0) undo_to_node(&m, "record the pid");
            stop_at("pid");
        } else if (msg.type == 2) {
            if (!shim_resume(&m.shim)) undo_to_node(&m, "resume polis-shim");
        } else if (msg.type == 3) {
            break;
        } else {
            undo_to_node(&m, "polis-shim reported %u at step %d (errno %d: %s)", msg.type, msg.step, msg.err, msg.detail);
        }
    }
    stop_at("ready");
    if (o->pid_file) {
        char *pid_file = path_resolve(cwd, o->pid_file);
        if (!write_pid_file(pid_file, m.init_pid)) undo_to_node(&m, "--pid-file %s", pid_file);
    }
    rc = store_update_created(o->id, 0, NULL);
    if (rc == 0) {
        undo(&m, false);
        fail("container %s was deleted while it was being created", o->id);
    }
    if (rc < 0) undo_to_node(&m, "record phase created");
    /* created: from here a failure is reported, as node's would be after its last step */
    committed();
    struct buf attrs = {0};
    buf_str(&attrs, "{\"bundle\":");
    buf_json_string(&attrs, bundle);
    buf_str(&attrs, "}");
    store_append_event("create", o->id, attrs.p);
    *m_out = m;
}

int cmd_create(const struct create_opts *o) {
    struct made m;
    create_container(o, false, &m);
    /* the detached shim exits after PID; until reaped it is charged to the pids cgroup */
    shim_reap(&m.shim);
    close(m.shim.sock);
    store_close();
    trace("create: native: %s", o->id);
    return 0;
}

/* ---- run in the foreground ------------------------------------------------------------------ */

/* FORWARDED_SIGNALS (src/linux/signals.ts): all a process can catch but SIGCHLD and SIGPIPE. */
static const int FORWARDED[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTRAP, SIGABRT, SIGUSR1, SIGUSR2,   SIGALRM,  SIGTERM, SIGSTKFLT, SIGCONT,
                                SIGTSTP, SIGTTIN, SIGTTOU, SIGURG,  SIGXCPU, SIGXFSZ, SIGVTALRM, SIGWINCH, SIGIO,   SIGPWR,    SIGSYS};
static volatile sig_atomic_t forward_to;
static volatile sig_atomic_t pending_signals[65];
static struct sigaction callers[sizeof FORWARDED / sizeof FORWARDED[0]]; /* the dispositions we were given */
void (*handoff_signals)(void);

static void forward(int sig) {
    if (forward_to > 0) kill((pid_t)forward_to, sig);
    else pending_signals[sig] = 1;
}

/*
 * A foreground run handed to node before its init existed: node redoes the whole run, and what
 * this one caught would be lost at execv (a handler does not survive it, nor does this table).
 * So the caller's dispositions come back and every caught signal is raised again, after the
 * undo: a SIGTERM, SIGINT or SIGHUP ends polis by that signal with nothing left, as one that
 * arrives while node boots does (and as runc dies of one before its container starts). All are
 * blocked meanwhile, so that none is caught between the look and the restore.
 */
static void give_back_signals(void) {
    sigset_t all, before;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &before);
    for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) sigaction(FORWARDED[i], &callers[i], NULL);
    for (int sig = 1; sig < 65; sig++) {
        if (!pending_signals[sig]) continue;
        pending_signals[sig] = 0;
        trace("run: SIG%s caught before the hand-off, raised again", sigabbrev_np(sig));
        raise(sig);
    }
    sigprocmask(SIG_SETMASK, &before, NULL); /* a caught one is delivered here, by the caller's disposition */
}

/*
 * A signal caught before the start whose default action would have ended polis, and which the
 * caller did not ignore: 0 when none. Forwarded, it would be lost: the init is the first process
 * of its PID namespace and has no handler before it execs the container's process (the kernel
 * drops such a signal from outside), so the run would go on as if none had come. Instead the run
 * ends by it, as runc does before its container starts, but leaving nothing: the init is killed
 * and the container deleted (kept with --keep, stopped, for `delete --force`).
 */
static int ending_signal(void) {
    for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) {
        int sig = FORWARDED[i];
        bool ends = sig != SIGCONT && sig != SIGURG && sig != SIGWINCH && sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU;
        if (ends && pending_signals[sig] && callers[i].sa_handler == SIG_DFL) return sig;
    }
    return 0;
}

/* The wait status as a shell gives it: the code, or 128+N for a death by signal N; -1 stopped. */
static int exit_code_of(long long status) {
    int st = (int)status;
    if ((st & 0xff) == 0x7f) return -1;
    if ((st & 0x7f) == 0) return (st >> 8) & 0xff;
    return 128 + (st & 0x7f);
}

/* run's delete --force once the init has exited: false with node's error text in `why`. */
static bool delete_after_run(const char *id, char *why, size_t whylen) {
    struct record rec;
    if (!store_get(id, &rec)) return true; /* deleted meanwhile: nothing to do (node's delete --force) */
    char reason[8192], first[8400] = "";
    if (!teardown_stopped(&rec, reason, sizeof reason, first, sizeof first)) {
        int left = cg_pid_count(&rec);
        if (left > 0) snprintf(why, whylen, "remove the cgroup: %s (%d process(es) still in it); container %s is kept until its cgroup can be removed (delete it again)", reason, left, id);
        else snprintf(why, whylen, "remove the cgroup: %s; container %s is kept until its cgroup can be removed (delete it again)", reason, id);
        return false;
    }
    if (*first) {
        snprintf(why, whylen, "%s", first);
        return false;
    }
    return true;
}

/*
 * A room attached something to the running container that only node releases (a `network
 * connect` from another shell): node's `delete --force` (POLIS_NATIVE=0), with the global flags
 * that matter to it, does the whole delete. Its errors are its own, on the same stderr and log.
 * Returns its exit status (127: it could not be started).
 */
static int node_delete(const char *id) {
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) signal(FORWARDED[i], SIG_DFL);
        setenv("POLIS_NATIVE", "0", 1);
        const char *argv[16];
        int n = 0;
        argv[n++] = "polis";
        argv[n++] = "--root";
        argv[n++] = G.root;
        if (G.log_file) argv[n++] = "--log", argv[n++] = G.log_file;
        argv[n++] = "--log-format";
        argv[n++] = G.log_json ? "json" : "text";
        if (G.config) argv[n++] = "--config", argv[n++] = G.config;
        argv[n++] = "delete";
        argv[n++] = "--force";
        argv[n++] = id;
        argv[n] = NULL;
        execv("/proc/self/exe", (char **)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return 127;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Resources of `id` other than image bundles (run_image.c releases those): node's to release. */
static bool node_resources(const char *id) {
    struct record rec;
    return store_get(id, &rec) && rec.resources > 0 && store_other_resource_count(id) > 0;
}

/*
 * runContainer in the foreground: create in wait mode, start, wait for the init's exit status
 * (signals forwarded to it), delete (unless --keep), exit with its code. Before the init is
 * released, a failure is undone and node does the whole run; after it, node's texts.
 */
int cmd_run(const struct create_opts *o, bool detach, bool keep) {
    if (detach) {
        /* createContainer (detach) then startDetached: startCreated's texts, the container kept */
        struct made m;
        create_container(o, false, &m);
        shim_reap(&m.shim);
        close(m.shim.sock);
        struct record rec;
        if (!store_get(o->id, &rec)) fail("container does not exist");
        if (!store_transition_to_running(o->id)) fail("cannot start an already running container");
        release_init(&rec);
        store_append_event("start", o->id, "{}");
        store_close();
        trace("run: native: %s", o->id);
        return 0;
    }
    struct sigaction sa = {.sa_handler = forward};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) sigaction(FORWARDED[i], &sa, &callers[i]);
    handoff_signals = give_back_signals;
    /* a terminal proxied by the shim: it resizes the pty on SIGWINCH itself, and the kernel then
     * signals the container (node stops forwarding it once it knows, as here) */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    struct made m;
    create_container(o, true, &m);
    struct record rec;
    if (!store_get(o->id, &rec)) fail("container does not exist");
    if (m.tty) sigaction(SIGWINCH, &dfl, NULL);
    handoff_signals = NULL; /* created: no more hand-offs */
    /* created: what follows is reported, as node's run does (its delete runs all the same) */
    sigset_t forwarded, before;
    sigemptyset(&forwarded);
    for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) sigaddset(&forwarded, FORWARDED[i]);
    sigprocmask(SIG_BLOCK, &forwarded, &before); /* until the init is released, or killed */
    char failure[8800] = "";
    int ending = ending_signal();
    if (ending) {
        trace("run: SIG%s caught before the start: the container is killed, deleted, and polis ends by it", sigabbrev_np(ending));
        kill((pid_t)m.init_pid, SIGKILL);
    } else {
        const char *status = live_status(&rec);
        if (!strcmp(status, "stopped")) snprintf(failure, sizeof failure, "cannot start a container that has stopped");
        else if (!store_transition_to_running(o->id)) snprintf(failure, sizeof failure, "cannot start an already running container");
    }
    int code = 0;
    const char *not_released = *failure || ending ? NULL : try_release_init(&rec);
    if (not_released) snprintf(failure, sizeof failure, "%s", not_released);
    /* released: the rest caught meanwhile go to the init as they come (they wait for the unblock) */
    forward_to = ending ? 0 : (sig_atomic_t)m.init_pid;
    for (int sig = 1; sig < 65 && !ending; sig++) {
        if (!pending_signals[sig]) continue;
        pending_signals[sig] = 0;
        kill((pid_t)m.init_pid, sig);
    }
    sigprocmask(SIG_SETMASK, &before, NULL);
    if (!*failure) {
        if (!ending) store_append_event("start", o->id, "{}");
        /* exitStatus(): messages up to EXITED (PAUSEs resumed) */
        struct shim_msg msg;
        bool exited = false;
        while (shim_next(&m.shim, &msg)) {
            if (msg.type == 5) {
                exited = true;
                break;
            }
            if (msg.type == 2) shim_resume(&m.shim);
        }
        int shim_status = shim_reap(&m.shim);
        if (!exited) {
            const char *sig = WIFSIGNALED(shim_status) ? sigabbrev_np(WTERMSIG(shim_status)) : NULL;
            if (WIFSIGNALED(shim_status))
                snprintf(failure, sizeof failure, "polis-shim ended without a report (killed by SIG%s)", sig ? sig : "?");
            else snprintf(failure, sizeof failure, "polis-shim ended without a report (exit status %d)", WEXITSTATUS(shim_status));
        } else {
            code = exit_code_of(msg.value);
            if (code < 0) snprintf(failure, sizeof failure, "the container init stopped unexpectedly");
        }
    }
    close(m.shim.sock);
    shim_reap(&m.shim);
    bool reported = false; /* node's delete failed and said why */
    if (!keep && node_resources(o->id)) {
        int rc = node_delete(o->id);
        if (rc == 127 && !*failure) snprintf(failure, sizeof failure, "delete: cannot start node's delete of %s", o->id);
        else reported = rc != 0;
    } else if (!keep) {
        char why[8800];
        if (!delete_after_run(o->id, why, sizeof why) && !*failure) snprintf(failure, sizeof failure, "%s", why);
    }
    for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) signal(FORWARDED[i], SIG_DFL);
    store_close();
    if (ending) raise(ending); /* its default action: polis ends by it */
    if (*failure) fail("%s", failure);
    if (reported) return 1;
    trace("run: native: %s", o->id);
    return code;
}

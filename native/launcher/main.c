/*
 * The launcher's entry: runc's command line (as src/cli/argv.ts parses it) for the commands done
 * natively, and the hand-off to node for everything else. See launcher.h for the rule.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launcher.h"
#include "launcher-gen.h"

struct globals G;
bool side_effects;
static int g_argc;
static char **g_argv;

/* ---- hand-off to node ---------------------------------------------------------------------- */

/*
 * NODE_EXTRA_CA_CERTS makes node parse the bundle at boot: 45-90 ms on every start. Commands that
 * never open a TLS connection drop it. Those whose only TLS is polis's registry client (pull,
 * login, run/create --image) move it to POLIS_EXTRA_CA_CERTS, which the client reads only when
 * it opens a verified TLS connection (src/image/http.ts). Anything else keeps it: a command this
 * launcher does not know, and the monitor's webhooks.
 */
static const char *const NO_TLS[] = {
    "create", "run", "start", "state", "kill", "delete", "list", "ps", "pause", "resume", "update",
    "events", "exec", "spec", "features", "checkpoint", "restore", "help", "h",
    "images", "rmi", "tag", "image", "bundle", "logout", NULL,
};
static const char *const REGISTRY_TLS[] = {"pull", "login", NULL};

static bool takes_value(const char *flag) {
    const char *name = flag + (flag[1] == '-' ? 2 : 1);
    if (strchr(name, '=')) return false;
    return !strcmp(name, "log") || !strcmp(name, "log-format") || !strcmp(name, "root") || !strcmp(name, "rootless") ||
           !strcmp(name, "config");
}

static bool listed(const char *const *list, const char *cmd) {
    for (const char *const *c = list; *c; c++)
        if (!strcmp(*c, cmd)) return true;
    return false;
}

enum ca_certs { CA_KEEP, CA_DROP, CA_MOVE };

/* The index of the command in argv (after the global flags); g_argc when there is none. */
static int command_index(void) {
    int i = 1;
    for (; i < g_argc; i++) {
        const char *t = g_argv[i];
        if (!strcmp(t, "--")) { i++; break; }
        if (t[0] != '-' || t[1] == 0) break;
        if (takes_value(t)) i++;
    }
    return i < g_argc ? i : g_argc;
}

static enum ca_certs ca_certs_policy(void) {
    int i = command_index();
    if (i >= g_argc) return CA_DROP; /* --version, --help */
    const char *cmd = g_argv[i];
    if (listed(REGISTRY_TLS, cmd)) return CA_MOVE;
    if (!listed(NO_TLS, cmd)) return CA_KEEP;
    if (!strcmp(cmd, "run") || !strcmp(cmd, "create")) {
        /* `run --image`: the images room (a pull may come with it) */
        for (int j = i + 1; j < g_argc; j++) {
            const char *t = g_argv[j];
            if (!strcmp(t, "--")) break;
            if (!strcmp(t, "--image") || !strcmp(t, "-image") || !strncmp(t, "--image=", 8) || !strncmp(t, "-image=", 7)) return CA_MOVE;
        }
    }
    return CA_DROP;
}

/* See NO_TLS. POLIS_EXTRA_CA_CERTS the caller set is left as it is. */
static void apply_ca_certs_policy(void) {
    const char *file = getenv("NODE_EXTRA_CA_CERTS");
    if (!file) return;
    enum ca_certs p = ca_certs_policy();
    if (p == CA_KEEP) return;
    if (p == CA_MOVE && *file) setenv("POLIS_EXTRA_CA_CERTS", file, 0);
    unsetenv("NODE_EXTRA_CA_CERTS");
}

/*
 * V8 flags for node, by command. `monitor` is a server that runs for days, and V8's defaults are
 * made for throughput: TurboFan compiles its hot scrape paths (compiler code pages, zones and code:
 * ~7 MiB of RSS) and the heap grows far past what is live (the young generation to 2 x 16 MiB).
 * With the first two its peak RSS after 200 scrapes of 30 containers is 60 MiB instead of 83, for
 * ~25% more CPU per scrape; the baseline compiler (Sparkplug, its code pages), irregexp's native
 * code and the GC's helper threads take 1.5 MiB more (51.2 -> 49.6 after 200 requests with 5
 * containers; README, Performance). --jitless would take more but turns WebAssembly off, which
 * fetch's HTTP parser is (the alert webhooks). A V8 flag makes node reject the code cache of its
 * own modules (10-20 ms more to start): the short-lived commands get none (`pull` sets --no-opt
 * at run time: src/image/memory.ts).
 */
static const char *const MONITOR_V8_FLAGS[] = {
    "--optimize-for-size", "--no-opt", "--no-sparkplug", "--regexp-interpret-all", "--single-threaded-gc", NULL,
};

static const char *const *v8_flags(void) {
    int i = command_index();
    if (i < g_argc && !strcmp(g_argv[i], "monitor")) return MONITOR_V8_FLAGS;
    return NULL;
}

/*
 * glibc's malloc for `monitor`: no top pad. Its default (128 KiB kept at the top of the heap, and
 * a mmap threshold that rises to the largest block freed) left ~1.3 MiB of freed memory in the
 * monitor's heap, below a block still in use, in every run of a build (which blocks depends on
 * the order of node's allocations); MALLOC_TOP_PAD_=0 also fixes the threshold. -1.0 to -1.4 MiB
 * of peak RSS (README, Performance). Left as the user set it, if they did.
 */
static void monitor_malloc_env(void) {
    int i = command_index();
    if (i < g_argc && !strcmp(g_argv[i], "monitor")) setenv("MALLOC_TOP_PAD_", "0", 0);
}

/* node's entry: a CommonJS file (an .mjs would start node's ES module loader: ~1.5 MiB, ~4 ms) */
static char *polis_entry(void) {
    static char path[PATH_MAX + 64];
    char self[PATH_MAX];
    if (!realpath("/proc/self/exe", self)) return NULL;
    char *slash = strrchr(self, '/');
    if (!slash) return NULL;
    *slash = 0;
    /* dist/polis beside dist/polis-entry.cjs, or native/build/Release/polis in the package */
    snprintf(path, sizeof path, "%s/polis-entry.cjs", self);
    if (access(path, R_OK) == 0) return path;
    snprintf(path, sizeof path, "%s/../../../dist/polis-entry.cjs", self);
    if (access(path, R_OK) == 0) return path;
    return NULL;
}

_Noreturn void handoff(void) {
    /* a test hook (create.c lists them): a signal that arrives just before the hand-off */
    const char *stop = getenv("POLIS_CREATE_STOP_AT");
    if (stop && !strcmp(stop, "handoff")) unsetenv("POLIS_CREATE_STOP_AT"), raise(SIGSTOP);
    if (handoff_undo) handoff_undo(); /* run --image: its bundle, before node makes it again */
    store_close();
    if (handoff_signals) handoff_signals(); /* may end polis here, by a signal it caught */
    char *script = polis_entry();
    if (!script) {
        fprintf(stderr, "polis: cannot find dist/polis-entry.cjs beside the polis executable\n");
        exit(1);
    }
    apply_ca_certs_policy();
    monitor_malloc_env();
    warm_cgroup_lock(command_index() < g_argc ? g_argv[command_index()] : NULL, g_argv, g_argc);
    const char *const *flags = v8_flags();
    int nflags = 0;
    while (flags && flags[nflags]) nflags++;
    char **argv = calloc((size_t)g_argc + 2 + (size_t)nflags, sizeof *argv);
    if (!argv) exit(1);
    /* POLIS_NODE: another node (packagers; the differential tests point it at /bin/false to
     * prove that a call was done natively). */
    const char *node = getenv("POLIS_NODE");
    bool chosen = node && *node;
    if (!chosen) node = POLIS_NODE;
    signal(SIGPIPE, SIG_DFL); /* node sets its own; nothing else may inherit our SIG_IGN */
    int n = 0;
    argv[n++] = (char *)node;
    for (int f = 0; f < nflags; f++) argv[n++] = (char *)flags[f];
    argv[n++] = script;
    for (int i = 1; i < g_argc; i++) argv[n++] = g_argv[i];
    execv(node, argv);
    if (errno == ENOENT && !chosen) {
        argv[0] = "node";
        execvp("node", argv);
    }
    fprintf(stderr, "polis: exec %s: %s\n", node, strerror(errno));
    exit(1);
}

/* ---- failures ------------------------------------------------------------------------------ */

static bool logs_to_file(void) {
    return G.log_file && *G.log_file && strcmp(G.log_file, "/dev/stderr") != 0;
}

/* main.ts's report(): the log line, and when the log is a file the message on stderr too. */
static _Noreturn void vfail(const char *fmt, va_list ap) {
    char msg[8192];
    vsnprintf(msg, sizeof msg, fmt, ap);
    log_line("error", msg);
    if (logs_to_file()) {
        size_t n = strlen(msg);
        msg[n] = '\n';
        write_fd(2, msg, n + 1);
    }
    store_close();
    exit(1);
}

/* A failure node reports with this very text. */
_Noreturn void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(fmt, ap);
}

/* A surprise: node gets the whole call while nothing has changed yet, else report it. */
_Noreturn void die(const char *fmt, ...) {
    if (!side_effects) handoff();
    va_list ap;
    va_start(ap, fmt);
    vfail(fmt, ap);
}

void committed(void) { side_effects = true; }

/* ---- the command line (src/cli/argv.ts, for the commands done here) ------------------------ */

struct flag {
    const char *name, *alias;
    bool boolean;
    const char *value; /* strings: the value; booleans: non-NULL when true */
};

static bool is_flag_token(const char *t) { return t[0] == '-' && t[1] != 0; }

/* Go's strconv.ParseBool spellings; -1 when none. */
static int parse_bool(const char *v) {
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"}, *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (int i = 0; i < 6; i++) {
        if (!strcmp(v, t[i])) return 1;
        if (!strcmp(v, f[i])) return 0;
    }
    return -1;
}

/* splitFlag + lookup: the spec for token t, or NULL (not a flag of this table, or bad syntax). */
static struct flag *lookup(struct flag *specs, int n, const char *t, const char **value, char *name, size_t namelen) {
    if (!is_flag_token(t) || !strcmp(t, "--")) return NULL;
    const char *body = t[1] == '-' ? t + 2 : t + 1;
    if (!*body || *body == '-' || *body == '=') return NULL;
    const char *eq = strchr(body, '=');
    size_t len = eq ? (size_t)(eq - body) : strlen(body);
    if (len >= namelen) return NULL;
    memcpy(name, body, len);
    name[len] = 0;
    *value = eq ? eq + 1 : NULL;
    for (int i = 0; i < n; i++) {
        if (!strcmp(specs[i].name, name) || (specs[i].alias && !strcmp(specs[i].alias, name))) return &specs[i];
    }
    return NULL;
}

/* takeFlag: consume argv[*i] (and its value); anything node would call a usage error hands off. */
static void take_flag(struct flag *specs, int n, int *i) {
    const char *value;
    char name[128];
    struct flag *f = lookup(specs, n, g_argv[*i], &value, name, sizeof name);
    if (!f) handoff();
    if (f->boolean) {
        int b = value ? parse_bool(value) : 1;
        if (b < 0) handoff();
        f->value = b ? "" : NULL;
        return;
    }
    if (!value) {
        if (*i + 1 >= g_argc) handoff();
        value = g_argv[++*i];
    }
    f->value = value;
}

enum { F_DEBUG, F_LOG, F_LOG_FORMAT, F_ROOT, F_SYSTEMD, F_CONFIG, F_ROOTLESS, F_HELP, F_VERSION, NGLOBAL };

struct timespec g_started;

int main(int argc, char **argv) {
    clock_gettime(CLOCK_MONOTONIC, &g_started);
    g_argc = argc;
    g_argv = argv;
    /* As node: a reader that went away ends a write with EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    const char *native = getenv("POLIS_NATIVE");
    if ((native && !strcmp(native, "0")) || !POLIS_SCHEMA_OK) handoff();

    struct flag global[NGLOBAL] = {
        [F_DEBUG] = {"debug", NULL, true, NULL},       [F_LOG] = {"log", NULL, false, NULL},
        [F_LOG_FORMAT] = {"log-format", NULL, false, "text"}, [F_ROOT] = {"root", NULL, false, NULL},
        [F_SYSTEMD] = {"systemd-cgroup", NULL, true, NULL},
        [F_CONFIG] = {"config", NULL, false, NULL} /* read by the rooms, never by these commands */, [F_ROOTLESS] = {"rootless", NULL, false, "auto"},
        [F_HELP] = {"help", "h", true, NULL},         [F_VERSION] = {"version", "v", true, NULL},
    };
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) { i++; break; }
        if (!is_flag_token(argv[i])) break;
        take_flag(global, NGLOBAL, &i);
    }
    /* --debug prints node's own debug lines: node does those calls. */
    if (i >= argc || global[F_DEBUG].value || global[F_HELP].value || global[F_VERSION].value) handoff();
    const char *fmt = global[F_LOG_FORMAT].value, *rootless = global[F_ROOTLESS].value;
    if (strcmp(fmt, "text") && strcmp(fmt, "json")) handoff();
    /* --rootless true is node's error (not supported), for every command */
    if (strcmp(rootless, "false") && strcmp(rootless, "auto")) handoff();
    const char *log = global[F_LOG].value, *root = global[F_ROOT].value;
    /* Relative paths are resolved (and normalised) by node; a non-root caller's default too. */
    if (log && *log && log[0] != '/') handoff();
    if (root && *root && root[0] != '/') handoff();
    if (!root || !*root) {
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (geteuid() != 0 && xdg && *xdg) handoff();
        root = "/var/lib/polis";
    }
    G.root = root;
    G.log_file = log && *log ? log : NULL;
    G.log_json = !strcmp(fmt, "json");
    G.config = global[F_CONFIG].value;
    G.log_fd = 2;

    const char *cmd = argv[i++];
    enum { C_STATE, C_LIST, C_KILL, C_START, C_PAUSE, C_RESUME, C_DELETE, C_CREATE, C_RUN, C_OTHER } c = C_OTHER;
    static const char *const names[] = {"state", "list", "kill", "start", "pause", "resume", "delete", "create", "run"};
    for (int k = 0; k < 9; k++) if (!strcmp(cmd, names[k])) c = k;
    if (c == C_OTHER) handoff();

    /* parseCommand: this command's flags (also after the positionals), plus -h/--help */
    struct flag opts[14];
    int nopts = 0;
    /* create: runc's flags as argv.ts takes them; any other (--image, --network ...) is node's */
    enum { O_BUNDLE, O_CONSOLE, O_PID_FILE, O_NO_PIVOT, O_NO_KEYRING, O_PRESERVE, O_IMAGE, O_DETACH, O_KEEP, O_NO_SUBREAPER, O_RM };
    if (c == C_CREATE || c == C_RUN) {
        opts[nopts++] = (struct flag){"bundle", "b", false, NULL};
        opts[nopts++] = (struct flag){"console-socket", NULL, false, NULL};
        opts[nopts++] = (struct flag){"pid-file", NULL, false, NULL};
        opts[nopts++] = (struct flag){"no-pivot", NULL, true, NULL};
        opts[nopts++] = (struct flag){"no-new-keyring", NULL, true, NULL};
        opts[nopts++] = (struct flag){"preserve-fds", NULL, false, NULL};
        opts[nopts++] = (struct flag){"image", NULL, false, NULL}; /* run_image.c: the images room's flag */
    }
    if (c == C_RUN) {
        opts[nopts++] = (struct flag){"detach", "d", true, NULL};
        opts[nopts++] = (struct flag){"keep", NULL, true, NULL};
        opts[nopts++] = (struct flag){"no-subreaper", NULL, true, NULL};
        opts[nopts++] = (struct flag){"rm", NULL, true, NULL}; /* a foreground run's own delete */
    }
    if (c == C_KILL) opts[nopts++] = (struct flag){"all", "a", true, NULL};
    if (c == C_DELETE) opts[nopts++] = (struct flag){"force", "f", true, NULL};
    if (c == C_LIST) {
        opts[nopts++] = (struct flag){"format", "f", false, "table"};
        opts[nopts++] = (struct flag){"quiet", "q", true, NULL};
    }
    opts[nopts++] = (struct flag){"help", "h", true, NULL};
    char **args = calloc((size_t)argc, sizeof *args);
    int nargs = 0, before_dashes = -1; /* positionals before `--` */
    if (!args) handoff();
    for (; i < argc; i++) {
        const char *t = argv[i];
        if (!strcmp(t, "--")) {
            before_dashes = nargs;
            while (++i < argc) args[nargs++] = argv[i];
            break;
        }
        const char *v;
        char name[128];
        bool allowed = nargs == 0 || lookup(opts, nopts, t, &v, name, sizeof name) != NULL;
        if (!allowed || !is_flag_token(t)) {
            args[nargs++] = argv[i];
            continue;
        }
        take_flag(opts, nopts, &i);
    }
    if (opts[nopts - 1].value) handoff(); /* --help */
    bool with_image = (c == C_RUN || c == C_CREATE) && opts[O_IMAGE].value;
    if (with_image || (c == C_RUN && opts[O_RM].value)) {
        /*
         * create|run --image of a plain name (run_image.c); --rm is a foreground run's own
         * delete (with -d it asks for a monitor: node's). Anything else with them is node's:
         * --bundle, --rm with -d or --keep, an empty image, and a flag token among the arguments
         * before `--` (node's table has flags this one does not: it would take them as flags,
         * this one as arguments).
         */
        const char *image = opts[O_IMAGE].value;
        bool rm = c == C_RUN && opts[O_RM].value;
        if (!image || !*image || opts[O_BUNDLE].value || nargs < 1) handoff();
        if (rm && (opts[O_DETACH].value || opts[O_KEEP].value)) handoff();
        for (int k = 1; k < (before_dashes < 0 ? nargs : before_dashes); k++)
            if (is_flag_token(args[k])) handoff();
    }
    int min = c == C_LIST ? 0 : 1, max = c == C_LIST ? 0 : c == C_KILL ? 2 : with_image ? argc : 1;
    if (nargs < min || nargs > max) handoff(); /* "Incorrect Usage": node prints it */

    /*
     * log.ts opens (creates) the --log file before the command runs, whatever it then writes;
     * O_APPEND, as containerd and the shim share it. A file it cannot open is node's error.
     */
    if (logs_to_file()) {
        G.log_fd = open(G.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (G.log_fd < 0) handoff();
    }

    switch (c) {
    case C_STATE: return cmd_state(nargs, args);
    case C_LIST: return cmd_list(opts[0].value, opts[1].value != NULL);
    case C_KILL: return cmd_kill(args[0], nargs > 1 ? args[1] : NULL, opts[0].value != NULL);
    case C_START: return cmd_start(args[0]);
    case C_PAUSE: return cmd_pause(args[0], true);
    case C_RESUME: return cmd_pause(args[0], false);
    case C_DELETE: return cmd_delete(args[0], opts[0].value != NULL);
    case C_CREATE:
    case C_RUN: {
        const char *pid_file = opts[O_PID_FILE].value;
        struct create_opts o = {
            .id = args[0],
            .bundle = opts[O_BUNDLE].value,
            .pid_file = pid_file && *pid_file ? pid_file : NULL,
            .no_pivot = opts[O_NO_PIVOT].value != NULL,
            .no_new_keyring = opts[O_NO_KEYRING].value != NULL,
            .console_socket = opts[O_CONSOLE].value,
            .preserve_fds = opts[O_PRESERVE].value,
            .systemd_cgroup = global[F_SYSTEMD].value != NULL,
        };
        if (with_image) {
            enum image_run how = c == C_CREATE ? IMAGE_CREATE : opts[O_DETACH].value ? IMAGE_DETACH : opts[O_KEEP].value ? IMAGE_KEEP : IMAGE_FOREGROUND;
            return cmd_run_image(&o, how, opts[O_IMAGE].value, args + 1, nargs - 1);
        }
        if (c == C_RUN) return cmd_run(&o, opts[O_DETACH].value != NULL, opts[O_KEEP].value != NULL);
        return cmd_create(&o);
    }
    default: handoff();
    }
}

/*
 * The new container's cgroup for the native `create`, as node makes it: the host layout
 * (src/cgroups/layout.ts), linux.cgroupsPath to one directory per hierarchy (paths.ts), the
 * directories (manager.ts create(), cpuset filled from the parent), and the v1 devices rules
 * written as the difference to devices.list (v1/devices.ts, v1/device-rules.ts). Everything that
 * is not this host's plain case (pure cgroup v2, an existing cgroup, odd paths or rules) is found
 * before the first change and handed to node.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launcher.h"
#include "create.h"

/* ---- paths --------------------------------------------------------------------------------- */

/* path.resolve(base, p) for an absolute base: joined, `.`, `..` and empty parts gone, no trailing '/'. */
char *path_resolve(const char *base, const char *p) {
    struct buf in = {0}, out = {0};
    if (p[0] != '/') {
        buf_str(&in, base);
        buf_str(&in, "/");
    }
    buf_str(&in, p);
    char *save = NULL;
    size_t *marks = calloc(in.len + 1, sizeof *marks);
    int depth = 0;
    buf_str(&out, "");
    for (char *part = strtok_r(in.p, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (!strcmp(part, ".")) continue;
        if (!strcmp(part, "..")) {
            if (depth > 0) {
                out.len = marks[--depth];
                out.p[out.len] = 0;
            }
            continue;
        }
        marks[depth++] = out.len;
        buf_str(&out, "/");
        buf_str(&out, part);
    }
    if (!out.len) buf_str(&out, "/");
    free(marks);
    free(in.p);
    return out.p;
}

static char *dir_of(const char *p) {
    char *d = strdup(p);
    char *slash = strrchr(d, '/');
    if (slash == d) d[1] = 0;
    else if (slash) *slash = 0;
    return d;
}

static bool exists_at(const char *dir, const char *file) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

/* ---- the host layout ------------------------------------------------------------------------ */

static char *read_text(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct buf b = {0};
    char chunk[8192];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) buf_add(&b, chunk, (size_t)n);
    close(fd);
    if (n < 0) {
        free(b.p);
        return NULL;
    }
    if (!b.p) buf_str(&b, "");
    return b.p;
}

static const char *const KNOWN[] = {"cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls",
                                    "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc", "debug", NULL};

struct hierarchy {
    char *controllers[16];
    int ncontrollers;
    char *mountpoint, *root, *own;
};

struct own_cgroups {
    char *name[64], *path[64];
    int n;
    char *v2;
};

static const char *own_of(const struct own_cgroups *o, const char *controller) {
    for (int i = 0; i < o->n; i++) if (!strcmp(o->name[i], controller)) return o->path[i];
    return NULL;
}

static bool is_controller(const char *opt, const struct own_cgroups *o) {
    for (const char *const *k = KNOWN; *k; k++) if (!strcmp(*k, opt)) return true;
    return !strncmp(opt, "name=", 5) || own_of(o, opt) != NULL;
}

/* relativeToRoot: our own cgroup as seen below the mount. */
static const char *relative_to_root(const char *own, const char *root) {
    if (!strcmp(root, "/") || !*root) return own;
    if (!strcmp(own, root)) return "/";
    size_t n = strlen(root);
    if (!strncmp(own, root, n) && own[n] == '/') return own + n;
    return own;
}

static int by_string(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The sorted "a,b" key of a hierarchy, to drop a second mount of the same one. */
static void sorted_key(const struct hierarchy *h, char *out, size_t len) {
    char *copy[16];
    memcpy(copy, h->controllers, sizeof copy);
    qsort(copy, (size_t)h->ncontrollers, sizeof *copy, by_string);
    out[0] = 0;
    for (int i = 0; i < h->ncontrollers; i++) {
        if (i) strncat(out, ",", len - strlen(out) - 1);
        strncat(out, copy[i], len - strlen(out) - 1);
    }
}

/*
 * resolvePaths(hostLayout(), {cgroupsPath, id}) for a hybrid or v1 host; false when node must
 * decide (its errors, pure v2, escapes in mountinfo, a path that is not already clean).
 */
bool cg_plan_resolve(const char *cgroups_path, const char *id, struct cg_plan *out) {
    memset(out, 0, sizeof *out);
    char *self = read_text("/proc/self/cgroup"), *mountinfo = read_text("/proc/self/mountinfo");
    if (!self || !mountinfo) return false;
    struct own_cgroups own = {0};
    for (char *save = NULL, *line = strtok_r(self, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c1 || !c2 || c1 == line) continue;
        for (char *p = line; p < c1; p++) if (*p < '0' || *p > '9') goto next;
        *c1 = *c2 = 0;
        if (!strcmp(line, "0") && !*(c1 + 1)) {
            own.v2 = c2 + 1;
        } else {
            for (char *s2 = NULL, *c = strtok_r(c1 + 1, ",", &s2); c; c = strtok_r(NULL, ",", &s2)) {
                if (own.n == 64) return false;
                /* a later line for the same controller wins, as Map.set */
                const char *seen = own_of(&own, c);
                if (seen) {
                    for (int i = 0; i < own.n; i++) if (!strcmp(own.name[i], c)) own.path[i] = c2 + 1;
                    continue;
                }
                own.name[own.n] = c;
                own.path[own.n++] = c2 + 1;
            }
        }
    next:;
    }

    struct hierarchy v1[MAX_CGROUPS], unified = {0};
    bool have_unified = false;
    int nv1 = 0;
    char seen[MAX_CGROUPS][256];
    for (char *save = NULL, *line = strtok_r(mountinfo, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[64];
        int nf = 0;
        for (char *p = line; nf < 64;) {
            f[nf++] = p;
            char *sp = strchr(p, ' ');
            if (!sp) break;
            *sp = 0;
            p = sp + 1;
        }
        int dash = -1;
        for (int i = 0; i < nf; i++) if (!strcmp(f[i], "-")) { dash = i; break; }
        if (dash < 6 || nf < dash + 4) continue;
        const char *fstype = f[dash + 1];
        bool v2 = !strcmp(fstype, "cgroup2");
        if (!v2 && strcmp(fstype, "cgroup")) continue;
        if (strchr(f[3], '\\') || strchr(f[4], '\\')) return false; /* octal escapes: node */
        if (v2) {
            if (!have_unified) unified = (struct hierarchy){.mountpoint = f[4], .root = f[3], .own = own.v2 ? own.v2 : "/"};
            have_unified = true;
            continue;
        }
        struct hierarchy h = {.mountpoint = f[4], .root = f[3]};
        for (char *s2 = NULL, *o = strtok_r(f[dash + 3], ",", &s2); o; o = strtok_r(NULL, ",", &s2)) {
            if (!is_controller(o, &own)) continue;
            if (h.ncontrollers == 16) return false;
            h.controllers[h.ncontrollers++] = o;
        }
        if (!h.ncontrollers) continue;
        char key[256];
        sorted_key(&h, key, sizeof key);
        bool dup = false;
        for (int i = 0; i < nv1; i++) dup |= !strcmp(seen[i], key);
        if (dup) continue;
        if (nv1 == MAX_CGROUPS) return false;
        snprintf(seen[nv1], sizeof seen[nv1], "%s", key);
        const char *mine = own_of(&own, h.controllers[0]);
        h.own = (char *)(mine ? mine : "/");
        v1[nv1++] = h;
    }
    bool real_v1 = false;
    for (int i = 0; i < nv1; i++)
        for (int j = 0; j < v1[i].ncontrollers; j++) real_v1 |= strncmp(v1[i].controllers[j], "name=", 5) != 0;
    /* pure cgroup v2 enables controllers up the tree and puts devices in eBPF: node's */
    if (!real_v1) return false;

    /* the cgroupsPath checks of paths.ts, leaving every error (and any unclean path) to node */
    const char *inner = cgroups_path && *cgroups_path ? cgroups_path : id;
    if (strchr(inner, ':')) return false;
    {
        char *clean = path_resolve("/", inner);
        bool same = inner[0] == '/' ? !strcmp(clean, inner) : !strcmp(clean + 1, inner);
        free(clean);
        if (!same || !strcmp(inner, "/")) return false;
    }

    int n = 0;
    for (int i = 0; i < nv1 + (have_unified ? 1 : 0); i++) {
        const struct hierarchy *h = i < nv1 ? &v1[i] : &unified;
        struct buf p = {0};
        buf_str(&p, h->mountpoint);
        if (inner[0] != '/') {
            buf_str(&p, "/");
            buf_str(&p, relative_to_root(h->own, h->root));
        }
        buf_str(&p, "/");
        buf_str(&p, inner);
        char *dir = path_resolve("/", p.p);
        free(p.p);
        if (i < nv1) {
            for (int j = 0; j < h->ncontrollers; j++) {
                if (n == MAX_CGROUPS) return false;
                out->key[n] = strdup(h->controllers[j]);
                out->dir[n++] = dir;
            }
        } else {
            if (n == MAX_CGROUPS) return false;
            out->key[n] = "unified";
            out->dir[n++] = dir;
        }
        /* ownProcsFiles(layout): the first is where the early shim keeps the cgroup lock warm */
        struct buf w = {0};
        buf_str(&w, h->mountpoint);
        buf_str(&w, "/");
        buf_str(&w, relative_to_root(h->own, h->root));
        buf_str(&w, "/cgroup.procs");
        out->owns[out->nowns++] = path_resolve("/", w.p);
        free(w.p);
        if (i == 0) out->warm = out->owns[0];
    }
    out->n = n;
    for (int i = 0; i < n; i++) {
        bool dup = false;
        for (int j = 0; j < out->ndirs; j++) dup |= !strcmp(out->dirs[j], out->dir[i]);
        if (!dup) out->dirs[out->ndirs++] = out->dir[i];
        if (!strcmp(out->key[i], "cpuset")) out->cpuset_dir = out->dir[i];
        if (!strcmp(out->key[i], "devices")) out->devices_dir = out->dir[i];
    }
    return n > 0;
}

/* The recorded cgroup_paths: JSON.stringify(cgroup.paths). */
char *cg_plan_json(const struct cg_plan *cg) {
    struct buf b = {0};
    buf_str(&b, "{");
    for (int i = 0; i < cg->n; i++) {
        if (i) buf_str(&b, ",");
        buf_json_string(&b, cg->key[i]);
        buf_str(&b, ":");
        buf_json_string(&b, cg->dir[i]);
    }
    buf_str(&b, "}");
    return b.p;
}

/* ---- making the directories ------------------------------------------------------------------ */

static bool read_trimmed(const char *dir, const char *file, char *out, size_t len) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, out, len - 1);
    close(fd);
    if (n < 0) return false;
    out[n] = 0;
    char *s = out;
    while (*s == ' ' || *s == '\n' || *s == '\t') s++;
    memmove(out, s, strlen(s) + 1);
    size_t m = strlen(out);
    while (m && (out[m - 1] == ' ' || out[m - 1] == '\n' || out[m - 1] == '\t')) out[--m] = 0;
    return true;
}

/* writeFileSync(<dir>/<file>, value): false on failure. */
static bool write_at(const char *dir, const char *file, const char *value) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return false;
    ssize_t w = write(fd, value, strlen(value));
    close(fd);
    return w == (ssize_t)strlen(value);
}

/* cpusetFile: cpuset.<what>, or plain <what> on a noprefix mount; NULL when neither. */
static const char *cpuset_file(const char *dir, const char *what, char *out, size_t len) {
    snprintf(out, len, "cpuset.%s", what);
    if (exists_at(dir, out)) return out;
    if (exists_at(dir, what) && exists_at(dir, "cgroup.procs")) return what;
    return NULL;
}

/* fillCpuset: each level below the hierarchy's root gets its parent's cpus and mems when empty. */
static bool fill_cpuset(const char *dir) {
    char *chain[128];
    int n = 0;
    for (char *d = strdup(dir);; ) {
        if (n == 128) return false;
        chain[n++] = d;
        char *parent = dir_of(d), tmp[64];
        if (!strcmp(parent, d) || !cpuset_file(parent, "cpus", tmp, sizeof tmp)) {
            free(parent);
            break;
        }
        d = parent;
    }
    /* chain runs from dir upwards: walk it top-down */
    for (int i = n - 2; i >= 0; i--) {
        static const char *const what[] = {"cpus", "mems"};
        for (int w = 0; w < 2; w++) {
            char f[64], pf[64], value[4096], parent_value[4096];
            const char *file = cpuset_file(chain[i], what[w], f, sizeof f), *pfile = cpuset_file(chain[i + 1], what[w], pf, sizeof pf);
            if (!file || !pfile) continue;
            if (!read_trimmed(chain[i], file, value, sizeof value)) return false;
            if (*value) continue;
            if (!read_trimmed(chain[i + 1], pfile, parent_value, sizeof parent_value)) return false;
            if (!write_at(chain[i], file, parent_value)) return false;
        }
    }
    return true;
}

/* Does any of the container's cgroup directories exist already? (then node: shared cgroups, frozen ones) */
bool cg_plan_any_exists(const struct cg_plan *cg) {
    for (int i = 0; i < cg->ndirs; i++) if (access(cg->dirs[i], F_OK) == 0 || errno != ENOENT) return true;
    return false;
}

/* cgroup.create(): mkdir -p each directory (cpuset levels filled). False on any failure. */
bool cg_plan_create(const struct cg_plan *cg, char *why, size_t whylen) {
    for (int i = 0; i < cg->ndirs; i++) {
        char *missing[128];
        int n = 0;
        for (char *d = strdup(cg->dirs[i]); access(d, F_OK) != 0;) {
            char *up = dir_of(d);
            if (!strcmp(up, d) || n == 128) break;
            missing[n++] = d;
            d = up;
        }
        for (int j = n - 1; j >= 0; j--) {
            if (mkdir(missing[j], 0777) < 0 && errno != EEXIST) {
                snprintf(why, whylen, "create cgroup %s: %s", missing[j], errno_name(errno));
                return false;
            }
        }
        if (cg->cpuset_dir && !strcmp(cg->cpuset_dir, cg->dirs[i]) && !fill_cpuset(cg->dirs[i])) {
            snprintf(why, whylen, "fill cpuset of %s", cg->dirs[i]);
            return false;
        }
    }
    return true;
}

/*
 * Undo: SIGKILL whatever is in the container's (new) directories, then rmdir them, retrying
 * EBUSY for a second as destroy() does. Best effort: this runs before the hand-off to node.
 */
void cg_plan_remove(const struct cg_plan *cg) {
    struct record rec = {0};
    rec.ncg = cg->n;
    for (int i = 0; i < cg->n; i++) rec.cg_key[i] = cg->key[i], rec.cg_dir[i] = cg->dir[i];
    for (int round = 0; round < 100; round++) {
        int left = 0;
        for (int i = 0; i < cg->ndirs; i++) {
            char p[4096], line[64];
            snprintf(p, sizeof p, "%s/cgroup.procs", cg->dirs[i]);
            FILE *f = fopen(p, "re");
            if (!f) continue;
            while (fgets(line, sizeof line, f)) {
                long pid = strtol(line, NULL, 10);
                if (pid > 0) kill((pid_t)pid, SIGKILL), left++;
            }
            fclose(f);
        }
        if (!left) break;
        sleep_ms(5);
    }
    char why[4096];
    cg_destroy(&rec, why, sizeof why);
}

/* ---- v1 devices: the rule set of device-rules.ts ---------------------------------------------- */

#define ANY (-1)
enum { A_R = 1, A_W = 2, A_M = 4 };

struct exception { char type; long major, minor; int access; };
struct rule_set { bool default_allow; int n; struct exception e[256]; };

static int access_bits(const char *s) {
    int a = 0;
    for (; *s; s++) a |= *s == 'r' ? A_R : *s == 'w' ? A_W : *s == 'm' ? A_M : 0;
    return a;
}

static void access_text(int a, char *out) {
    int n = 0;
    if (a & A_R) out[n++] = 'r';
    if (a & A_W) out[n++] = 'w';
    if (a & A_M) out[n++] = 'm';
    out[n] = 0;
}

static struct exception *find(struct rule_set *s, char type, long major, long minor) {
    for (int i = 0; i < s->n; i++)
        if (s->e[i].type == type && s->e[i].major == major && s->e[i].minor == minor) return &s->e[i];
    return NULL;
}

static void drop(struct rule_set *s, struct exception *e) {
    int i = (int)(e - s->e);
    memmove(&s->e[i], &s->e[i + 1], sizeof *e * (size_t)(s->n - i - 1));
    s->n--;
}

/* applyRule: false where node throws (a hole in a wildcard, too many exceptions). */
static bool apply_rule(struct rule_set *s, bool allow, char type, long major, long minor, int access) {
    if (type == 'a') {
        s->default_allow = allow;
        s->n = 0;
        return true;
    }
    struct exception *old = find(s, type, major, minor);
    if (allow != s->default_allow) {
        if (old) old->access |= access;
        else if (s->n == 256) return false;
        else s->e[s->n++] = (struct exception){type, major, minor, access};
        return true;
    }
    long wider[3][2] = {{ANY, minor}, {major, ANY}, {ANY, ANY}};
    for (int i = 0; i < 3; i++) {
        if (wider[i][0] == major && wider[i][1] == minor) continue;
        struct exception *w = find(s, type, wider[i][0], wider[i][1]);
        if (w && (w->access & access)) return false;
    }
    if (old) {
        old->access &= ~access;
        if (!old->access) drop(s, old);
    }
    return true;
}

/* A devices.list line ("c 1:3 rwm", "a *:* rwm"); false when it is not one. */
static bool parse_line(const char *line, char *type, long *major, long *minor, int *access) {
    char t, ma[32], mi[32], acc[8];
    if (sscanf(line, "%c %31[0-9*]:%31[0-9*] %7[rwm]", &t, ma, mi, acc) != 4 || (t != 'a' && t != 'b' && t != 'c')) return false;
    char check[128];
    snprintf(check, sizeof check, "%c %s:%s %s", t, ma, mi, acc);
    if (strcmp(check, line)) return false;
    *type = t;
    *major = !strcmp(ma, "*") ? ANY : strtol(ma, NULL, 10);
    *minor = !strcmp(mi, "*") ? ANY : strtol(mi, NULL, 10);
    *access = access_bits(acc);
    return true;
}

static bool parse_devices_list(const char *dir, struct rule_set *s) {
    char text[65536];
    if (!read_trimmed(dir, "devices.list", text, sizeof text)) return false;
    s->default_allow = false;
    s->n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t') line++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r')) line[--n] = 0;
        if (!*line) continue;
        char type;
        long major, minor;
        int access;
        if (!parse_line(line, &type, &major, &minor, &access) || !apply_rule(s, true, type, major, minor, access)) return false;
    }
    return true;
}

static int by_device(const void *a, const void *b) {
    const struct exception *x = a, *y = b;
    if (x->major != y->major) return x->major < y->major ? -1 : 1;
    if (x->minor != y->minor) return x->minor < y->minor ? -1 : 1;
    return (x->type > y->type) - (x->type < y->type);
}

static void line_of(const struct exception *e, int access, char *out, size_t len) {
    char ma[24], mi[24], acc[4];
    if (e->major == ANY) snprintf(ma, sizeof ma, "*");
    else snprintf(ma, sizeof ma, "%ld", e->major);
    if (e->minor == ANY) snprintf(mi, sizeof mi, "*");
    else snprintf(mi, sizeof mi, "%ld", e->minor);
    access_text(access, acc);
    snprintf(out, len, "%c %s:%s %s", e->type, ma, mi, acc);
}

static bool matches(struct rule_set *actual, struct rule_set *want) {
    if (actual->default_allow != want->default_allow) return false;
    if (want->default_allow) return true;
    if (actual->n != want->n) return false;
    for (int i = 0; i < want->n; i++) {
        struct exception *e = find(actual, want->e[i].type, want->e[i].major, want->e[i].minor);
        if (!e || e->access != want->e[i].access) return false;
    }
    return true;
}

/* transition(from, to) written out, then read back: applyDevicesV1. */
static bool write_transition(const char *dir, struct rule_set *from, struct rule_set *to, char *why, size_t whylen) {
    const char *to_default = to->default_allow ? "devices.allow" : "devices.deny";
    const char *against = to->default_allow ? "devices.deny" : "devices.allow";
    struct rule_set old = *from;
    char line[96];
    if (from->default_allow || from->default_allow != to->default_allow) {
        if (!write_at(dir, to_default, "a *:* rwm")) goto failed;
        old.n = 0;
    }
    qsort(old.e, (size_t)old.n, sizeof *old.e, by_device);
    for (int i = 0; i < old.n; i++) {
        struct exception *t = find(to, old.e[i].type, old.e[i].major, old.e[i].minor);
        int dropped = old.e[i].access & ~(t ? t->access : 0);
        if (!dropped) continue;
        line_of(&old.e[i], dropped, line, sizeof line);
        if (!write_at(dir, to_default, line)) goto failed;
    }
    struct rule_set sorted = *to;
    qsort(sorted.e, (size_t)sorted.n, sizeof *sorted.e, by_device);
    for (int i = 0; i < sorted.n; i++) {
        struct exception *o = find(&old, sorted.e[i].type, sorted.e[i].major, sorted.e[i].minor);
        int gained = sorted.e[i].access & ~(o ? o->access : 0);
        if (!gained) continue;
        line_of(&sorted.e[i], gained, line, sizeof line);
        if (!write_at(dir, against, line)) goto failed;
    }
    return true;
failed:
    snprintf(why, whylen, "linux.resources.devices: write to %s: %s", dir, errno_name(errno));
    return false;
}

struct rules_ctx { struct rule_set *set; bool ok; int count; };

static bool add_config_rule(void *ctx, const char *key, const char *type, const char *value) {
    (void)key;
    struct rules_ctx *c = ctx;
    c->count++;
    if (strcmp(type, "object")) return c->ok = false;
    char *t = NULL, *acc = NULL, *allow_text = NULL;
    const char *allow = store_json(value, "$.allow", &allow_text);
    const char *tt = store_json(value, "$.type", &t);
    const char *at = store_json(value, "$.access", &acc);
    long num[2];
    static const char *const which[] = {"$.major", "$.minor"};
    for (int i = 0; i < 2; i++) {
        char *v = NULL;
        const char *vt = store_json(value, which[i], &v);
        if (!vt || !strcmp(vt, "null")) num[i] = ANY;
        else if (!strcmp(vt, "integer") && strtol(v, NULL, 10) >= -1) num[i] = strtol(v, NULL, 10);
        else c->ok = false;
        free(v);
    }
    bool allowed = allow && !strcmp(allow, "true");
    if (!allow || (strcmp(allow, "true") && strcmp(allow, "false"))) c->ok = false;
    char type_char = 'a';
    if (tt) {
        if (strcmp(tt, "text") || strlen(t) != 1 || !strchr("abc", t[0])) c->ok = false;
        else type_char = t[0];
    }
    int access = A_R | A_W | A_M;
    if (at) {
        if (strcmp(at, "text") || strlen(acc) > 3 || strspn(acc, "rwm") != strlen(acc)) c->ok = false;
        else {
            for (const char *p = acc; *p; p++) if (strchr(p + 1, *p)) c->ok = false;
            if (*acc) access = access_bits(acc);
        }
    }
    /* known keys only: anything else is the schema's business (node) */
    free(t), free(acc), free(allow_text);
    if (c->ok && !apply_rule(c->set, allowed, type_char, num[0], num[1], access)) c->ok = false;
    return c->ok;
}

static bool object_keys_in(void *ctx, const char *key, const char *type, const char *value) {
    (void)type, (void)value;
    bool *ok = ctx;
    static const char *const allowed[] = {"allow", "type", "major", "minor", "access", NULL};
    bool known = false;
    for (const char *const *a = allowed; *a; a++) known |= !strcmp(*a, key);
    if (!known) *ok = false;
    return *ok;
}

static bool check_rule_keys(void *ctx, const char *key, const char *type, const char *value) {
    (void)key;
    bool *ok = ctx;
    if (strcmp(type, "object")) return *ok = false;
    store_json_each(value, "$", object_keys_in, ok);
    return *ok;
}

/*
 * effectiveResources(spec).devices as a rule set: config.json's rules (none: deny all), then
 * runc's always-allowed devices. False when node must decide (its errors and warnings).
 */
bool cg_devices_want(const char *config, struct devices_want *out) {
    static struct rule_set set;
    memset(&set, 0, sizeof set);
    const char *t = store_json(config, "$.linux.resources.devices", NULL);
    struct rules_ctx c = {&set, true, 0};
    if (t && strcmp(t, "array")) return false;
    if (t) {
        bool ok = true;
        store_json_each(config, "$.linux.resources.devices", check_rule_keys, &ok);
        if (!ok) return false;
        store_json_each(config, "$.linux.resources.devices", add_config_rule, &c);
        if (!c.ok) return false;
    }
    if (c.count == 0) apply_rule(&set, false, 'a', ANY, ANY, A_R | A_W | A_M);
    static const struct { char type; long major, minor; int access; } ALWAYS[] = {
        {'c', ANY, ANY, A_M}, {'b', ANY, ANY, A_M}, {'c', 1, 3, 7},   {'c', 1, 8, 7},   {'c', 1, 7, 7},   {'c', 5, 0, 7},
        {'c', 1, 5, 7},       {'c', 1, 9, 7},       {'c', 136, ANY, 7}, {'c', 5, 2, 7}, {'c', 10, 200, 7},
    };
    for (size_t i = 0; i < sizeof ALWAYS / sizeof ALWAYS[0]; i++)
        if (!apply_rule(&set, true, ALWAYS[i].type, ALWAYS[i].major, ALWAYS[i].minor, ALWAYS[i].access)) return false;
    out->set = &set;
    return true;
}

/* applyDevicesV1: up to three rounds of read-diff-write-read (a concurrent create may reset it). */
bool cg_devices_apply(const char *dir, const struct devices_want *want, char *why, size_t whylen) {
    static struct rule_set now;
    for (int round = 0; round < 3; round++) {
        if (!parse_devices_list(dir, &now)) {
            snprintf(why, whylen, "read %s/devices.list", dir);
            return false;
        }
        if (!write_transition(dir, &now, want->set, why, whylen)) return false;
        if (!parse_devices_list(dir, &now)) {
            snprintf(why, whylen, "read %s/devices.list", dir);
            return false;
        }
        if (matches(&now, want->set)) return true;
    }
    snprintf(why, whylen, "%s/devices.list does not hold the requested rules", dir);
    return false;
}

/* ---- cpu.shares and pids.limit: what containerd's and CRI's specs add (v1/cpu.ts, v1/pids.ts) -- */

static bool only_key(void *ctx, const char *key, const char *type, const char *value) {
    (void)value;
    const char **want = ctx;
    if (strcmp(key, want[0]) || strcmp(type, "integer")) want[1] = NULL;
    return want[1] != NULL;
}

/* {"<key>": <integer>} and nothing else: the value, or false. */
static bool single_integer(const char *config, const char *path, const char *key, long long *out) {
    const char *t = store_json(config, path, NULL);
    if (!t) return false;
    if (strcmp(t, "object")) return false;
    const char *want[2] = {key, "ok"};
    store_json_each(config, path, only_key, want);
    if (!want[1]) return false;
    char full[128], *v = NULL;
    snprintf(full, sizeof full, "%s.%s", path, key);
    if (!store_json(config, full, &v)) return false;
    *out = strtoll(v, NULL, 10);
    free(v);
    return true;
}

static bool known_resource(void *ctx, const char *key, const char *type, const char *value) {
    (void)type, (void)value;
    bool *ok = ctx;
    if (strcmp(key, "devices") && strcmp(key, "cpu") && strcmp(key, "pids") && strcmp(key, "memory")) *ok = false;
    return *ok;
}

/* memory: {limit, swap} integers only */
static bool memory_member(void *ctx, const char *key, const char *type, const char *value) {
    struct resources_want *w = ctx;
    if ((strcmp(key, "limit") && strcmp(key, "swap")) || strcmp(type, "integer")) return w->memory_ok = false;
    long long v = strtoll(value, NULL, 10);
    if (!strcmp(key, "limit")) w->memory_limit = v;
    else w->memory_swap = v;
    return true;
}

/* Does this host's memory hierarchy have swap accounting (memory.memsw.*)? From the nearest
 * existing ancestor of the container's memory cgroup: every memory cgroup has it or none. */
static bool has_memsw(const char *dir) {
    char *d = strdup(dir);
    while (access(d, F_OK) != 0) {
        char *up = dir_of(d);
        bool top = !strcmp(up, d);
        free(d);
        d = up;
        if (top) break;
    }
    bool yes = exists_at(d, "memory.memsw.limit_in_bytes");
    free(d);
    return yes;
}

/*
 * linux.resources of only devices, cpu {shares} and pids {limit}; false for anything else (node).
 * shares/limit 0 means "not set" for both.
 */
bool cg_resources_want(const char *config, const struct cg_plan *cg, struct resources_want *out) {
    memset(out, 0, sizeof out[0]);
    const char *t = store_json(config, "$.linux.resources", NULL);
    if (!t) return true;
    if (strcmp(t, "object")) return false;
    bool ok = true;
    store_json_each(config, "$.linux.resources", known_resource, &ok);
    if (!ok) return false;
    long long n = 0;
    if (store_json(config, "$.linux.resources.cpu", NULL)) {
        if (!single_integer(config, "$.linux.resources.cpu", "shares", &n) || n < 0) return false;
        out->cpu_shares = n;
        if (n && !cg_dir_of(cg, "cpu")) return false;
    }
    if (store_json(config, "$.linux.resources.memory", NULL)) {
        const char *t2 = store_json(config, "$.linux.resources.memory", NULL);
        if (strcmp(t2, "object")) return false;
        out->memory_ok = true;
        store_json_each(config, "$.linux.resources.memory", memory_member, out);
        if (!out->memory_ok) return false;
        const char *dir = cg_dir_of(cg, "memory");
        long long limit = out->memory_limit, swap = out->memory_swap;
        if ((limit || swap) && !dir) return false;
        /* applyMemoryV1's checks, all node's errors */
        bool memsw = dir && has_memsw(dir);
        if (limit == -1 && swap == 0 && memsw) out->memory_swap = swap = -1;
        if (swap != 0 && !memsw) return false;
        if (limit > 0 && swap > 0 && swap < limit) return false;
    }
    if (store_json(config, "$.linux.resources.pids", NULL)) {
        if (!single_integer(config, "$.linux.resources.pids", "limit", &n)) return false;
        out->pids_limit = n;
        if (n && !cg_dir_of(cg, "pids")) return false;
    }
    return true;
}

const char *cg_dir_of(const struct cg_plan *cg, const char *key) {
    for (int i = 0; i < cg->n; i++) if (!strcmp(cg->key[i], key)) return cg->dir[i];
    return NULL;
}

/* applyCpuV1 (shares, read back: the kernel clamps silently) then applyPids. */
bool cg_resources_apply(const struct cg_plan *cg, const struct resources_want *want, char *why, size_t whylen) {
    char value[64], got[64], swap[64];
    const char *mem = cg_dir_of(cg, "memory");
    snprintf(value, sizeof value, "%lld", want->memory_limit);
    snprintf(swap, sizeof swap, "%lld", want->memory_swap);
    bool mem_ok = true;
    if (want->memory_limit && want->memory_swap) {
        /* the kernel insists limit <= memsw at every moment: raise memsw first when it grows */
        mem_ok = read_trimmed(mem, "memory.memsw.limit_in_bytes", got, sizeof got);
        if (mem_ok && (want->memory_swap == -1 || strtoll(got, NULL, 10) < want->memory_swap))
            mem_ok = write_at(mem, "memory.memsw.limit_in_bytes", swap) && write_at(mem, "memory.limit_in_bytes", value);
        else if (mem_ok)
            mem_ok = write_at(mem, "memory.limit_in_bytes", value) && write_at(mem, "memory.memsw.limit_in_bytes", swap);
    } else if (want->memory_limit) {
        mem_ok = write_at(mem, "memory.limit_in_bytes", value);
    } else if (want->memory_swap) {
        mem_ok = write_at(mem, "memory.memsw.limit_in_bytes", swap);
    }
    if (!mem_ok) {
        snprintf(why, whylen, "linux.resources.memory: %s/%s in %s", value, swap, mem);
        return false;
    }
    if (want->cpu_shares) {
        const char *dir = cg_dir_of(cg, "cpu");
        snprintf(value, sizeof value, "%lld", want->cpu_shares);
        if (!write_at(dir, "cpu.shares", value) || !read_trimmed(dir, "cpu.shares", got, sizeof got) || strcmp(got, value)) {
            snprintf(why, whylen, "linux.resources.cpu.shares: %s in %s", value, dir);
            return false;
        }
    }
    if (want->pids_limit != 0) {
        const char *dir = cg_dir_of(cg, "pids");
        if (want->pids_limit > 0) snprintf(value, sizeof value, "%lld", want->pids_limit);
        else snprintf(value, sizeof value, "max");
        if (!write_at(dir, "pids.max", value)) {
            snprintf(why, whylen, "linux.resources.pids.limit: %s in %s", value, dir);
            return false;
        }
    }
    return true;
}

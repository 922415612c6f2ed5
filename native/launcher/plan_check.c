/*
 * Which configs the native plan handles: a whitelist of config.json fields (FIELDS below, with the
 * JSON types of the schemas/ files), then the rules of src/spec/semantic.ts and of the plan builders
 * (src/container/plan-init.ts checkInput, src/linux/) for those fields. Anything not listed —
 * SCMP_ACT_NOTIFY seccomp, idmapped mounts, LSM labels, intelRdt, resources beyond devices/cpu/memory/pids, an
 * unknown key... — is refused, and so is every config node would reject: node must report it.
 */
#define _GNU_SOURCE
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "plan_internal.h"

bool plan_refuse(char *why, size_t whylen, const char *fmt, ...) {
    if (why && whylen && !why[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return false;
}

enum kind { STRING, BOOL, INTEGER, STRINGS, INTEGERS, OBJECT, OBJECTS, STRING_MAP };

struct field {
    const char *key;
    enum kind kind;
    bool required;
    const struct field *members; /* OBJECT, OBJECTS */
    double min, max;             /* INTEGER, INTEGERS: the schema's bounds, compared as JS doubles */
};

/* defs.json's ranges as ajv compares them: the bounds are doubles too (2^63, 2^64). */
#define UINT32 0, 4294967295.0
#define INT64 -9223372036854775808.0, 9223372036854775808.0
#define UINT64 0, 18446744073709551616.0
#define ANY_INT -INFINITY, INFINITY
#define INT32 -2147483648.0, 2147483647.0
/* 2^53: String(n) of a larger integer prints rounded digits or an exponent; those are node's */
#define MAX_SAFE 9007199254740992.0

static const struct field ROOT[] = {
    { "path", STRING, true, NULL, 0, 0 },
    { "readonly", BOOL, false, NULL, 0, 0 },
    { 0 },
};
static const struct field MOUNT[] = {
    { "destination", STRING, true, NULL, 0, 0 },
    { "source", STRING, false, NULL, 0, 0 },
    { "type", STRING, false, NULL, 0, 0 },
    { "options", STRINGS, false, NULL, 0, 0 },
    { 0 },
};
static const struct field USER[] = {
    { "uid", INTEGER, false, NULL, UINT32 },
    { "gid", INTEGER, false, NULL, UINT32 },
    { "umask", INTEGER, false, NULL, UINT32 },
    { "additionalGids", INTEGERS, false, NULL, UINT32 },
    { 0 },
};
static const struct field CAPABILITIES[] = {
    { "bounding", STRINGS, false, NULL, 0, 0 },
    { "effective", STRINGS, false, NULL, 0, 0 },
    { "inheritable", STRINGS, false, NULL, 0, 0 },
    { "permitted", STRINGS, false, NULL, 0, 0 },
    { "ambient", STRINGS, false, NULL, 0, 0 },
    { 0 },
};
static const struct field RLIMIT[] = {
    { "type", STRING, true, NULL, 0, 0 },
    { "soft", INTEGER, true, NULL, UINT64 },
    { "hard", INTEGER, true, NULL, UINT64 },
    { 0 },
};
static const struct field CONSOLE_SIZE[] = {
    { "height", INTEGER, true, NULL, UINT64 },
    { "width", INTEGER, true, NULL, UINT64 },
    { 0 },
};
static const struct field IO_PRIORITY[] = {
    { "class", STRING, true, NULL, 0, 0 },
    { "priority", INTEGER, false, NULL, INT32 },
    { 0 },
};
static const struct field SCHEDULER[] = {
    { "policy", STRING, true, NULL, 0, 0 },
    { "nice", INTEGER, false, NULL, INT32 },
    { "priority", INTEGER, false, NULL, INT32 },
    { "flags", STRINGS, false, NULL, 0, 0 },
    { "runtime", INTEGER, false, NULL, UINT64 },
    { "deadline", INTEGER, false, NULL, UINT64 },
    { "period", INTEGER, false, NULL, UINT64 },
    { 0 },
};
static const struct field PROCESS[] = {
    { "terminal", BOOL, false, NULL, 0, 0 },
    { "consoleSize", OBJECT, false, CONSOLE_SIZE, 0, 0 },
    { "user", OBJECT, false, USER, 0, 0 },
    { "args", STRINGS, false, NULL, 0, 0 },
    { "env", STRINGS, false, NULL, 0, 0 },
    { "cwd", STRING, true, NULL, 0, 0 },
    { "capabilities", OBJECT, false, CAPABILITIES, 0, 0 },
    { "rlimits", OBJECTS, false, RLIMIT, 0, 0 },
    { "noNewPrivileges", BOOL, false, NULL, 0, 0 },
    { "oomScoreAdj", INTEGER, false, NULL, ANY_INT },
    { "ioPriority", OBJECT, false, IO_PRIORITY, 0, 0 },
    { "scheduler", OBJECT, false, SCHEDULER, 0, 0 },
    { 0 },
};
static const struct field NAMESPACE[] = {
    { "type", STRING, true, NULL, 0, 0 },
    { "path", STRING, false, NULL, 0, 0 },
    { 0 },
};
static const struct field DEVICE[] = {
    { "type", STRING, true, NULL, 0, 0 },
    { "path", STRING, true, NULL, 0, 0 },
    { "fileMode", INTEGER, false, NULL, 0, 511 },
    { "major", INTEGER, false, NULL, INT64 },
    { "minor", INTEGER, false, NULL, INT64 },
    { "uid", INTEGER, false, NULL, UINT32 },
    { "gid", INTEGER, false, NULL, UINT32 },
    { 0 },
};
static const struct field DEVICE_RULE[] = {
    { "allow", BOOL, true, NULL, 0, 0 },
    { "type", STRING, false, NULL, 0, 0 },
    { "major", INTEGER, false, NULL, INT64 },
    { "minor", INTEGER, false, NULL, INT64 },
    { "access", STRING, false, NULL, 0, 0 },
    { 0 },
};
/* The plan never depends on resources: these are accepted as far as the schema goes, for the
 * configs containerd writes (ctr run: cpu.shares 1024; a CRI sandbox: cpu.shares 2). Whether the
 * cgroup side can apply them natively is the caller's decision (create.c checks its own list). */
static const struct field CPU[] = {
    { "shares", INTEGER, false, NULL, UINT64 },
    { "quota", INTEGER, false, NULL, INT64 },
    { "period", INTEGER, false, NULL, UINT64 },
    { 0 },
};
static const struct field MEMORY[] = {
    { "limit", INTEGER, false, NULL, INT64 },
    { "reservation", INTEGER, false, NULL, INT64 },
    { "swap", INTEGER, false, NULL, INT64 },
    { 0 },
};
static const struct field PIDS[] = {
    { "limit", INTEGER, true, NULL, INT64 },
    { 0 },
};
static const struct field RESOURCES[] = {
    { "devices", OBJECTS, false, DEVICE_RULE, 0, 0 },
    { "cpu", OBJECT, false, CPU, 0, 0 },
    { "memory", OBJECT, false, MEMORY, 0, 0 },
    { "pids", OBJECT, false, PIDS, 0, 0 },
    { 0 },
};
static const struct field PERSONALITY[] = {
    { "domain", STRING, false, NULL, 0, 0 },
    { "flags", STRINGS, false, NULL, 0, 0 },
    { 0 },
};
static const struct field TIME_OFFSET[] = {
    { "secs", INTEGER, false, NULL, INT64 },
    { "nanosecs", INTEGER, false, NULL, UINT32 },
    { 0 },
};
static const struct field TIME_OFFSETS[] = {
    { "monotonic", OBJECT, false, TIME_OFFSET, 0, 0 },
    { "boottime", OBJECT, false, TIME_OFFSET, 0, 0 },
    { 0 },
};
static const struct field ID_MAPPING[] = {
    { "containerID", INTEGER, true, NULL, UINT32 },
    { "hostID", INTEGER, true, NULL, UINT32 },
    { "size", INTEGER, true, NULL, UINT32 },
    { 0 },
};
static const struct field SECCOMP_ARG[] = {
    { "index", INTEGER, true, NULL, UINT32 },
    { "value", INTEGER, true, NULL, UINT64 },
    { "valueTwo", INTEGER, false, NULL, UINT64 },
    { "op", STRING, true, NULL, 0, 0 },
    { 0 },
};
static const struct field SYSCALL_RULE[] = {
    { "names", STRINGS, true, NULL, 0, 0 },
    { "action", STRING, true, NULL, 0, 0 },
    { "errnoRet", INTEGER, false, NULL, UINT32 },
    { "args", OBJECTS, false, SECCOMP_ARG, 0, 0 },
    { 0 },
};
/* listenerPath/listenerMetadata (SCMP_ACT_NOTIFY's agent) are not listed: node builds those */
static const struct field SECCOMP[] = {
    { "defaultAction", STRING, true, NULL, 0, 0 },
    { "defaultErrnoRet", INTEGER, false, NULL, UINT32 },
    { "architectures", STRINGS, false, NULL, 0, 0 },
    { "flags", STRINGS, false, NULL, 0, 0 },
    { "syscalls", OBJECTS, false, SYSCALL_RULE, 0, 0 },
    { 0 },
};
static const struct field LINUX[] = {
    { "namespaces", OBJECTS, false, NAMESPACE, 0, 0 },
    { "uidMappings", OBJECTS, false, ID_MAPPING, 0, 0 },
    { "gidMappings", OBJECTS, false, ID_MAPPING, 0, 0 },
    { "devices", OBJECTS, false, DEVICE, 0, 0 },
    { "cgroupsPath", STRING, false, NULL, 0, 0 },
    { "resources", OBJECT, false, RESOURCES, 0, 0 },
    { "sysctl", STRING_MAP, false, NULL, 0, 0 },
    { "maskedPaths", STRINGS, false, NULL, 0, 0 },
    { "readonlyPaths", STRINGS, false, NULL, 0, 0 },
    { "rootfsPropagation", STRING, false, NULL, 0, 0 },
    { "personality", OBJECT, false, PERSONALITY, 0, 0 },
    { "timeOffsets", OBJECT, false, TIME_OFFSETS, 0, 0 },
    { "seccomp", OBJECT, false, SECCOMP, 0, 0 },
    { 0 },
};
/* Hooks never change the plan (its PAUSE is always there): they are checked as node checks them,
 * and running them is the caller's (create.c hands a config with hooks to node today). */
static const struct field HOOK[] = {
    { "path", STRING, true, NULL, 0, 0 },
    { "args", STRINGS, false, NULL, 0, 0 },
    { "env", STRINGS, false, NULL, 0, 0 },
    { "timeout", INTEGER, false, NULL, 1, INFINITY },
    { 0 },
};
static const struct field HOOKS[] = {
    { "prestart", OBJECTS, false, HOOK, 0, 0 },
    { "createRuntime", OBJECTS, false, HOOK, 0, 0 },
    { "createContainer", OBJECTS, false, HOOK, 0, 0 },
    { "startContainer", OBJECTS, false, HOOK, 0, 0 },
    { "poststart", OBJECTS, false, HOOK, 0, 0 },
    { "poststop", OBJECTS, false, HOOK, 0, 0 },
    { 0 },
};
static const struct field FIELDS[] = {
    { "ociVersion", STRING, true, NULL, 0, 0 },
    { "root", OBJECT, false, ROOT, 0, 0 },
    { "mounts", OBJECTS, false, MOUNT, 0, 0 },
    { "process", OBJECT, false, PROCESS, 0, 0 },
    { "hostname", STRING, false, NULL, 0, 0 },
    { "domainname", STRING, false, NULL, 0, 0 },
    { "annotations", STRING_MAP, false, NULL, 0, 0 },
    { "hooks", OBJECT, false, HOOKS, 0, 0 },
    { "linux", OBJECT, false, LINUX, 0, 0 },
    { 0 },
};

struct checker {
    const struct jdoc *d;
    char *why;
    size_t whylen;
};

#define REFUSE(c, ...) plan_refuse((c)->why, (c)->whylen, __VA_ARGS__)

/* A double without a fraction (every double from 2^52 up is one); no libm needed. */
static bool integral(double v) { return fabs(v) >= 4503599627370496.0 || v == (double)(long long)v; }

/* ajv's "integer": a finite number without a fraction, within the schema's bounds. */
static bool check_integer(struct checker *c, int i, const struct field *f, const char *at) {
    if (c->d->n[i].type != J_NUMBER) return REFUSE(c, "%s: not a number", at);
    double v = jnum(c->d, i);
    if (!isfinite(v) || !integral(v) || v < f->min || v > f->max) return REFUSE(c, "%s: not an integer in range", at);
    return true;
}

static bool check_members(struct checker *c, int node, const struct field *fields, const char *at);

static bool check_value(struct checker *c, int i, const struct field *f, const char *at) {
    const struct jdoc *d = c->d;
    enum jtype t = d->n[i].type;
    char sub[256];
    switch (f->kind) {
    case STRING: return t == J_TEXT || REFUSE(c, "%s: not a string", at);
    case BOOL: return t == J_TRUE || t == J_FALSE || REFUSE(c, "%s: not a boolean", at);
    case INTEGER: return check_integer(c, i, f, at);
    case OBJECT: return check_members(c, i, f->members, at);
    case STRINGS:
    case INTEGERS:
    case OBJECTS:
        if (t != J_ARRAY) return REFUSE(c, "%s: not an array", at);
        JFOR(d, i, e) {
            if (snprintf(sub, sizeof sub, "%s[]", at) >= (int)sizeof sub) return REFUSE(c, "%s: too deep", at);
            bool ok = f->kind == STRINGS ? d->n[e].type == J_TEXT || REFUSE(c, "%s: not a string", sub)
                    : f->kind == INTEGERS ? check_integer(c, e, f, sub)
                    : check_members(c, e, f->members, sub);
            if (!ok) return false;
        }
        return true;
    case STRING_MAP:
        /* defs.json stringMap: string values, and the empty key is not a name */
        if (t != J_OBJECT) return REFUSE(c, "%s: not an object", at);
        JFOR(d, i, e) {
            if (!d->n[e].key[0] || d->n[e].type != J_TEXT) return REFUSE(c, "%s: not a map of strings", at);
        }
        return true;
    }
    return false;
}

/* Every member listed in `fields` with the right type, the required ones present, nothing else. */
static bool check_members(struct checker *c, int node, const struct field *fields, const char *at) {
    const struct jdoc *d = c->d;
    char sub[256];
    if (d->n[node].type != J_OBJECT) return REFUSE(c, "%s: not an object", at[0] ? at : "config.json");
    JFOR(d, node, m) {
        const struct field *f = fields;
        while (f->key && strcmp(f->key, d->n[m].key)) f++;
        if (snprintf(sub, sizeof sub, "%s%s%s", at, at[0] ? "." : "", d->n[m].key) >= (int)sizeof sub)
            return REFUSE(c, "%s: name too long", at);
        if (!f->key) return REFUSE(c, "%s: not handled natively", sub);
        if (!check_value(c, m, f, sub)) return false;
    }
    for (const struct field *f = fields; f->key; f++) {
        if (f->required && jget(d, node, f->key) < 0) return REFUSE(c, "%s%s%s: missing", at, at[0] ? "." : "", f->key);
    }
    return true;
}

static bool is_abs(const char *s) { return s && s[0] == '/'; }

/* semantic.ts checkNamespaces + namespaceSetup. */
static bool check_namespaces(struct checker *c, int list) {
    const struct jdoc *d = c->d;
    JFOR(d, list, ns) {
        const char *type = jtext(d, jget(d, ns, "type"));
        int path = jget(d, ns, "path");
        if (!ns_clone_flag(type)) return REFUSE(c, "linux.namespaces: unknown type");
        JFOR(d, list, other) {
            if (other == ns) break;
            if (!strcmp(jtext(d, jget(d, other, "type")), type)) return REFUSE(c, "linux.namespaces: duplicate type");
        }
        if (path >= 0 && !is_abs(jtext(d, path))) return REFUSE(c, "linux.namespaces[].path: not absolute");
    }
    return true;
}

/* semantic.ts checkHooks: absolute paths. */
static bool check_hooks(struct checker *c) {
    JFOR(c->d, jget(c->d, 0, "hooks"), list) {
        JFOR(c->d, list, hook) {
            if (!is_abs(jtext(c->d, jget(c->d, hook, "path"))))
                return REFUSE(c, "hooks.%s[].path: not absolute", c->d->n[list].key);
        }
    }
    return true;
}

/* semantic.ts checkIdMappings: mappings exactly when a new user namespace is made, sizes > 0. */
static bool check_id_mappings(struct checker *c) {
    const struct jdoc *d = c->d;
    static const char *const KEYS[] = { "linux.uidMappings", "linux.gidMappings" };
    bool new_user = config_new_namespace(d, "user");
    for (int i = 0; i < 2; i++) {
        int maps = jpath(d, 0, KEYS[i]);
        if (new_user != (jlen(d, maps) > 0))
            return REFUSE(c, "%s: %s", KEYS[i], new_user ? "missing" : "without a new user namespace");
        JFOR(d, maps, m) {
            if (jnum(d, jget(d, m, "size")) == 0) return REFUSE(c, "%s[].size: 0", KEYS[i]);
        }
    }
    return true;
}

/* plan-init.ts checkSharedMounts: without a mount namespace of its own the container shares the
 * runtime's, and nothing may change that one's mounts. */
static bool check_shared_mounts(struct checker *c) {
    const struct jdoc *d = c->d;
    if (config_namespace(d, "mount", NULL)) return true;
    if (jlen(d, jpath(d, 0, "linux.maskedPaths"))) return REFUSE(c, "linux.maskedPaths: no mount namespace");
    if (jlen(d, jpath(d, 0, "linux.readonlyPaths"))) return REFUSE(c, "linux.readonlyPaths: no mount namespace");
    if (jtrue(d, jpath(d, 0, "root.readonly"))) return REFUSE(c, "root.readonly: no mount namespace");
    if (jpath(d, 0, "linux.rootfsPropagation") >= 0) return REFUSE(c, "linux.rootfsPropagation: no mount namespace");
    return true;
}

bool config_new_namespace(const struct jdoc *d, const char *type) {
    bool joined = false;
    return config_namespace(d, type, &joined) && !joined;
}

/* semantic.ts's timeOffsets, personality and rootfsPropagation rules, and plan-init.ts checkInput's
 * rootfsPropagation rule for --no-pivot. */
static bool check_linux_extras(struct checker *c, const struct init_input *in) {
    const struct jdoc *d = c->d;
    if (jpath(d, 0, "linux.timeOffsets") >= 0 && !config_new_namespace(d, "time"))
        return REFUSE(c, "linux.timeOffsets: no new time namespace");
    JFOR(d, jpath(d, 0, "linux.timeOffsets"), clock) {
        int secs = jget(d, clock, "secs");
        if (secs >= 0 && fabs(jnum(d, secs)) > MAX_SAFE) return REFUSE(c, "linux.timeOffsets: secs too large");
    }
    int personality = jpath(d, 0, "linux.personality");
    if (personality >= 0) {
        const char *domain = jtext(d, jget(d, personality, "domain"));
        if (!domain || personality_domain(domain) < 0) return REFUSE(c, "linux.personality.domain");
        if (jlen(d, jget(d, personality, "flags"))) return REFUSE(c, "linux.personality.flags");
    }
    const char *prop = jtext(d, jpath(d, 0, "linux.rootfsPropagation"));
    if (prop) {
        unsigned flags = rootfs_propagation(prop);
        if (!flags) return REFUSE(c, "linux.rootfsPropagation: unknown");
        if (in->no_pivot && flags & MS_PRIVATE) return REFUSE(c, "linux.rootfsPropagation: private with --no-pivot");
    }
    return true;
}

/* semantic.ts's ioPriority and scheduler rules. */
static bool check_process_extras(struct checker *c, int p) {
    const struct jdoc *d = c->d;
    int io = jget(d, p, "ioPriority");
    if (io >= 0) {
        if (ioprio_class(jtext(d, jget(d, io, "class"))) < 0) return REFUSE(c, "process.ioPriority.class");
        double prio = jnum_or(d, io, "priority", 0);
        if (prio < 0 || prio > 7) return REFUSE(c, "process.ioPriority.priority");
    }
    int s = jget(d, p, "scheduler");
    if (s >= 0) {
        if (sched_policy(jtext(d, jget(d, s, "policy"))) < 0) return REFUSE(c, "process.scheduler.policy");
        JFOR(d, jget(d, s, "flags"), f) {
            if (sched_flag(jtext(d, f)) < 0) return REFUSE(c, "process.scheduler.flags");
        }
        double nice = jnum_or(d, s, "nice", 0);
        if (nice < -20 || nice > 19) return REFUSE(c, "process.scheduler.nice");
    }
    return true;
}

bool config_namespace(const struct jdoc *d, const char *type, bool *joined) {
    JFOR(d, jpath(d, 0, "linux.namespaces"), ns) {
        if (!strcmp(jtext(d, jget(d, ns, "type")), type)) {
            if (joined) *joined = jget(d, ns, "path") >= 0;
            return true;
        }
    }
    return false;
}

static bool check_capabilities(struct checker *c, int caps) {
    JFOR(c->d, caps, set) {
        JFOR(c->d, set, name) {
            if (cap_number(jtext(c->d, name)) < 0) return REFUSE(c, "process.capabilities: unknown capability");
        }
    }
    return true;
}

static bool check_rlimits(struct checker *c, int list) {
    const struct jdoc *d = c->d;
    JFOR(d, list, r) {
        const char *type = jtext(d, jget(d, r, "type"));
        if (rlimit_number(type) < 0) return REFUSE(c, "process.rlimits: unknown type");
        JFOR(d, list, other) {
            if (other == r) break;
            if (!strcmp(jtext(d, jget(d, other, "type")), type)) return REFUSE(c, "process.rlimits: duplicate type");
        }
        if (jnum(d, jget(d, r, "soft")) > jnum(d, jget(d, r, "hard"))) return REFUSE(c, "process.rlimits: soft > hard");
    }
    return true;
}

/* terminal.ts checkTerminal for create/run: a detached terminal needs a console socket, and a
 * console socket is only for a detached terminal. */
static bool check_terminal(struct checker *c, bool terminal, const struct init_input *in) {
    if (terminal && !in->console_socket && !in->wait_mode) return REFUSE(c, "process.terminal: no console socket");
    if (in->console_socket && (!terminal || in->wait_mode)) return REFUSE(c, "--console-socket: not for this process");
    int size = jpath(c->d, 0, "process.consoleSize");
    JFOR(c->d, size, n) {
        if (jnum(c->d, n) > MAX_SAFE) return REFUSE(c, "process.consoleSize: too large");
    }
    return true;
}

/* semantic.ts checkProcessSemantics, checkTerminal, and checkInput's "process is required". */
static bool check_process(struct checker *c, const struct init_input *in) {
    const struct jdoc *d = c->d;
    int p = jget(d, 0, "process");
    if (p < 0) return REFUSE(c, "process: missing");
    if (jlen(d, jget(d, p, "args")) == 0) return REFUSE(c, "process.args: empty");
    if (!is_abs(jtext(d, jget(d, p, "cwd")))) return REFUSE(c, "process.cwd: not absolute");
    JFOR(d, jget(d, p, "env"), e) {
        const char *s = jtext(d, e);
        if (!strchr(s, '=') || s[0] == '=') return REFUSE(c, "process.env: not NAME=value");
    }
    if (!check_terminal(c, jtrue(d, jget(d, p, "terminal")), in)) return false;
    int oom = jget(d, p, "oomScoreAdj");
    if (oom >= 0 && (jnum(d, oom) < -1000 || jnum(d, oom) > 1000)) return REFUSE(c, "process.oomScoreAdj: range");
    return check_capabilities(c, jget(d, p, "capabilities")) && check_rlimits(c, jget(d, p, "rlimits")) &&
           check_process_extras(c, p);
}

/* semantic.ts checkMounts, and what planMount would throw on (idmap options). */
static bool check_mounts(struct checker *c) {
    const struct jdoc *d = c->d;
    JFOR(d, jget(d, 0, "mounts"), m) {
        if (!is_abs(jtext(d, jget(d, m, "destination")))) return REFUSE(c, "mounts[].destination: not absolute");
        JFOR(d, jget(d, m, "options"), o) {
            const char *opt = jtext(d, o);
            if (!strcmp(opt, "idmap") || !strcmp(opt, "ridmap")) return REFUSE(c, "mounts[].options: %s", opt);
        }
    }
    return true;
}

/* semantic.ts checkLinux's devices part, and devices.ts fromConfig. */
static bool check_devices(struct checker *c) {
    const struct jdoc *d = c->d;
    JFOR(d, jpath(d, 0, "linux.devices"), dev) {
        const char *type = jtext(d, jget(d, dev, "type"));
        if (!is_abs(jtext(d, jget(d, dev, "path")))) return REFUSE(c, "linux.devices[].path: not absolute");
        if (strlen(type) != 1 || !strchr("cbup", type[0])) return REFUSE(c, "linux.devices[].type: unknown");
        if (strcmp(type, "p") && (jget(d, dev, "major") < 0 || jget(d, dev, "minor") < 0))
            return REFUSE(c, "linux.devices[]: needs major and minor");
        /* String(n) prints exponents or rounded digits beyond 2^53: leave those to node */
        static const char *const NUMBERS[] = { "major", "minor" };
        for (int i = 0; i < 2; i++) {
            int n = jget(d, dev, NUMBERS[i]);
            if (n >= 0 && fabs(jnum(d, n)) > MAX_SAFE) return REFUSE(c, "linux.devices[].%s: too large", NUMBERS[i]);
        }
    }
    return true;
}

/* linux.resources.devices: only rules node takes as written (lenient.ts would rewrite or warn
 * about other access strings; the v1 emulator knows types a, b and c). */
static bool check_device_rules(struct checker *c) {
    const struct jdoc *d = c->d;
    static const char *const ACCESS[] = { "r", "w", "m", "rw", "rm", "wm", "rwm" };
    JFOR(d, jpath(d, 0, "linux.resources.devices"), rule) {
        const char *type = jtext(d, jget(d, rule, "type"));
        const char *access = jtext(d, jget(d, rule, "access"));
        if (type && strcmp(type, "a") && strcmp(type, "b") && strcmp(type, "c"))
            return REFUSE(c, "linux.resources.devices[].type: %s", type);
        bool known = !access;
        for (size_t i = 0; access && i < sizeof ACCESS / sizeof ACCESS[0]; i++) known |= !strcmp(access, ACCESS[i]);
        if (!known) return REFUSE(c, "linux.resources.devices[].access: %s", access);
    }
    return true;
}

static bool is_ipc_sysctl(const char *key) {
    static const char *const IPC[] = { "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                       "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced" };
    for (size_t i = 0; i < sizeof IPC / sizeof IPC[0]; i++) {
        if (!strcmp(key, IPC[i])) return true;
    }
    return !strncmp(key, "fs.mqueue.", 10);
}

/* semantic.ts checkLinux's sysctl part: a known namespaced name, its namespace listed, and no
 * conflict with hostname/domainname. */
static bool check_sysctl(struct checker *c) {
    const struct jdoc *d = c->d;
    regex_t re;
    /* SYSCTL_KEY_RE; the keys are ASCII-only by this pattern, so bytes and UTF-16 agree */
    if (regcomp(&re, "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_:+@-]+)+$", REG_EXTENDED | REG_NOSUB)) return REFUSE(c, "regcomp");
    bool ok = true;
    JFOR(d, jpath(d, 0, "linux.sysctl"), s) {
        const char *key = d->n[s].key;
        const char *need = is_ipc_sysctl(key) ? "ipc" : !strncmp(key, "net.", 4) ? "network"
                         : !strcmp(key, "kernel.hostname") || !strcmp(key, "kernel.domainname") ? "uts" : NULL;
        const char *field = !strcmp(key, "kernel.hostname")     ? "hostname"
                          : !strcmp(key, "kernel.domainname") ? "domainname"
                                                              : NULL;
        const char *named = field ? jtext(d, jget(d, 0, field)) : NULL;
        if (regexec(&re, key, 0, NULL, 0) || strstr(key, "..") || !need || !config_namespace(d, need, NULL) ||
            (named && named[0] && strcmp(named, jtext(d, s)))) {
            ok = REFUSE(c, "linux.sysctl: %s", key);
            break;
        }
    }
    regfree(&re);
    return ok;
}

static bool check_linux(struct checker *c) {
    const struct jdoc *d = c->d;
    static const char *const NAMES[] = { "hostname", "domainname" };
    for (int i = 0; i < 2; i++) {
        const char *name = jtext(d, jget(d, 0, NAMES[i]));
        if (name && name[0] && !config_namespace(d, "uts", NULL)) return REFUSE(c, "%s: no uts namespace", NAMES[i]);
    }
    JFOR(d, jpath(d, 0, "linux.maskedPaths"), p) {
        if (!is_abs(jtext(d, p))) return REFUSE(c, "linux.maskedPaths: not absolute");
    }
    JFOR(d, jpath(d, 0, "linux.readonlyPaths"), p) {
        if (!is_abs(jtext(d, p))) return REFUSE(c, "linux.readonlyPaths: not absolute");
    }
    return check_devices(c) && check_device_rules(c) && check_sysctl(c);
}

bool plan_check(const struct jdoc *d, const struct init_input *in, char *why, size_t whylen) {
    struct checker c = { d, why, whylen };
    if (!check_members(&c, 0, FIELDS, "")) return false;
    const char *root = jtext(d, jpath(d, 0, "root.path"));
    if (!root || !root[0]) return REFUSE(&c, "root.path: missing or empty");
    return check_namespaces(&c, jpath(d, 0, "linux.namespaces")) && check_id_mappings(&c) && check_hooks(&c) &&
           check_shared_mounts(&c) && check_process(&c, in) &&
           check_mounts(&c) && check_linux(&c) && check_linux_extras(&c, in);
}

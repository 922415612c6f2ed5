/*
 * linux.seccomp compiled into a BPF program exactly as src/seccomp/compile.ts compileSeccomp does:
 * the same libseccomp calls with the same arguments in the same order, the same exported bytes,
 * the same ENOSYS prefix (src/seccomp/enosys.ts) and the same flags. libseccomp is dlopen'ed only
 * for a config that has a filter, so no other launcher command pays for loading it.
 *
 * Refused (node builds the plan): SCMP_ACT_NOTIFY and listenerPath/listenerMetadata (plan_check.c
 * does not list them), and everything node's validateSeccomp rejects or where a libseccomp call
 * fails (node then reports the error). test/integration/native-plan-differential.test.ts compares
 * the bytes with node's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_internal.h"

/* src/seccomp/names.ts */
static const struct { const char *name; uint32_t value; } ACTIONS[] = {
    { "SCMP_ACT_KILL", 0x00000000 },         { "SCMP_ACT_KILL_THREAD", 0x00000000 },
    { "SCMP_ACT_KILL_PROCESS", 0x80000000 }, { "SCMP_ACT_TRAP", 0x00030000 },
    { "SCMP_ACT_ERRNO", 0x00050000 },        { "SCMP_ACT_TRACE", 0x7ff00000 },
    { "SCMP_ACT_LOG", 0x7ffc0000 },          { "SCMP_ACT_ALLOW", 0x7fff0000 },
};
static const char *const OPERATORS[] = { NULL, "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",
                                         "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ" };
static const struct { const char *name; unsigned bit; } FLAGS[] = {
    { "SECCOMP_FILTER_FLAG_TSYNC", 1u << 0 },
    { "SECCOMP_FILTER_FLAG_LOG", 1u << 1 },
    { "SECCOMP_FILTER_FLAG_SPEC_ALLOW", 1u << 2 },
    { "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 1u << 5 },
};
static const char *const ARCHITECTURES[][2] = {
    { "SCMP_ARCH_X86", "x86" },
    { "SCMP_ARCH_X86_64", "x86_64" },
    { "SCMP_ARCH_X32", "x32" },
    { "SCMP_ARCH_ARM", "arm" },
    { "SCMP_ARCH_AARCH64", "aarch64" },
    { "SCMP_ARCH_LOONGARCH64", "loongarch64" },
    { "SCMP_ARCH_M68K", "m68k" },
    { "SCMP_ARCH_MIPS", "mips" },
    { "SCMP_ARCH_MIPS64", "mips64" },
    { "SCMP_ARCH_MIPS64N32", "mips64n32" },
    { "SCMP_ARCH_MIPSEL", "mipsel" },
    { "SCMP_ARCH_MIPSEL64", "mipsel64" },
    { "SCMP_ARCH_MIPSEL64N32", "mipsel64n32" },
    { "SCMP_ARCH_PPC", "ppc" },
    { "SCMP_ARCH_PPC64", "ppc64" },
    { "SCMP_ARCH_PPC64LE", "ppc64le" },
    { "SCMP_ARCH_S390", "s390" },
    { "SCMP_ARCH_S390X", "s390x" },
    { "SCMP_ARCH_SH", "sh" },
    { "SCMP_ARCH_SHEB", "sheb" },
    { "SCMP_ARCH_PARISC", "parisc" },
    { "SCMP_ARCH_PARISC64", "parisc64" },
    { "SCMP_ARCH_RISCV64", "riscv64" },
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define EPERM_DEFAULT 1
#define MAX_ARGS 6
#define MAX_INSTRUCTIONS 4096
#define ATTR_CTL_NNP 3
#define NR_SCMP_ERROR (-1)
#define TWO_64 18446744073709551616.0
/* enosys.ts's prefix: 6 instructions; export_bpf reads the program in after room for it */
#define PREFIX_LEN 48

/* struct scmp_arg_cmp, as compile.ts packs it */
struct arg_cmp {
    uint32_t arg;
    uint32_t op;
    uint64_t datum_a, datum_b;
};

/* the entry points compile.ts binds (libseccomp.ts) */
struct lib {
    void *handle;
    void *(*init)(uint32_t);
    void (*release)(void *);
    uint32_t (*arch_resolve_name)(const char *);
    int (*arch_add)(void *, uint32_t);
    int (*syscall_resolve_name)(const char *);
    int (*rule_add_array)(void *, uint32_t, int, unsigned, const struct arg_cmp *);
    int (*attr_set)(void *, int, uint32_t);
    int (*export_bpf)(void *, int);
};

static bool lib_open(struct lib *l) {
    l->handle = dlopen("libseccomp.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!l->handle) return false;
    /* POSIX lets a data pointer from dlsym become a function pointer through a copy */
    void *sym[8];
    static const char *const NAMES[8] = { "seccomp_init",          "seccomp_release",   "seccomp_arch_resolve_name",
                                          "seccomp_arch_add",      "seccomp_syscall_resolve_name",
                                          "seccomp_rule_add_array", "seccomp_attr_set", "seccomp_export_bpf" };
    for (int i = 0; i < 8; i++) {
        if (!(sym[i] = dlsym(l->handle, NAMES[i]))) return false;
    }
    memcpy(&l->init, &sym[0], sizeof sym[0]);
    memcpy(&l->release, &sym[1], sizeof sym[1]);
    memcpy(&l->arch_resolve_name, &sym[2], sizeof sym[2]);
    memcpy(&l->arch_add, &sym[3], sizeof sym[3]);
    memcpy(&l->syscall_resolve_name, &sym[4], sizeof sym[4]);
    memcpy(&l->rule_add_array, &sym[5], sizeof sym[5]);
    memcpy(&l->attr_set, &sym[6], sizeof sym[6]);
    memcpy(&l->export_bpf, &sym[7], sizeof sym[7]);
    return true;
}

static int action_index(const char *name) {
    for (size_t i = 0; name && i < COUNT(ACTIONS); i++) {
        if (!strcmp(ACTIONS[i].name, name)) return (int)i;
    }
    return -1;
}

static int operator_value(const char *name) {
    for (size_t i = 1; name && i < COUNT(OPERATORS); i++) {
        if (!strcmp(OPERATORS[i], name)) return (int)i;
    }
    return -1;
}

static const char *arch_name(const char *oci) {
    for (size_t i = 0; oci && i < COUNT(ARCHITECTURES); i++) {
        if (!strcmp(ARCHITECTURES[i][0], oci)) return ARCHITECTURES[i][1];
    }
    return NULL;
}

/* validate.ts checkErrno: absent, or an integer 0..65535 */
static bool errno_ok(const struct jdoc *d, int node) {
    if (node < 0) return true;
    double v = jnum(d, node);
    return d->n[node].type == J_NUMBER && v >= 0 && v <= 0xffff && v == (double)(int)v;
}

/* compile.ts encodeAction; validate.ts's checks of the action and errnoRet */
static bool encode_action(const struct jdoc *d, int obj, const char *key, const char *errkey, uint32_t *out) {
    int i = action_index(jtext(d, jget(d, obj, key)));
    int err = jget(d, obj, errkey);
    if (i < 0 || !errno_ok(d, err)) return false;
    uint32_t value = ACTIONS[i].value;
    if (value == 0x00050000 || value == 0x7ff00000) value |= (err >= 0 ? (uint32_t)jnum(d, err) : EPERM_DEFAULT) & 0xffff;
    *out = value;
    return true;
}

/* validate.ts: what the schema types (plan_check.c) leave to it */
static bool validate(const struct jdoc *d, int sc, char *why, size_t whylen) {
    uint32_t ignored;
    if (!encode_action(d, sc, "defaultAction", "defaultErrnoRet", &ignored))
        return plan_refuse(why, whylen, "linux.seccomp.defaultAction");
    JFOR(d, jget(d, sc, "architectures"), a) {
        if (!arch_name(jtext(d, a))) return plan_refuse(why, whylen, "linux.seccomp.architectures");
    }
    JFOR(d, jget(d, sc, "flags"), f) {
        size_t i = 0;
        while (i < COUNT(FLAGS) && strcmp(FLAGS[i].name, jtext(d, f))) i++;
        if (i == COUNT(FLAGS)) return plan_refuse(why, whylen, "linux.seccomp.flags");
    }
    JFOR(d, jget(d, sc, "syscalls"), r) {
        if (!jlen(d, jget(d, r, "names"))) return plan_refuse(why, whylen, "linux.seccomp.syscalls[].names: empty");
        JFOR(d, jget(d, r, "names"), n) {
            if (!jtext(d, n)[0]) return plan_refuse(why, whylen, "linux.seccomp.syscalls[].names: empty name");
        }
        if (!encode_action(d, r, "action", "errnoRet", &ignored))
            return plan_refuse(why, whylen, "linux.seccomp.syscalls[].action");
        JFOR(d, jget(d, r, "args"), a) {
            double index = jnum(d, jget(d, a, "index"));
            if (!(index >= 0 && index < MAX_ARGS) || operator_value(jtext(d, jget(d, a, "op"))) < 0)
                return plan_refuse(why, whylen, "linux.seccomp.syscalls[].args");
            int two = jget(d, a, "valueTwo");
            /* checkUint64: 2^64 (what 18446744073709551615 reads as) is out of range */
            if (jnum(d, jget(d, a, "value")) >= TWO_64 || (two >= 0 && jnum(d, two) >= TWO_64))
                return plan_refuse(why, whylen, "linux.seccomp.syscalls[].args: value out of range");
        }
    }
    return true;
}

static struct arg_cmp arg_of(const struct jdoc *d, int a) {
    int two = jget(d, a, "valueTwo");
    struct arg_cmp c = {
        .arg = (uint32_t)jnum(d, jget(d, a, "index")),
        .op = (uint32_t)operator_value(jtext(d, jget(d, a, "op"))),
        .datum_a = (uint64_t)jnum(d, jget(d, a, "value")),
        .datum_b = two >= 0 ? (uint64_t)jnum(d, two) : 0,
    };
    return c;
}

/* compile.ts addRules (+ conditionGroups): false when a libseccomp call fails */
static bool add_rules(const struct lib *l, void *ctx, const struct jdoc *d, int sc, uint32_t def, int *max_nr) {
    JFOR(d, jget(d, sc, "syscalls"), r) {
        uint32_t action;
        encode_action(d, r, "action", "errnoRet", &action);
        int names = jget(d, r, "names");
        JFOR(d, names, n) {
            int nr = l->syscall_resolve_name(jtext(d, n));
            if (nr != NR_SCMP_ERROR && nr >= 0 && nr > *max_nr) *max_nr = nr;
        }
        if (action == def) continue; /* libseccomp refuses a rule with the default action */
        int args = jget(d, r, "args");
        int nargs = jlen(d, args);
        struct arg_cmp cmp[MAX_ARGS];
        bool distinct = nargs <= MAX_ARGS;
        int k = 0;
        JFOR(d, args, a) {
            if (k >= MAX_ARGS) break;
            cmp[k] = arg_of(d, a);
            for (int j = 0; j < k; j++) distinct &= cmp[j].arg != cmp[k].arg;
            k++;
        }
        JFOR(d, names, n) {
            int nr = l->syscall_resolve_name(jtext(d, n));
            if (nr == NR_SCMP_ERROR) continue; /* unknown to this libseccomp: skipped, as runc */
            if (nargs == 0 || distinct) {
                if (l->rule_add_array(ctx, action, nr, (unsigned)nargs, nargs ? cmp : NULL) < 0) return false;
                continue;
            }
            /* the same argument tested twice: one rule per condition (ORed) */
            JFOR(d, args, a) {
                struct arg_cmp one = arg_of(d, a);
                if (l->rule_add_array(ctx, action, nr, 1, &one) < 0) return false;
            }
        }
    }
    return true;
}

/* compile.ts exportBpf: through a memfd (libseccomp 2.5 has no export to memory), into out->bpf
 * after PREFIX_LEN bytes of room for the ENOSYS prefix */
static bool export_bpf(const struct lib *l, void *ctx, struct seccomp_plan *out) {
    int fd = memfd_create("polis-seccomp", MFD_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    bool ok = l->export_bpf(ctx, fd) >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size % 8 == 0 &&
              st.st_size / 8 <= MAX_INSTRUCTIONS;
    if (ok) {
        out->len = (size_t)st.st_size;
        out->bpf = malloc(out->len + PREFIX_LEN);
        if (!out->bpf) die("out of memory");
        size_t done = 0;
        while (done < out->len) {
            ssize_t n = pread(fd, out->bpf + PREFIX_LEN + done, out->len - done, (off_t)done);
            if (n <= 0) break;
            done += (size_t)n;
        }
        ok = done == out->len;
    }
    close(fd);
    return ok;
}

static void insn(char *at, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k) {
    uint8_t *p = (uint8_t *)at;
    p[0] = code & 0xff, p[1] = code >> 8, p[2] = jt, p[3] = jf;
    for (int i = 0; i < 4; i++) p[4 + i] = (uint8_t)(k >> (8 * i));
}

/* enosys.ts nativeAuditArch: 0 where node knows none */
static uint32_t native_audit_arch(void) {
#if defined(__x86_64__)
    return 0xc000003e;
#elif defined(__aarch64__)
    return 0xc00000b7;
#elif defined(__i386__)
    return 0x40000003;
#elif defined(__arm__)
    return 0x40000028;
#else
    return 0;
#endif
}

/* enosys.ts withEnosysForNewSyscalls: the check in front of the program */
static void enosys_prefix(struct seccomp_plan *out, int max_nr, uint32_t arch) {
    char *p = out->bpf;
    insn(p, 0x20, 0, 0, 4);                  /* load seccomp_data.arch */
    insn(p + 8, 0x15, 0, 4, arch);           /* another architecture: the profile */
    insn(p + 16, 0x20, 0, 0, 0);             /* load seccomp_data.nr */
    insn(p + 24, 0x45, 2, 0, 0x40000000);    /* an x32 syscall: the profile */
    insn(p + 32, 0x25, 0, 1, (uint32_t)max_nr); /* newer than any the profile names: ENOSYS */
    insn(p + 40, 0x06, 0, 0, 0x00050000 | 38);
    out->len += PREFIX_LEN;
}

static bool compile(const struct lib *l, const struct jdoc *d, int sc, struct seccomp_plan *out) {
    uint32_t def;
    encode_action(d, sc, "defaultAction", "defaultErrnoRet", &def);
    void *ctx = l->init(def);
    if (!ctx) return false;
    int max_nr = -1;
    bool ok = l->attr_set(ctx, ATTR_CTL_NNP, 0) >= 0;
    JFOR(d, jget(d, sc, "architectures"), a) {
        if (!ok) break;
        uint32_t arch = l->arch_resolve_name(arch_name(jtext(d, a)));
        int rc = arch ? l->arch_add(ctx, arch) : -1;
        ok = arch && (rc >= 0 || rc == -EEXIST); /* the native one is in every filter already */
    }
    ok = ok && add_rules(l, ctx, d, sc, def, &max_nr) && export_bpf(l, ctx, out);
    l->release(ctx);
    if (!ok) return false;
    const char *name = jtext(d, jget(d, sc, "defaultAction"));
    uint32_t arch = native_audit_arch();
    bool allowing = !strcmp(name, "SCMP_ACT_ALLOW") || !strcmp(name, "SCMP_ACT_LOG");
    if (arch && max_nr >= 0 && !allowing) {
        enosys_prefix(out, max_nr, arch);
    } else {
        memmove(out->bpf, out->bpf + PREFIX_LEN, out->len);
    }
    /* filterFlags without a listener: TSYNC and WAIT_KILLABLE_RECV dropped */
    JFOR(d, jget(d, sc, "flags"), f) {
        for (size_t i = 0; i < COUNT(FLAGS); i++) {
            if (!strcmp(FLAGS[i].name, jtext(d, f))) out->flags |= FLAGS[i].bit;
        }
    }
    out->flags &= ~(FLAGS[0].bit | FLAGS[3].bit);
    return true;
}

bool plan_seccomp(const struct jdoc *d, struct seccomp_plan *out, char *why, size_t whylen) {
    memset(out, 0, sizeof *out);
    int sc = jpath(d, 0, "linux.seccomp");
    if (sc < 0) return true;
    if (!validate(d, sc, why, whylen)) return false;
    struct lib l = { 0 };
    bool ok = lib_open(&l);
    if (!ok) plan_refuse(why, whylen, "linux.seccomp: libseccomp.so.2 not loadable");
    else if (!(ok = compile(&l, d, sc, out))) plan_refuse(why, whylen, "linux.seccomp: libseccomp failed");
    if (l.handle) dlclose(l.handle);
    if (!ok) {
        free(out->bpf);
        memset(out, 0, sizeof *out);
    }
    out->present = ok;
    return ok;
}

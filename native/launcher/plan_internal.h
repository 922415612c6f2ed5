/* What the plan_*.c files share (plan_init.h is the public side). */
#ifndef POLIS_PLAN_INTERNAL_H
#define POLIS_PLAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan_init.h"
#include "plan_json.h"
#include "../src/shim.h" /* enum op_code: the shim's, which test/unit/protocol.test.ts checks */

/* A tmpfs (or /dev) asked to be read-only is made read-only after pivot_root (DeferredRemount). */
struct deferred {
    char *dest;
    unsigned flags;
};

/* linux.seccomp compiled (plan_seccomp.c): the SECCOMP op's bpf and flags */
struct seccomp_plan {
    bool present;
    char *bpf; /* struct sock_filter[], host byte order */
    size_t len;
    unsigned flags;
};

/* One plan being built (plan_init.c owns it; plan_mounts.c and plan_devices.c add to it). */
struct builder {
    const struct jdoc *d;
    const struct init_input *in;
    struct buf *out;
    size_t nargs_at; /* where the current op's argument count is, patched by each emit_arg() */
    uint32_t nargs;
    const char **env; /* process.env as the init gets it (HOME added when missing) */
    int nenv;
    char *home;
    bool terminal; /* a console is set up: through the console socket, or proxied (wait mode) */
    unsigned root_propagation; /* linux.rootfsPropagation's MS_* flags, 0 when unset */
    bool joins_mount;          /* a mount namespace joined by path */
    struct deferred *deferred;
    int ndeferred;
    int *opened; /* user namespace: the mount nodes whose bind source OPEN_TREE copied, in order */
    int nopened;
    struct seccomp_plan seccomp;
    char *why;
    size_t whylen;
};

/* plan_emit.c: one op, then its arguments */
void emit_op(struct builder *b, enum op_code code);
void emit_arg(struct builder *b, const char *s);
void emit_argf(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void emit_int(struct builder *b, double v); /* String(v) of an integer below 2^53; -0 is "0" */
const char *int_text(char out[32], double v);
void emit_mask(struct builder *b, uint64_t mask);
void emit_bytes(struct builder *b, const char *p, size_t n);
void emit_op1(struct builder *b, enum op_code code, const char *a);
/* MOUNT or MOUNT_KEEP_MODE: source, target, fstype, flags, data, scope */
void emit_mount(struct builder *b, enum op_code code, const char *source, const char *target, const char *fstype,
                unsigned flags, const char *data, const char *scope);
void emit_mkdirs(struct builder *b, const char *path, const char *scope, const char *kind);

/* plan_mounts.c */
bool plan_mount(struct builder *b, int mount); /* false: refused (a bind source cannot be stat'ed) */
bool plan_opened_sources(struct builder *b);
bool is_bind(const struct jdoc *d, int mount);
char *clean_destination(const char *dest);

/* plan_seccomp.c: compiles linux.seccomp as src/seccomp/compile.ts (out->present false: none);
 * false when refused */
bool plan_seccomp(const struct jdoc *d, struct seccomp_plan *out, char *why, size_t whylen);

/* plan_devices.c (userns: a new user namespace, where mknod is not allowed: bind the host's) */
void plan_devices(struct builder *b, bool userns);

/* Records the first refusal reason in why; always returns false (so `return refuse(...)`). */
bool plan_refuse(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* plan_check.c: is this a config the builder handles, and one node accepts? */
bool plan_check(const struct jdoc *d, const struct init_input *in, char *why, size_t whylen);
/* linux.namespaces lists `type` (new, or joined: *joined, when not NULL, says which) */
bool config_namespace(const struct jdoc *d, const char *type, bool *joined);
bool config_new_namespace(const struct jdoc *d, const char *type); /* listed without a path */

/* plan_names.c: src/spec/names.ts's tables (-1: unknown name) */
int cap_number(const char *name);
int rlimit_number(const char *name);
unsigned ns_clone_flag(const char *type); /* 0: unknown (time's flag is never cloned) */
int ns_join_rank(const char *type);       /* src/linux/namespaces.ts JOIN_ORDER */
int ioprio_class(const char *name);
int sched_policy(const char *name);
int sched_flag(const char *name);         /* the sched_attr.sched_flags bit */
int personality_domain(const char *name);
unsigned rootfs_propagation(const char *name); /* MS_* flags; 0: not a rootfsPropagation value */

/* mount options (MOUNT_OPTIONS): returns false for a name that is not an option (it is data) */
enum mopt_kind { MOPT_SET, MOPT_CLEAR, MOPT_PROPAGATION, MOPT_RSET, MOPT_RCLEAR, MOPT_EXTENSION };
struct mount_option {
    const char *name;
    enum mopt_kind kind;
    unsigned value;   /* MS_* flag, propagation flags, or MOUNT_ATTR_* */
    bool atime;       /* a recursive access-time mode: MOUNT_ATTR__ATIME goes into attr_clr too */
};
const struct mount_option *mount_option(const char *name);

/* plan_home.c: HOME=<value> for an init whose env has none (uid: process.user.uid; bound_source:
 * the source of the last bind mount onto /etc/passwd, or NULL). *home is malloc'd. */
bool plan_home(const char *rootfs, const char *bundle, const char *bound_source, double uid, char **home, char *why,
               size_t whylen);

/* plan_path.c: strndup that dies on out-of-memory, as buf_add does */
char *plan_strndup(const char *s, size_t n);
#define plan_strdup(s) plan_strndup((s), strlen(s))

/* plan_path.c: node's path.posix for absolute paths (NULL when the path is not absolute) */
char *path_normalize(const char *path);
char *path_join(const char *dir, const char *rel);
char *path_dirname(const char *path);
/* the mount point of the mount holding `path` (/proc/self/mountinfo); NULL when unsure */
char *mount_point_of(const char *path);

#endif

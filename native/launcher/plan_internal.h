/* What the plan_*.c files share (plan_init.h is the public side). */
#ifndef POLIS_PLAN_INTERNAL_H
#define POLIS_PLAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "plan_init.h"
#include "plan_json.h"

/* Records the first refusal reason in why; always returns false (so `return refuse(...)`). */
bool plan_refuse(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* plan_check.c: is this a config the builder handles, and one node accepts? */
bool plan_check(const struct jdoc *d, const struct init_input *in, char *why, size_t whylen);

/* plan_names.c: src/spec/names.ts's tables (-1: unknown name) */
int cap_number(const char *name);
int rlimit_number(const char *name);
unsigned ns_clone_flag(const char *type); /* 0: unknown (time's flag is never cloned) */
int ns_join_rank(const char *type);       /* src/linux/namespaces.ts JOIN_ORDER */

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

/* plan_path.c: node's path.posix for absolute paths (NULL when the path is not absolute) */
char *path_normalize(const char *path);
char *path_join(const char *dir, const char *rel);
char *path_dirname(const char *path);

#endif

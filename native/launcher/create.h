/* Internals of the native `create` (create.c, create_cgroup.c, create_shim.c). */
#ifndef POLIS_CREATE_H
#define POLIS_CREATE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "launcher.h"

/* create.c, shared with run_image.c */
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* POLIS_LAUNCHER_TRACE */
_Noreturn void to_node(const char *why);                              /* traced hand-off before a change */
bool valid_id(const char *id);
bool is_dir(const char *path);
bool mkdir_p(const char *dir, mode_t mode);

/* create_cgroup.c */
struct cg_plan {
    int n; /* cgroup.paths, in node's order */
    char *key[MAX_CGROUPS], *dir[MAX_CGROUPS];
    int ndirs; /* the distinct directories, in order (procsFiles(), create(), destroy()) */
    char *dirs[MAX_CGROUPS];
    char *warm; /* ownProcsFiles(hostLayout())[0] */
    int nowns;  /* ownProcsFiles(hostLayout()): polis's own cgroup.procs, in node's order */
    char *owns[MAX_CGROUPS];
    const char *cpuset_dir, *devices_dir;
};
struct devices_want { struct rule_set *set; };
char *path_resolve(const char *base, const char *p);
bool cg_plan_resolve(const char *cgroups_path, const char *id, struct cg_plan *out);
char *cg_plan_json(const struct cg_plan *cg);
bool cg_plan_any_exists(const struct cg_plan *cg);
bool cg_plan_create(const struct cg_plan *cg, char *why, size_t whylen);
void cg_plan_remove(const struct cg_plan *cg);
bool cg_devices_want(const char *config, struct devices_want *out);
struct resources_want {
    long long cpu_shares, pids_limit, memory_limit, memory_swap;
    bool memory_ok;
};
bool cg_resources_want(const char *config, const struct cg_plan *cg, struct resources_want *out);
bool cg_resources_apply(const struct cg_plan *cg, const struct resources_want *want, char *why, size_t whylen);
const char *cg_dir_of(const struct cg_plan *cg, const char *key);
bool cg_devices_apply(const char *dir, const struct devices_want *want, char *why, size_t whylen);

/* create_shim.c: one polis-shim session (src/linux/shim.ts) */
struct shim {
    pid_t pid;
    int sock; /* our end of the sync socket */
};
struct shim_msg {
    unsigned type; /* 1 PID, 2 PAUSE, 3 READY, 4 ERROR, 5 EXITED */
    int step, err;
    long long value;
    char detail[256];
};
bool shim_spawn_early(struct shim *s, const char *warm);
bool shim_send(struct shim *s, const char *bytes, size_t len);
bool shim_next(struct shim *s, struct shim_msg *m);
bool shim_resume(struct shim *s);
void shim_dismiss(struct shim *s);
int shim_reap(struct shim *s);

#endif

/* The process's own attributes: session, session keyring, ids, hostname, rlimits, io/cpu
   scheduling, personality, capabilities, no_new_privs, cwd, and WRITE_FILE (sysctls,
   oom_score_adj). Seccomp is in ops_seccomp.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <linux/sched/types.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#define IOPRIO_WHO_PROCESS 1
#define KEY_USR_SEARCH 0x00080000
#define IOPRIO_CLASS_SHIFT 13

void op_setsid(const struct op *op) {
  (void)op;
  if (setsid() < 0) die("setsid");
}

void op_become_root(const struct op *op) {
  (void)op;
  if (setresgid(0, 0, 0) < 0) die("setresgid 0");
  if (setresuid(0, 0, 0) < 0) die("setresuid 0");
}

/* runc's session keyring: the container must not share the session keyring of whoever ran the
   runtime (it would see and use their keys). Joining by name creates "<name>" or joins the one
   the same name already designates (exec into the container). runc then lets the keyring's user
   search it, so a process that changed uid can still find it; so do we. A kernel without keys
   (ENOSYS) is not an error, as in runc. */
void op_new_keyring(const struct op *op) {
  const char *name = op->args[0];
  long id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
  if (id < 0) {
    if (errno == ENOSYS) return;
    die("join session keyring %s", name);
  }
  /* KEYCTL_DESCRIBE: "type;uid;gid;perm;description", perm in hex */
  char desc[512];
  long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof desc);
  if (n < 0) die("describe session keyring %s", name);
  desc[sizeof desc - 1] = '\0';
  const char *p = desc;
  for (int field = 0; field < 3 && p; field++) {
    p = strchr(p, ';');
    if (p) p++;
  }
  if (!p) die_errno(EINVAL, "session keyring %s: unexpected description %s", name, desc);
  unsigned long perm = strtoul(p, NULL, 16);
  if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, (unsigned)(perm | KEY_USR_SEARCH)) < 0)
    die("set permissions of session keyring %s", name);
}

void op_write_file(const struct op *op) {
  const char *path = op->args[0];
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) die("open %s", path);
  if (write_all(fd, op->args[1], op->lens[1]) < 0) die("write %s", path);
  close(fd);
}

void op_sethostname(const struct op *op) {
  if (sethostname(op->args[0], op->lens[0]) < 0) die("sethostname %s", op->args[0]);
}

void op_setdomainname(const struct op *op) {
  if (setdomainname(op->args[0], op->lens[0]) < 0) die("setdomainname %s", op->args[0]);
}

void op_rlimit(const struct op *op) {
  int resource = (int)arg_ll(op, 0);
  struct rlimit rl = { .rlim_cur = arg_ull(op, 1), .rlim_max = arg_ull(op, 2) };
  if (prlimit(0, resource, &rl, NULL) < 0) die("prlimit %d", resource);
}

void op_ioprio(const struct op *op) {
  long long cls = arg_ll(op, 0), level = arg_ll(op, 1);
  if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, (int)((cls << IOPRIO_CLASS_SHIFT) | level)) < 0)
    die("ioprio_set class %lld level %lld", cls, level);
}

void op_sched(const struct op *op) {
  struct sched_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.sched_policy = (uint32_t)arg_ll(op, 0);
  attr.sched_priority = (uint32_t)arg_ll(op, 1);
  attr.sched_nice = (int32_t)arg_ll(op, 2);
  attr.sched_flags = arg_ull(op, 3);
  attr.sched_runtime = arg_ull(op, 4);
  attr.sched_deadline = arg_ull(op, 5);
  attr.sched_period = arg_ull(op, 6);
  if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0) die("sched_setattr policy %u", attr.sched_policy);
}

void op_personality(const struct op *op) {
  unsigned long persona = (unsigned long)arg_ull(op, 0);
  if (personality(persona) < 0) die("personality 0x%lx", persona);
}

void op_no_new_privs(const struct op *op) {
  (void)op;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("prctl no_new_privs");
}

void op_cap_bounding(const struct op *op) {
  unsigned long long keep = arg_ull(op, 0);
  /* PR_CAPBSET_READ fails with EINVAL past the kernel's last cap: no /proc needed */
  for (int cap = 0; cap < 64; cap++) {
    int has = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (has < 0) break;
    if (has && !(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      die("drop bounding cap %d", cap);
  }
}

void op_user(const struct op *op) {
  uid_t uid = (uid_t)arg_ll(op, 0);
  gid_t gid = (gid_t)arg_ll(op, 1);
  const char *groups = op->args[2], *mask = op->args[3];
  /* keep permitted caps across the uid change; CAPS sets the final sets right after */
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die("prctl keepcaps");
  if (strcmp(groups, "-") != 0) {
    size_t n = *groups ? 1 : 0;
    for (const char *c = groups; *c; c++) n += *c == ',';
    gid_t *list = calloc(n ? n : 1, sizeof *list);
    if (!list) die("calloc");
    char *s = strdup(groups), *save = NULL;
    if (!s) die("strdup");
    size_t i = 0;
    for (char *tok = strtok_r(s, ",", &save); tok && i < n; tok = strtok_r(NULL, ",", &save))
      list[i++] = (gid_t)strtoul(tok, NULL, 10);
    if (setgroups(i, list) < 0) die("setgroups %s", groups);
    free(s);
    free(list);
  }
  if (setresgid(gid, gid, gid) < 0) die("setresgid %u", gid);
  if (setresuid(uid, uid, uid) < 0) die("setresuid %u", uid);
  if (*mask) {
    char *end;
    long m = strtol(mask, &end, 8);
    if (*end || m < 0 || m > 0777) die_errno(EINVAL, "bad umask %s", mask);
    umask((mode_t)m);
  }
}

void op_caps(const struct op *op) {
  unsigned long long eff = arg_ull(op, 0), perm = arg_ull(op, 1), inh = arg_ull(op, 2);
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2] = {
    { .effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh },
    { .effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32),
      .inheritable = (uint32_t)(inh >> 32) },
  };
  if (syscall(SYS_capset, &hdr, data) < 0) die("capset");
}

void op_cap_ambient(const struct op *op) {
  unsigned long long mask = arg_ull(op, 0);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) die("clear ambient caps");
  for (int cap = 0; cap < 64; cap++)
    if ((mask & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
      die("raise ambient cap %d", cap);
}

void op_chdir(const struct op *op) {
  if (chdir(op->args[0]) < 0) die("chdir %s", op->args[0]);
}

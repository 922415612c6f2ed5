/* polis-shim <sync-fd>: read a plan from Node, run it op by op, report over the sync socket.
   Ops before CLONE run here; op_clone() returns only in the child, which runs the rest. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct shim S = { .sync_fd = -1, .step = -1, .console_fd = -1, .fifo_fd = -1, .mask_fd = -1 };

typedef void (*op_fn)(const struct op *);

static const struct { op_fn fn; int nargs; /* -1: variadic */ } OPS[OP__COUNT] = {
  [OP_SETNS] = { op_setns, 2 },
  [OP_CGROUP_JOIN] = { op_cgroup_join, 1 },
  [OP_TIMENS] = { op_timens, 1 },
  [OP_CONSOLE_SOCKET] = { op_console_socket, 1 },
  [OP_CLONE] = { op_clone, 5 },
  [OP_SETSID] = { op_setsid, 0 },
  [OP_BECOME_ROOT] = { op_become_root, 0 },
  [OP_MOUNT] = { op_mount, 6 },
  [OP_MKDIRS] = { op_mkdirs, 3 },
  [OP_MOUNT_SETATTR] = { op_mount_setattr, 6 },
  [OP_MKNOD] = { op_mknod, 8 },
  [OP_SYMLINK] = { op_symlink, 3 },
  [OP_PAUSE] = { NULL, 1 }, /* handled inline: it is only a message */
  [OP_PIVOT_ROOT] = { op_pivot_root, 1 },
  [OP_MOVE_ROOT] = { op_move_root, 1 },
  [OP_MASK] = { op_mask, 1 },
  [OP_READONLY] = { op_readonly, 1 },
  [OP_WRITE_FILE] = { op_write_file, 2 },
  [OP_SETHOSTNAME] = { op_sethostname, 1 },
  [OP_SETDOMAINNAME] = { op_setdomainname, 1 },
  [OP_CONSOLE] = { op_console, 3 },
  [OP_RLIMIT] = { op_rlimit, 3 },
  [OP_IOPRIO] = { op_ioprio, 2 },
  [OP_SCHED] = { op_sched, 7 },
  [OP_PERSONALITY] = { op_personality, 1 },
  [OP_NO_NEW_PRIVS] = { op_no_new_privs, 0 },
  [OP_CAP_BOUNDING] = { op_cap_bounding, 1 },
  [OP_USER] = { op_user, 4 },
  [OP_CAPS] = { op_caps, 3 },
  [OP_CAP_AMBIENT] = { op_cap_ambient, 1 },
  [OP_CHDIR] = { op_chdir, 1 },
  [OP_FIND_EXEC] = { op_find_exec, 2 },
  [OP_FIFO_OPEN] = { op_fifo_open, 1 },
  [OP_READY] = { op_ready, 0 },
  [OP_FIFO_WAIT] = { op_fifo_wait, 0 },
  [OP_SECCOMP] = { op_seccomp, 4 },
  [OP_EXEC] = { op_exec, -1 },
  [OP_NEW_KEYRING] = { op_new_keyring, 1 },
  [OP_SECCOMP_LISTENER] = { op_seccomp_listener, 1 },
  [OP_CONSOLE_PAIR] = { op_console_pair, 0 },
  [OP_MKFIFO] = { op_mkfifo, 2 },
  [OP_PARENT_CGROUPS] = { op_parent_cgroups, 1 },
  [OP_LOOPBACK_UP] = { op_loopback_up, 0 },
  [OP_MASK_SOURCE] = { op_mask_source, 1 },
  [OP_CHROOT] = { op_chroot, 1 },
  [OP_UMOUNT] = { op_umount, 1 },
  [OP_MOUNT_KEEP_MODE] = { op_mount_keep_mode, 6 },
  [OP_OPEN_TREE] = { op_open_tree, 2 },
  [OP_MOVE_MOUNT] = { op_move_mount, 3 },
};

/* Only stdio and the preserved fds 3..sync-1 may reach the container: everything else the caller
   leaked becomes close-on-exec, and so does the sync socket (exec closes it: Node sees EOF). */
static void seal_fds(int sync_fd) {
  if (syscall(SYS_close_range, (unsigned)sync_fd + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    die("close_range");
  if (fcntl(sync_fd, F_SETFD, FD_CLOEXEC) < 0) die("fcntl sync fd");
  for (int fd = 0; fd < sync_fd; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && (fl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
}

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#define SELF_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* CVE-2019-5736: a process in the container can open /proc/<our pid>/exe while we run in its
   namespaces (the init before its exec, an exec's shim), and write through it into polis-shim on
   the host. So, like runc and crun, we run from a sealed memfd copy of ourselves: the first thing
   the shim does is copy its binary into a memfd, seal it against every write, and re-exec from it
   (fds, argv and environment unchanged); the copy sees the seals and goes on. */
static void run_from_sealed_copy(char **argv) {
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) die("open /proc/self/exe");
  int seals = fcntl(self, F_GET_SEALS);
  if (seals >= 0 && (seals & SELF_SEALS) == SELF_SEALS) { /* we are the copy */
    close(self);
    prctl(PR_SET_NAME, "polis-shim"); /* not the fd number execveat left as our name */
    return;
  }
  int copy = memfd_create("polis-shim", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (copy < 0 && errno == EINVAL) /* before 6.3: no MFD_EXEC, memfds are executable */
    copy = memfd_create("polis-shim", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (copy < 0) die("memfd_create for a sealed copy of polis-shim");
  for (;;) {
    ssize_t n = sendfile(copy, self, NULL, 1 << 20);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("copy polis-shim into a memfd");
    if (n == 0) break;
  }
  close(self);
  if (fcntl(copy, F_ADD_SEALS, SELF_SEALS | F_SEAL_EXEC) < 0 && fcntl(copy, F_ADD_SEALS, SELF_SEALS) < 0)
    die("seal the copy of polis-shim");
  syscall(SYS_execveat, copy, "", argv, environ, AT_EMPTY_PATH);
  die("exec the sealed copy of polis-shim");
}

/* The whole plan is checked before its first op runs: a plan Node got wrong (an op it and we
   disagree on) must not leave half of its steps done. */
static void check_op(const struct op *op) {
  if (op->code >= OP__COUNT || (!OPS[op->code].fn && op->code != OP_PAUSE))
    die_errno(EINVAL, "unknown op %u", op->code);
  int want = OPS[op->code].nargs;
  if ((want >= 0 && op->nargs != (uint32_t)want) || (want < 0 && op->nargs < 1))
    die_errno(EINVAL, "op %u: expected %d arguments, got %u", op->code, want, op->nargs);
}

/* `polis-shim <sync-fd> <procs-file>`: Node spawned us before it has a plan, to let the wait
   below pass while it works. A process's first move into a cgroup waits for an RCU grace
   period in the kernel (the global cgroup_threadgroup_rwsem; 7-18 ms on this host), and for
   about one grace period after any move the next one is immediate (0.05 ms). So until the plan
   arrives we move ourselves into the cgroup we are already in (procs-file is polis's own
   cgroup.procs: nothing changes), again every 3 ms: CGROUP_JOIN then finds the lock warm. A
   failure ends the warming, never the shim: this is only time. */
static void warm_cgroup_moves(const char *procs) {
  int fd = open(procs, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  char pid[24];
  int n = snprintf(pid, sizeof pid, "%d", (int)getpid());
  struct pollfd p = { .fd = S.sync_fd, .events = POLLIN };
  for (int i = 0; i < 700; i++) { /* ~2 s: a Node that takes longer is slow for other reasons */
    if (write(fd, pid, (size_t)n) != n) break;
    int r = poll(&p, 1, 3);
    if (r != 0 && !(r < 0 && errno == EINTR)) break; /* the plan, EOF or an error: go and read */
  }
  close(fd);
}

/* Node closed its end without sending a plan (its create failed its checks after spawning us,
   or it was killed): nobody is listening and nothing was asked, so leave without a word. */
static bool node_gone(void) {
  struct pollfd p = { .fd = S.sync_fd, .events = POLLOUT };
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void run_op(const struct op *op) {
  if (op->code == OP_PAUSE) {
    send_msg(MSG_PAUSE, S.step, 0, 0, op->args[0]);
    wait_resume();
    return;
  }
  OPS[op->code].fn(op);
}

int main(int argc, char **argv) {
  char *end = NULL;
  long fd = argc == 2 || argc == 3 ? strtol(argv[1], &end, 10) : -1;
  if (fd < 3 || !end || *end || fcntl((int)fd, F_GETFD) < 0) {
    static const char usage[] = "usage: polis-shim <sync-fd> [<procs-file>] (run by polis, not by hand)\n";
    if (write(2, usage, sizeof usage - 1) < 0) _exit(2);
    _exit(2);
  }
  S.sync_fd = (int)fd;
  run_from_sealed_copy(argv);
  seal_fds(S.sync_fd);

  if (argc == 3) warm_cgroup_moves(argv[2]);

  struct plan plan;
  if (plan_read(S.sync_fd, &plan) < 0) {
    if (plan_got_nothing() && node_gone()) _exit(1);
    die("read plan");
  }
  for (size_t i = 0; i < plan.count; i++) {
    S.step = (int)i;
    check_op(&plan.ops[i]);
  }
  for (size_t i = 0; i < plan.count; i++) {
    S.step = (int)i;
    run_op(&plan.ops[i]);
  }
  _exit(0); /* a plan without EXEC (tests, probes) just ends */
}

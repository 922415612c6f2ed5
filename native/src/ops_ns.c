/* Namespaces and the fork point: SETNS, CGROUP_JOIN, TIMENS, CLONE (with id maps), LOOPBACK_UP. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct { const char *name; int flag; } NS_TYPES[] = {
  { "user", CLONE_NEWUSER }, { "mount", CLONE_NEWNS }, { "network", CLONE_NEWNET },
  { "ipc", CLONE_NEWIPC },   { "uts", CLONE_NEWUTS },  { "pid", CLONE_NEWPID },
  { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

void op_setns(const struct op *op) {
  const char *type = op->args[0], *path = op->args[1];
  int flag = -1;
  for (size_t i = 0; i < sizeof NS_TYPES / sizeof NS_TYPES[0]; i++)
    if (strcmp(type, NS_TYPES[i].name) == 0) flag = NS_TYPES[i].flag;
  if (flag < 0) die_errno(EINVAL, "unknown namespace type %s", type);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open %s", path);
  if (setns(fd, flag) < 0) die("setns %s", path);
  close(fd);
}

static void write_file(const char *path, const char *content) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open %s", path);
  /* one write: uid_map, gid_map and timens_offsets accept exactly one */
  if (write_all(fd, content, strlen(content)) < 0) die("write %s", path);
  close(fd);
}

void op_cgroup_join(const struct op *op) {
  char pid[32];
  snprintf(pid, sizeof pid, "%d", getpid());
  write_file(op->args[0], pid);
}

void op_timens(const struct op *op) {
  if (unshare(CLONE_NEWTIME) < 0) die("unshare time namespace");
  if (*op->args[0]) write_file("/proc/self/timens_offsets", op->args[0]);
}

/* Parent side: id maps must be written from outside the new user namespace. */
static void write_id_maps(pid_t pid, const struct op *op) {
  static const char *const files[] = { "setgroups", "uid_map", "gid_map" };
  const char *contents[] = { op->args[3], op->args[1], op->args[2] };
  for (int i = 0; i < 3; i++) {
    if (!*contents[i]) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, files[i]);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write_all(fd, contents[i], strlen(contents[i])) < 0) {
      int err = errno;
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      die_errno(err, "write %s", files[i]);
    }
    close(fd);
  }
}

/* Foreground mode: wait for the child, but kill it if Node goes away first (EOF on the sync
   socket: POLLRDHUP only, so RESUME bytes meant for the child do not wake us). */
static _Noreturn void wait_child(pid_t pid, int pidfd) {
  /* a foreground terminal: proxy it until the child is gone (then the loop below ends at once) */
  if (pty_proxy_wanted()) pty_proxy_run(pid, pidfd);
  struct pollfd fds[2] = {
    { .fd = pidfd, .events = POLLIN },
    { .fd = S.sync_fd, .events = POLLRDHUP },
  };
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[0].revents) break;
    if (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
      kill(pid, SIGKILL);
      break;
    }
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die("waitpid");
  send_msg(MSG_EXITED, S.step, 0, status, NULL);
  /* like a shell: a caller that only watches our exit (hooks) sees the child's status */
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* A shim that waits in the foreground goes back to the cgroups it came from once its child is born
   in the container's: it must not count against the container's pids.max, nor be picked by the
   container's OOM killer. The cgroup.procs files (newline-separated) are opened here, before any
   SETNS can hide the host's cgroupfs, and written by CLONE's parent. */
void op_parent_cgroups(const struct op *op) {
  char *list = strdup(op->args[0]), *save = NULL;
  if (!list) die("strdup");
  for (char *f = strtok_r(list, "\n", &save); f; f = strtok_r(NULL, "\n", &save)) {
    if (S.parent_cgroup_count == (int)(sizeof S.parent_cgroup_fds / sizeof S.parent_cgroup_fds[0]))
      die_errno(E2BIG, "too many cgroups");
    int fd = open(f, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die("open %s", f);
    S.parent_cgroup_fds[S.parent_cgroup_count++] = fd;
  }
  free(list);
}

static void leave_cgroups(void) {
  for (int i = 0; i < S.parent_cgroup_count; i++) {
    if (write_all(S.parent_cgroup_fds[i], "0", 1) < 0) die("move the shim back to its own cgroup");
    close(S.parent_cgroup_fds[i]);
  }
  S.parent_cgroup_count = 0;
}

/* The only flags a plan may ask for: new namespaces. Anything else (CLONE_VM, CLONE_THREAD,
   CLONE_SETTLS…) would make a child that shares our memory or cannot run the rest of the plan. */
#define CLONE_NS_FLAGS                                                                            \
  ((unsigned long long)(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |             \
                        CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME))

void op_clone(const struct op *op) {
  unsigned long long flags = arg_ull(op, 0);
  if (flags & ~CLONE_NS_FLAGS) die_errno(EINVAL, "clone flags 0x%llx: only CLONE_NEW* flags", flags);
  const char *mode = op->args[4];
  bool wait_mode = strcmp(mode, "wait") == 0;
  if (!wait_mode && strcmp(mode, "detach") != 0) die_errno(EINVAL, "unknown clone mode %s", mode);

  /* The child waits on this pipe until the parent has written its id maps and reported its pid.
     If the parent dies first, the child reads EOF and exits: nothing half-made survives. */
  int release[2];
  if (pipe2(release, O_CLOEXEC) < 0) die("pipe");

  int pidfd = -1;
  struct clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = flags | (wait_mode ? CLONE_PIDFD : 0);
  ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
  ca.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &ca, sizeof ca);
  if (pid < 0) die("clone flags 0x%llx", flags);

  if (pid == 0) {
    close(release[1]);
    /* The release is our own pid as the runtime sees it (a pid namespace hides it from us). */
    int64_t host_pid = 0;
    ssize_t n;
    do n = read(release[0], &host_pid, sizeof host_pid); while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof host_pid) _exit(1);
    close(release[0]);
    S.host_pid = (pid_t)host_pid;
    for (int i = 0; i < S.parent_cgroup_count; i++) close(S.parent_cgroup_fds[i]);
    S.parent_cgroup_count = 0;
    /* Non-dumpable until execve: no process in the container may reach into ours through
       /proc/<pid>/fd (the exec fifo, the agent's socket) or ptrace us while we hold them. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) die("prctl(PR_SET_DUMPABLE, 0)");
    return;
  }

  close(release[0]);
  write_id_maps((pid_t)pid, op);
  if (wait_mode) leave_cgroups();
  send_msg(MSG_PID, S.step, 0, pid, NULL);
  int64_t host_pid = pid;
  if (write_all(release[1], &host_pid, sizeof host_pid) < 0) die("release child");
  close(release[1]);
  if (!wait_mode) _exit(0);
  wait_child((pid_t)pid, pidfd);
}

/* LOOPBACK_UP: a new network namespace starts with "lo" down; runc brings it up, so that
   127.0.0.1 works in the container (a database on localhost, a health check probing it). */
void op_loopback_up(const struct op *op) {
  (void)op;
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) die("socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) die("get flags of lo");
  if (!(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) die("bring lo up");
  }
  close(sock);
}

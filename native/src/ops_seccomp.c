/* SECCOMP_LISTENER (in the shim, before CLONE) and SECCOMP (in the container's process).
   A filter with SCMP_ACT_NOTIFY rules returns a notify fd, which goes to the seccomp agent at
   linux.seccomp.listenerPath together with the container's state (runtime-spec
   ContainerProcessState). The socket is connected before CLONE, while the runtime's paths are
   still visible (a joined mount namespace or pivot_root hides them later); the runtime's /proc is
   kept open too, because the state names the process by its pid as the runtime sees it, which a
   process inside a new pid namespace can only learn through a /proc of the runtime's pid
   namespace. Both fds are close-on-exec and closed once the fd is handed over. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim.h"

/* The placeholder listenerPayload() (src/seccomp/notify.ts) puts where the pid goes. */
#define PID_PLACEHOLDER '\x01'

static int listener_fd = -1;  /* SECCOMP_LISTENER → SECCOMP (inherited by the child) */

void op_seccomp_listener(const struct op *op) {
  const char *path = op->args[0];
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (op->lens[0] == 0) die_errno(EINVAL, "empty seccomp listener path");
  if (op->lens[0] >= sizeof addr.sun_path) die_errno(ENAMETOOLONG, "seccomp listener %s", path);
  memcpy(addr.sun_path, path, op->lens[0] + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect %s", path);
  listener_fd = fd;
}

/* The payload with every placeholder byte replaced by the decimal pid (malloc'd, NUL-ended). */
static char *fill_pid(const char *payload, size_t len, size_t *out_len) {
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%d", (int)S.host_pid);
  size_t holes = 0;
  for (size_t i = 0; i < len; i++) holes += payload[i] == PID_PLACEHOLDER;
  char *out = malloc(len + holes * (size_t)n + 1), *w = out;
  if (!out) die("malloc");
  for (size_t i = 0; i < len; i++) {
    if (payload[i] == PID_PLACEHOLDER) {
      memcpy(w, pid, (size_t)n);
      w += n;
    } else {
      *w++ = payload[i];
    }
  }
  *w = '\0';
  *out_len = (size_t)(w - out);
  return out;
}

void op_seccomp(const struct op *op) {
  const char *listener = op->args[2];
  if (op->lens[0] == 0 || op->lens[0] % sizeof(struct sock_filter) != 0 ||
      op->lens[0] / sizeof(struct sock_filter) > BPF_MAXINSNS)
    die_errno(EINVAL, "seccomp program of %u bytes", op->lens[0]);
  struct sock_fprog prog = {
    .len = (unsigned short)(op->lens[0] / sizeof(struct sock_filter)),
    .filter = (struct sock_filter *)(void *)op->args[0],
  };
  unsigned flags = (unsigned)arg_ull(op, 1);
  char *state = NULL;
  size_t state_len = 0;
  if (*listener) {
    if (listener_fd < 0) die_errno(EBADF, "seccomp listener %s is not connected", listener);
    if (!(flags & SECCOMP_FILTER_FLAG_NEW_LISTENER))
      die_errno(EINVAL, "seccomp listener %s without SECCOMP_FILTER_FLAG_NEW_LISTENER", listener);
    /* everything that needs syscalls a filter might deny happens before it is loaded */
    state = fill_pid(op->args[3], op->lens[3], &state_len);
  }
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (rc < 0) die("seccomp load");
  if (!*listener) return;
  /* sendmsg only: the filter is loaded now, and validation forbids notifying sendmsg (and write),
     so this cannot wait on the agent that has not got its fd yet */
  if (send_with_fd(listener_fd, (int)rc, state, state_len) < 0)
    die("send seccomp notify fd to %s", listener);
  close((int)rc);
  close(listener_fd);
  listener_fd = -1;
  free(state);
}

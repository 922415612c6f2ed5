/* Small helpers shared by the ops: argument parsing and rootfs-scoped path resolution. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/socket.h>
#include "shim.h"

long long arg_ll(const struct op *op, uint32_t i) {
  const char *s = op->args[i];
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno) die_errno(EINVAL, "argument %u: not an integer: %s", i, s);
  return v;
}

/* Decimal, "-1" (all bits: RLIM_INFINITY), or a "0x…" mask. */
unsigned long long arg_ull(const struct op *op, uint32_t i) {
  const char *s = op->args[i];
  int base = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, base);
  if (*s == '\0' || *end != '\0' || errno) die_errno(EINVAL, "argument %u: not an integer: %s", i, s);
  return v;
}

/* Open path; when scope is set, path is resolved as if scope were "/" (symlinks, "..", absolute
   links all stay inside it), so a hostile rootfs cannot redirect a mount onto the host. */
int open_scoped(const char *scope, const char *path, int flags) {
  if (!scope || !*scope) return open(path, flags | O_CLOEXEC);
  int root = open(scope, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return -1;
  struct open_how how = {
    .flags = (uint64_t)(flags | O_CLOEXEC),
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
  int err = errno;
  close(root);
  errno = err;
  return fd;
}

void fd_path(int fd, char buf[64]) { snprintf(buf, 64, "/proc/self/fd/%d", fd); }

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Send buf with fd attached (SCM_RIGHTS) on a stream socket: 0, or -1 with errno. */
int send_with_fd(int sock, int fd, const char *buf, size_t len) {
  if (len == 0) { /* SCM_RIGHTS needs at least one byte to travel with on a stream socket */
    errno = EINVAL;
    return -1;
  }
  char ctl[CMSG_SPACE(sizeof(int))];
  memset(ctl, 0, sizeof ctl);
  struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof ctl };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  size_t off = 0;
  while (off < len) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    off += (size_t)n;
    /* the fd went with the first bytes; a stream socket may take the rest in pieces */
    iov.iov_base = (char *)buf + off;
    iov.iov_len = len - off;
    msg.msg_control = NULL;
    msg.msg_controllen = 0;
  }
  return 0;
}

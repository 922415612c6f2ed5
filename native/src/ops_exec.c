/* The last steps: FIND_EXEC, the exec fifo handshake (FIFO_OPEN, READY, FIFO_WAIT), EXEC. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"

/* The execute bits that apply to us (owner, group or other), from the mode alone: what
   faccessat(AT_EACCESS) decides, for when the seccomp filter denies it. */
static bool mode_allows_exec(const struct stat *st) {
  uid_t uid = geteuid();
  if (uid == 0) return (st->st_mode & 0111) != 0;
  if (st->st_uid == uid) return (st->st_mode & 0100) != 0;
  bool in_group = st->st_gid == getegid();
  gid_t groups[256];
  int n = getgroups(256, groups);
  for (int i = 0; !in_group && i < n; i++) in_group = groups[i] == st->st_gid;
  return (st->st_mode & (in_group ? 0010 : 0001)) != 0;
}

/* 0 when path is a regular file we may execute, else an errno like execve would give. Without
   no_new_privs the filter is already loaded here: a profile may deny faccessat2 (glibc's
   faccessat) with EPERM, or not know it (ENOSYS); then the mode bits decide, as Go's
   syscall.Faccessat (runc's LookPath) does. execve makes the final check either way. */
static int executable(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return errno;
  if (!S_ISREG(st.st_mode)) return EACCES;
  if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0) return 0;
  if (errno != EPERM && errno != ENOSYS) return errno;
  return mode_allows_exec(&st) ? 0 : EACCES;
}

void op_find_exec(const struct op *op) {
  const char *name = op->args[0], *path_env = op->args[1];
  if (!*name) die_errno(ENOENT, "empty executable name");
  if (strchr(name, '/')) {
    int err = executable(name);
    if (err) die_errno(err, "%s", name);
    S.exec_path = strdup(name);
    if (!S.exec_path) die("strdup");
    return;
  }
  /* execvp's rules: try every PATH entry, an empty one means ".", prefer EACCES over ENOENT */
  bool denied = false;
  for (const char *dir = path_env; *path_env;) {
    const char *end = strchrnul(dir, ':');
    char *cand = NULL;
    int dlen = (int)(end - dir);
    if (asprintf(&cand, "%.*s%s%s", dlen ? dlen : 1, dlen ? dir : ".", "/", name) < 0) die("asprintf");
    int err = executable(cand);
    if (!err) {
      S.exec_path = cand;
      return;
    }
    if (err == EACCES) denied = true;
    free(cand);
    if (!*end) break;
    dir = end + 1;
  }
  die_errno(denied ? EACCES : ENOENT, "%s: not found in PATH %s", name, path_env);
}

void op_fifo_open(const struct op *op) {
  /* O_PATH: opening for writing would block now; FIFO_WAIT reopens it through /proc/self/fd */
  int fd = open(op->args[0], O_PATH | O_CLOEXEC);
  if (fd < 0) die("open %s", op->args[0]);
  S.fifo_fd = fd;
}

void op_ready(const struct op *op) {
  (void)op;
  send_msg(MSG_READY, S.step, 0, 0, NULL);
  S.ready = true;
}

void op_fifo_wait(const struct op *op) {
  (void)op;
  if (S.fifo_fd < 0) die_errno(EBADF, "no exec fifo");
  char path[64];
  fd_path(S.fifo_fd, path);
  int fd;
  do fd = open(path, O_WRONLY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) die("open exec fifo");
  if (write_all(fd, "0", 1) < 0) die("write exec fifo");
  close(fd);
  close(S.fifo_fd);
  S.fifo_fd = -1;
}

void op_exec(const struct op *op) {
  long long argc = arg_ll(op, 0);
  if (argc < 1 || (uint64_t)argc > op->nargs - 1) die_errno(EINVAL, "bad argv count %lld", argc);
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  if (!argv) die("calloc");
  memcpy(argv, op->args + 1, (size_t)argc * sizeof *argv);
  char **envp = op->args + 1 + argc; /* the decoder NULL-terminates args */
  const char *path = S.exec_path ? S.exec_path : argv[0];
  execve(path, argv, envp);
  die("exec %s", path);
}

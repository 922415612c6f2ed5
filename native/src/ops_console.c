/* CONSOLE_SOCKET (before clone, on the host) and CONSOLE (inside the container, after devpts is
   mounted): the pty master goes to the caller over the socket with SCM_RIGHTS, like runc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "shim.h"

void op_console_socket(const struct op *op) {
  const char *path = op->args[0];
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (op->lens[0] >= sizeof addr.sun_path) die_errno(ENAMETOOLONG, "console socket %s", path);
  memcpy(addr.sun_path, path, op->lens[0] + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect %s", path);
  S.console_fd = fd;
}

void op_console(const struct op *op) {
  if (S.console_fd < 0) die_errno(EBADF, "no console socket");
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) die("open /dev/ptmx");
  if (unlockpt(master) < 0) die("unlockpt");
  char name[64];
  if (ptsname_r(master, name, sizeof name) != 0) die("ptsname");
  struct winsize ws = { .ws_row = (unsigned short)arg_ll(op, 0),
                        .ws_col = (unsigned short)arg_ll(op, 1) };
  if ((ws.ws_row || ws.ws_col) && ioctl(master, TIOCSWINSZ, &ws) < 0) die("set window size");
  /* TIOCGPTPEER opens the slave of *this* master, whatever /dev/pts is mounted as */
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) die("open %s", name);
  /* The process's user must own its terminal (runc: fixStdioPermissions changes only the uid; the
     group stays devpts's gid=, "tty"). An unmapped id or a read-only /dev: leave it, as runc. */
  long long uid = arg_ll(op, 2);
  if (uid >= 0 && fchown(slave, (uid_t)uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM &&
      errno != EROFS)
    die("chown %s to %lld", name, uid);
  if (send_with_fd(S.console_fd, master, name, strlen(name)) < 0) die("send console fd");
  close(master);
  close(S.console_fd);
  S.console_fd = -1;
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) die("dup2 console to %d", fd);
  if (ioctl(0, TIOCSCTTY, 0) < 0) die("set controlling tty %s", name);
  if (slave > 2) close(slave);
}

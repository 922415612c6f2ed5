/* CONSOLE_PAIR: a foreground `polis run` with a terminal and no --console-socket (runc's
   behaviour). The child keeps one end of a socketpair as its console socket, so the ordinary
   CONSOLE op sends the pty master back to us; the parent, after CLONE, proxies that master to the
   caller's stdin/stdout until the child has exited and the master is drained. The caller's tty is
   made raw (keys like ^C must reach the container's line discipline, not ours) and restored. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "shim.h"

static int pair_fd = -1; /* the parent's end; the child's end is S.console_fd */

void op_console_pair(const struct op *op) {
  (void)op;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
  pair_fd = sv[0];
  S.console_fd = sv[1];
}

bool pty_proxy_wanted(void) { return pair_fd >= 0; }

static int recv_master(void) {
  char name[64], ctl[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { .iov_base = name, .iov_len = sizeof name };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  ssize_t n;
  do n = recvmsg(pair_fd, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

/* The caller's window (from whichever of 0,1,2 is a tty); a 0x0 one leaves process.consoleSize. */
static void copy_winsize(int master) {
  struct winsize ws;
  for (int fd = 0; fd < 3; fd++)
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0) {
      if (ws.ws_row || ws.ws_col) ioctl(master, TIOCSWINSZ, &ws);
      return;
    }
}

/* Blocking write that also copes with an O_NONBLOCK file description shared with Node; output
   nobody can take (EPIPE) is dropped so the master keeps draining. */
static void put_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd q = { .fd = fd, .events = POLLOUT };
      poll(&q, 1, -1);
      continue;
    }
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

enum { P_CHILD, P_SYNC, P_MASTER, P_STDIN, P_WINCH, P_N };

/* Returns once the child has exited (or was killed because Node went away) and the master has
   nothing more to say. The caller then reaps the child and reports EXITED as usual. */
void pty_proxy_run(pid_t pid, int pidfd) {
  close(S.console_fd); /* the child's end: EOF on ours if it dies before sending the master */
  S.console_fd = -1;
  /* This process never execs: no disposition here reaches the container. SIGHUP: when `polis`
     is the session leader of the caller's tty (script, ssh) and dies, the kernel hangs up its
     foreground group, us included; we must live to see the sync EOF and kill the child. */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t winch;
  sigemptyset(&winch);
  sigaddset(&winch, SIGWINCH);
  sigprocmask(SIG_BLOCK, &winch, NULL);
  int sigfd = signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);

  struct termios saved;
  bool raw = false, child_done = false, stdin_open = true, master_eof = false;
  int master = -1;
  char buf[8192], pend[4096]; /* pend: stdin bytes the master did not take yet */
  size_t pend_off = 0, pend_len = 0;

  for (;;) {
    struct pollfd p[P_N] = {
      [P_CHILD] = { .fd = child_done ? -1 : pidfd, .events = POLLIN },
      [P_SYNC] = { .fd = child_done ? -1 : S.sync_fd, .events = POLLRDHUP },
      [P_MASTER] = { .fd = master_eof ? -1 : master >= 0 ? master : pair_fd,
                     .events = POLLIN | (pend_len ? POLLOUT : 0) },
      [P_STDIN] = { .fd = master >= 0 && stdin_open && !pend_len ? 0 : -1, .events = POLLIN },
      [P_WINCH] = { .fd = sigfd, .events = POLLIN },
    };
    /* once the child is gone, whatever it wrote is already buffered: a short wait is enough (a
       leftover process holding the slave, without a pid namespace, must not keep us here) */
    int r = poll(p, P_N, child_done ? 100 : -1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (p[P_SYNC].revents & (POLLRDHUP | POLLHUP | POLLERR)) kill(pid, SIGKILL); /* Node is gone */
    if (p[P_CHILD].revents) child_done = true;
    if (p[P_WINCH].revents) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) > 0) {}
      if (master >= 0) copy_winsize(master);
    }
    if (master < 0 && !master_eof && p[P_MASTER].revents) {
      master = recv_master();
      if (master < 0) {
        master_eof = true; /* the child died before its CONSOLE op */
      } else {
        copy_winsize(master);
        if (isatty(0) && tcgetattr(0, &saved) == 0) {
          struct termios t = saved;
          cfmakeraw(&t);
          raw = tcsetattr(0, TCSANOW, &t) == 0;
        }
        int fl = fcntl(master, F_GETFL);
        fcntl(master, F_SETFL, fl | O_NONBLOCK);
      }
      continue;
    }
    if (master >= 0 && (p[P_MASTER].revents & POLLOUT) && pend_len) {
      ssize_t w = write(master, pend + pend_off, pend_len);
      if (w > 0) pend_off += (size_t)w, pend_len -= (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) pend_len = 0;
    }
    if (master >= 0 && (p[P_MASTER].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) put_all(1, buf, (size_t)n);
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) master_eof = true; /* EIO: no slave left */
    }
    if (p[P_STDIN].revents) {
      ssize_t n = read(0, pend, sizeof pend);
      if (n > 0) pend_off = 0, pend_len = (size_t)n;
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) stdin_open = false; /* EOF, POLLNVAL */
    }
    if (child_done && master_eof) break;
  }
  if (raw) tcsetattr(0, TCSANOW, &saved);
  if (master >= 0) close(master);
  if (sigfd >= 0) close(sigfd);
  close(pair_fd);
  pair_fd = -1;
}

/*
 * polis-monitor: the small process that stays with one container, as conmon does, when a person
 * runs `polis run|create --detach` with --logs/--log-path/--health-*. Never used when containerd,
 * CRI or podman drive polis (they pass none of those flags).
 *
 * It is a child subreaper that owns the read ends of the container's stdout/stderr pipes and runs
 * `polis create` with their write ends as its stdio, so that the init inherits them and, once the
 * shim and `polis create` exit, is reparented here. Then it
 *   - writes every line to the log file in the k8s-file format (`RFC3339Nano stream F|P text`),
 *     rotating by size; a log file deleted under it is recreated;
 *   - waits for the init, writes its exit status and time to <dir>/exit (Node imports that into
 *     the state database: the monitor links no SQLite), then runs `polis exited ID`;
 *   - runs `polis health ID` every --health-interval-ms (the check itself is Node's).
 * Everything polis-specific (what to check, what the exit means) stays in Node: this file only
 * moves bytes, keeps time and reaps children. One thread, one poll loop, no allocation after
 * start-up beyond argv.
 *
 * Usage (built by src/monitor/spawn.ts):
 *   polis-monitor --dir DIR --id ID --bundle B --log-path FILE [--log-max-size BYTES]
 *                 [--log-max-files N] [--health-interval-ms MS] [--sync-fd FD]
 *                 [--create-arg ARG]... -- POLIS-ARGV...
 * POLIS-ARGV is how to run polis (e.g. node /x/dist/polis.mjs --root R); subcommands are appended.
 * The parent reads one line from --sync-fd: "ok <init pid>" or "fail <exit code>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 8192       /* conmon's STDIO_BUF_SIZE: longer lines are written as P pieces */
#define OUT_BUF (64 * 1024)   /* records are gathered here and written with one write(2) */
#define DRAIN_MS 2000         /* after the init exits, how long stragglers may keep the pipes */
#define MAX_ARGS 64

static const char *dir, *id, *bundle, *log_path;
static long long log_max_size;  /* 0: never rotate */
static int log_max_files = 1;   /* files kept, the current one included (docker's max-file) */
static long health_interval_ms; /* 0: no health checks */
static int sync_fd = -1;
static char *polis_argv[MAX_ARGS];
static int polis_argc;
static char *create_args[MAX_ARGS];
static int create_argc;

/* Children reaped before we knew the init's pid (it can die before `polis create` exits). */
#define EARLY_MAX 16
static struct {
  pid_t pid;
  int status;
} early[EARLY_MAX];
static int early_n;

static int log_fd = -1;
static long long log_size;
static char out[OUT_BUF];
static size_t out_len;

static void warnx(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "polis-monitor: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

static _Noreturn void fail(const char *what) {
  warnx("%s: %s", what, strerror(errno));
  exit(125);
}

/* ---- the log file ---- */

static void open_log(void) {
  log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) fail(log_path);
  struct stat st;
  log_size = fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

static void write_all(int fd, const char *p, size_t n) {
  static int failing; /* say it once per run of failures, not once per line */
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (!failing) warnx("write %s: %s (output is dropped until writes work again)", log_path, strerror(errno));
      failing = 1; /* disk full: drop, keep the container going */
      return;
    }
    p += w;
    n -= (size_t)w;
  }
  if (failing) warnx("write %s: works again", log_path);
  failing = 0;
}

static void flush_out(void) {
  if (out_len == 0) return;
  /* Deleted under us (rm, a careless logrotate)? Start a new file where the user will look. */
  struct stat st;
  if (fstat(log_fd, &st) == 0 && st.st_nlink == 0) {
    close(log_fd);
    open_log();
  }
  write_all(log_fd, out, out_len);
  log_size += (long long)out_len;
  out_len = 0;
}

/* FILE -> FILE.1 -> … -> FILE.<max_files-1>; the oldest falls off. With one file: truncate. */
static void rotate(void) {
  char from[PATH_MAX], to[PATH_MAX];
  for (int i = log_max_files - 1; i >= 1; i--) {
    if (i == 1) snprintf(from, sizeof from, "%s", log_path);
    else snprintf(from, sizeof from, "%s.%d", log_path, i - 1);
    snprintf(to, sizeof to, "%s.%d", log_path, i);
    if (rename(from, to) < 0 && errno != ENOENT) warnx("rotate %s: %s", from, strerror(errno));
  }
  close(log_fd);
  if (log_max_files <= 1) {
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    if (log_fd < 0) fail(log_path);
    log_size = 0;
  } else {
    open_log();
  }
}

/* Append one record; rotate first if it would push the file over the limit. */
static void add_record(const char *ts, const char *stream, char tag, const char *text, size_t len) {
  size_t need = strlen(ts) + 1 + strlen(stream) + 3 + len + 1;
  if (log_max_size > 0 && log_size + (long long)out_len > 0 && log_size + (long long)(out_len + need) > log_max_size) {
    flush_out();
    rotate();
  }
  if (out_len + need > sizeof out) flush_out();
  /* need <= READ_CHUNK + ~50 < OUT_BUF: always fits after a flush */
  out_len += (size_t)sprintf(out + out_len, "%s %s %c ", ts, stream, tag);
  memcpy(out + out_len, text, len);
  out_len += len;
  out[out_len++] = '\n';
}

static void rfc3339_nano(char *buf, size_t size) {
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec, now.tv_nsec);
}

/* Read what a pipe has; returns 0 at EOF. Complete lines are F records, a tail without its
   newline a P record (the rest of the line follows in the next record), as conmon writes them. */
static int pump(int fd, const char *stream) {
  char buf[READ_CHUNK];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
  if (n == 0) return 0;
  char ts[96];
  rfc3339_nano(ts, sizeof ts);
  size_t start = 0;
  for (size_t i = 0; i < (size_t)n; i++) {
    if (buf[i] != '\n') continue;
    add_record(ts, stream, 'F', buf + start, i - start);
    start = i + 1;
  }
  if (start < (size_t)n) add_record(ts, stream, 'P', buf + start, (size_t)n - start);
  flush_out();
  return 1;
}

/* ---- children ---- */

static int devnull(void) {
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) fail("/dev/null");
  return fd;
}

/* fork + exec polis with `extra` appended; stdio as given (-1: /dev/null). With `tied`, the child
   is killed if the monitor dies first (a `polis create` must not finish for a monitor that is gone:
   delete --force could not find what it made). */
static pid_t run_polis(char *const extra[], int n_extra, int in, int outfd, int errfd, const sigset_t *oldmask, int tied) {
  char *argv[MAX_ARGS * 2 + 8];
  int a = 0;
  for (int i = 0; i < polis_argc; i++) argv[a++] = polis_argv[i];
  for (int i = 0; i < n_extra; i++) argv[a++] = extra[i];
  argv[a] = NULL;
  pid_t self = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    warnx("fork: %s", strerror(errno));
    return -1;
  }
  if (pid > 0) return pid;
  if (tied && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != self)) _exit(125);
  int null = devnull();
  dup2(in >= 0 ? in : null, 0);
  dup2(outfd >= 0 ? outfd : null, 1);
  dup2(errfd >= 0 ? errfd : null, 2);
  sigprocmask(SIG_SETMASK, oldmask, NULL);
  signal(SIGPIPE, SIG_DFL);
  execvp(argv[0], argv);
  dprintf(2, "polis-monitor: exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

static int status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

static void report_sync(const char *word, long value) {
  if (sync_fd < 0) return;
  prctl(PR_SET_PDEATHSIG, 0);
  dprintf(sync_fd, "%s %ld\n", word, value);
  close(sync_fd);
  sync_fd = -1;
}

static long read_pid_file(const char *path) {
  char buf[32] = {0};
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? strtol(buf, NULL, 10) : -1;
}

/* <dir>/exit, written whole then renamed, so Node never reads half of it. */
static void write_exit_file(int status) {
  char tmp[PATH_MAX], final[PATH_MAX], ts[96];
  snprintf(tmp, sizeof tmp, "%s/exit.tmp", dir);
  snprintf(final, sizeof final, "%s/exit", dir);
  rfc3339_nano(ts, sizeof ts);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    warnx("%s: %s", tmp, strerror(errno));
    return;
  }
  dprintf(fd, "exitCode %d\nsignal %d\nfinishedAt %s\n", status_code(status), WIFSIGNALED(status) ? WTERMSIG(status) : 0,
          ts);
  fsync(fd);
  close(fd);
  if (rename(tmp, final) < 0) warnx("rename %s: %s", tmp, strerror(errno));
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- arguments ---- */

static void usage(void) {
  warnx("usage: polis-monitor --dir DIR --id ID --bundle B --log-path FILE [--log-max-size N] [--log-max-files N] "
        "[--health-interval-ms MS] [--sync-fd FD] [--create-arg A]... -- POLIS-ARGV...");
  exit(125);
}

static long long number(const char *flag, const char *v) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || *end || n < 0) {
    warnx("%s: not a number: %s", flag, v);
    exit(125);
  }
  return n;
}

static void parse_args(int argc, char **argv) {
  int i = 1;
  for (; i < argc; i++) {
    const char *f = argv[i];
    if (strcmp(f, "--") == 0) {
      i++;
      break;
    }
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (strcmp(f, "--dir") == 0) dir = v;
    else if (strcmp(f, "--id") == 0) id = v;
    else if (strcmp(f, "--bundle") == 0) bundle = v;
    else if (strcmp(f, "--log-path") == 0) log_path = v;
    else if (strcmp(f, "--log-max-size") == 0) log_max_size = number(f, v);
    else if (strcmp(f, "--log-max-files") == 0) log_max_files = (int)number(f, v);
    else if (strcmp(f, "--health-interval-ms") == 0) health_interval_ms = (long)number(f, v);
    else if (strcmp(f, "--sync-fd") == 0) sync_fd = (int)number(f, v);
    else if (strcmp(f, "--create-arg") == 0 && create_argc < MAX_ARGS - 1) create_args[create_argc++] = (char *)v;
    else usage();
  }
  for (; i < argc && polis_argc < MAX_ARGS - 1; i++) polis_argv[polis_argc++] = argv[i];
  if (!dir || !id || !bundle || !log_path || polis_argc == 0) usage();
  if (log_max_files < 1) log_max_files = 1;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (sync_fd >= 0) fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
  if (chdir("/") < 0) fail("chdir /");
  /* Orphans of the container (its init, once the shim and `polis create` exit) become ours. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) fail("PR_SET_CHILD_SUBREAPER");
  /* Until the create is reported, we belong to the `polis run|create` that started us: if it is
     killed, so is the create we run (SIGTERM below stops it), and delete --force finds nothing
     still being made. Cleared before the report, so that its normal exit never reaches us. */
  if (sync_fd >= 0 && prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) fail("PR_SET_PDEATHSIG");

  sigset_t mask, oldmask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, &oldmask);
  signal(SIGPIPE, SIG_IGN);
  int sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) fail("signalfd");

  open_log();

  int opipe[2], epipe[2];
  if (pipe2(opipe, O_CLOEXEC) < 0 || pipe2(epipe, O_CLOEXEC) < 0) fail("pipe");
  char pid_file[PATH_MAX], create_log[PATH_MAX];
  snprintf(pid_file, sizeof pid_file, "%s/init.pid", dir);
  snprintf(create_log, sizeof create_log, "%s/create.log", dir);

  /* polis [--root R] --log DIR/create.log --log-format json create --bundle B --pid-file F [args] ID */
  char *create[MAX_ARGS + 12];
  int c = 0;
  create[c++] = "--log";
  create[c++] = create_log;
  create[c++] = "--log-format";
  create[c++] = "json";
  create[c++] = "create";
  create[c++] = "--bundle";
  create[c++] = (char *)bundle;
  create[c++] = "--pid-file";
  create[c++] = pid_file;
  for (int i = 0; i < create_argc; i++) create[c++] = create_args[i];
  create[c++] = (char *)id;
  pid_t creator = run_polis(create, c, -1, opipe[1], epipe[1], &oldmask, 1);
  if (creator < 0) {
    report_sync("fail", 125);
    return 125;
  }
  close(opipe[1]);
  close(epipe[1]);

  int health_fd = -1;
  if (health_interval_ms > 0) {
    health_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (health_fd < 0) fail("timerfd_create");
  }

  pid_t init = 0, health = 0;
  int exit_status = 0; /* the init's, written out once its output is drained (init_done) */
  int streams_open = 2;
  int init_done = 0, create_failed = 0;
  long long drain_until = 0;
  struct pollfd p[4];
  for (;;) {
    int timeout = -1;
    if (init_done || create_failed) {
      long long left = drain_until - now_ms();
      if (streams_open == 0 || left <= 0) break;
      timeout = (int)left;
    }
    p[0] = (struct pollfd){.fd = opipe[0], .events = POLLIN};
    p[1] = (struct pollfd){.fd = epipe[0], .events = POLLIN};
    p[2] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    p[3] = (struct pollfd){.fd = health_fd, .events = POLLIN};
    int n = poll(p, 4, timeout);
    if (n < 0 && errno != EINTR) fail("poll");
    if (n <= 0) continue;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!pump(opipe[0], "stdout")) {
        close(opipe[0]);
        opipe[0] = -1;
        streams_open--;
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!pump(epipe[0], "stderr")) {
        close(epipe[0]);
        epipe[0] = -1;
        streams_open--;
      }
    }
    if (p[3].revents & POLLIN) {
      unsigned long long ticks;
      if (read(health_fd, &ticks, sizeof ticks) < 0) { /* nothing: a spurious wake-up */
      }
      /* One check at a time: a slow check delays the next tick rather than piling up. */
      if (health == 0 && init > 0 && !init_done) {
        char *args[] = {"health", "--scheduled", (char *)id};
        health = run_polis(args, 3, -1, -1, -1, &oldmask, 1);
        if (health < 0) health = 0;
      }
    }
    if (p[2].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo != SIGCHLD) {
          /* delete stops us: keep what was written, leave the container alone. A `polis create`
             still running is stopped first, so that nothing it makes appears after we are gone. */
          if (creator > 0) {
            kill(creator, SIGKILL);
            while (waitpid(creator, NULL, 0) < 0 && errno == EINTR) {
            }
          }
          flush_out();
          return 0;
        }
      }
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == creator) {
          creator = 0;
          if (status_code(status) != 0) {
            report_sync("fail", status_code(status));
            create_failed = 1;
            drain_until = now_ms() + 200;
            continue;
          }
          init = (pid_t)read_pid_file(pid_file);
          report_sync("ok", init);
          if (init <= 0) {
            warnx("no init pid in %s", pid_file);
            create_failed = 1;
            drain_until = now_ms();
            continue;
          }
          for (int i = 0; i < early_n; i++) {
            if (early[i].pid != init) continue;
            exit_status = early[i].status;
            init_done = 1;
            drain_until = now_ms() + DRAIN_MS;
          }
          if (health_fd >= 0) {
            struct itimerspec its = {.it_interval = {health_interval_ms / 1000, (health_interval_ms % 1000) * 1000000},
                                     .it_value = {health_interval_ms / 1000, (health_interval_ms % 1000) * 1000000}};
            timerfd_settime(health_fd, 0, &its, NULL);
          }
        } else if (pid == init) {
          exit_status = status;
          init_done = 1;
          drain_until = now_ms() + DRAIN_MS;
        } else if (pid == health) {
          health = 0;
        } else if (init == 0 && creator != 0) {
          early[early_n % EARLY_MAX].pid = pid;
          early[early_n % EARLY_MAX].status = status;
          if (early_n < EARLY_MAX) early_n++;
        }
        /* anything else: an orphan of the container, reaped so it leaves no zombie */
      }
    }
  }
  flush_out();
  if (init_done) {
    /* Only now, with the output drained and written: whoever sees the exit (inspect, logs after
       `wait`) sees the whole log, and no rotation happens after it. */
    write_exit_file(exit_status);
    /* Let Node import the exit into the state database (exit event, OOM, on-exit actions). */
    char *args[] = {"exited", (char *)id};
    pid_t hook = run_polis(args, 2, -1, -1, 2, &oldmask, 0);
    int status;
    while (hook > 0 && waitpid(-1, &status, 0) != hook) {
    }
    return 0;
  }
  return create_failed ? 1 : 0;
}

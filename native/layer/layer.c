/* polis-layer: unpacks one image layer into a directory, for src/image/unpack.ts.
 *
 *   polis-layer --target DIR --mode overlay|apply [--lower DIR]... [--from FILE]
 *
 * The layer (gzip, zstd or plain tar, told by its magic number) comes from FILE, or from stdin
 * (a pull feeds a small base layer while it downloads). In "apply" mode it is written onto a
 * root filesystem (OCI whiteouts delete what lower layers put there); in "overlay" mode into a
 * fresh directory that overlayfs stacks over the --lower ones (topmost first): whiteouts become
 * overlayfs's own. Every path stays inside DIR; symlinked parents resolve inside the root
 * filesystem (through the lowers in overlay mode).
 *
 * The report is the whole of stdout, one line:
 *   ok sha256:<hex of the uncompressed tar> <tar bytes> <entries>
 *   error entry "<name>": <message>    or    error <message>    (exit 1; DIR may hold part of the layer)
 * No JSON, no partial reports. Node (unpack.ts) puts "layer <digest>" before the message (it may
 * start an unpacker before it knows which layer it will feed it) and checks the diffId against
 * the image config.
 * The process dies with its parent (PR_SET_PDEATHSIG): a killed pull leaves no writer behind. */
#include "layer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static char *current;

void set_current(const char *name) {
  free(current);
  current = name ? xstrdup(name) : NULL;
}

static _Noreturn void report_error(const char *msg) {
  char *line = current ? xasprintf("error entry \"%s\": %s\n", current, msg) : xasprintf("error %s\n", msg);
  size_t len = strlen(line), off = 0;
  while (off < len) {
    ssize_t n = write(1, line + off, len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    off += (size_t)n;
  }
  _exit(1);
}

void fail(const char *fmt, ...) {
  va_list ap;
  char *msg;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = (char *)"out of memory";
  va_end(ap);
  report_error(msg);
}

/* libuv's texts for the errors a layer can meet (node's fs messages use them) */
static const char *uv_text(int e) {
  switch (e) {
  case EPERM: return "operation not permitted";
  case ENOENT: return "no such file or directory";
  case EIO: return "i/o error";
  case EBADF: return "bad file descriptor";
  case ENOMEM: return "not enough memory";
  case EACCES: return "permission denied";
  case EBUSY: return "resource busy or locked";
  case EEXIST: return "file already exists";
  case EXDEV: return "cross-device link not permitted";
  case ENOTDIR: return "not a directory";
  case EISDIR: return "illegal operation on a directory";
  case EINVAL: return "invalid argument";
  case EMFILE: return "too many open files";
  case EFBIG: return "file too large";
  case ENOSPC: return "no space left on device";
  case EROFS: return "read-only file system";
  case EMLINK: return "too many links";
  case ENAMETOOLONG: return "name too long";
  case ENOTEMPTY: return "directory not empty";
  case ELOOP: return "too many symbolic links encountered";
  case EOPNOTSUPP: return "operation not supported on socket";
  case EDQUOT: return "disk quota exceeded";
  default: return strerror(e);
  }
}

static const char *errno_name(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "EUNKNOWN";
}

void fail_sys(const char *syscall, const char *path) {
  int e = errno;
  fail("%s: %s, %s '%s'", errno_name(e), uv_text(e), syscall, path);
}

void fail_sys2(const char *syscall, const char *from, const char *to) {
  int e = errno;
  fail("%s: %s, %s '%s' -> '%s'", errno_name(e), uv_text(e), syscall, from, to);
}

void fail_libc(const char *what) {
  int e = errno;
  fail("%s: %s", what, errno_name(e));
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    fail("out of memory");
  return p;
}

void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p)
    fail("out of memory");
  return p;
}

char *xstrdup(const char *s) {
  char *d = strdup(s);
  if (!d)
    fail("out of memory");
  return d;
}

char *xasprintf(const char *fmt, ...) {
  va_list ap;
  char *s;
  va_start(ap, fmt);
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0)
    fail("out of memory");
  return s;
}

static _Noreturn void usage(const char *why) {
  fail("polis-layer: %s (usage: polis-layer --target DIR --mode overlay|apply [--lower DIR]... [--from FILE])", why);
}

int main(int argc, char **argv) {
  const char *target = NULL, *mode = NULL, *from = NULL;
  char **lowers = xmalloc(sizeof(char *) * (size_t)argc);
  int nlowers = 0;

  /* a killed parent (node SIGKILLed half-way) must not leave a writer in its temp dir */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc)
      usage(xasprintf("%s needs a value", a));
    const char *v = argv[++i];
    if (!strcmp(a, "--target"))
      target = v;
    else if (!strcmp(a, "--mode"))
      mode = v;
    else if (!strcmp(a, "--lower"))
      lowers[nlowers++] = (char *)v;
    else if (!strcmp(a, "--from"))
      from = v;
    else
      usage(xasprintf("unknown option %s", a));
  }
  if (!target)
    usage("--target is missing");
  if (!mode || (strcmp(mode, "overlay") && strcmp(mode, "apply")))
    usage("--mode must be overlay or apply");

  int fd = 0;
  if (from && (fd = open(from, O_RDONLY | O_CLOEXEC)) < 0)
    fail_sys("open", from);
  unpack_init(target, !strcmp(mode, "overlay"), lowers, nlowers);
  source_open(fd);
  tar_read();
  unpack_finish();

  char digest[72];
  source_digest(digest);
  printf("ok %s %llu %llu\n", digest, (unsigned long long)source_size(), unpack_count);
  if (fflush(stdout) != 0)
    _exit(1);
  return 0;
}

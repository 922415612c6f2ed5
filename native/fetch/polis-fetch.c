/*
 * polis-fetch: one blob download from a registry, so that the blob's bytes never go through
 * node (its http hands every socket read to V8 as a Buffer, freed only at a GC that a pull
 * rarely reaches: megabytes of a pull's peak RSS). src/image/fetch-blob.ts runs it for a
 * registry it speaks plain HTTP or HTTPS to; proxies and every answer but the expected one stay
 * node's (auth retries, redirects and all error texts live there, in one place).
 *
 * One HTTP/1.1 GET over TCP, or over TLS 1.2+ (OpenSSL 3's libssl) for an https:// URL: SNI
 * and the certificate checked against the host name or IP address, trusting OpenSSL's default
 * store (its hashed directory) plus each --ca-file, or nothing checked with --insecure. Node's trust store is not
 * OpenSSL's: a certificate refused here is reported as `tls`, and node downloads the blob after
 * its own check, which stays the one that decides. The body is appended to --file from the file's current size: a
 * Range request `bytes=N-` when N > 0 (the existing N bytes are hashed first), and a server that
 * ignores the Range (200) starts the file over. The final size and sha256 are checked against
 * --size and --digest, and the file is fsynced before `ok` is reported. --tee also copies every
 * body byte to stdout (a pipe into the unpacker); a reader that goes away (EPIPE) stops the copy,
 * not the download. Body framing: Content-Length, chunked, or up to the close.
 *
 * Usage:
 *   polis-fetch --url http[s]://HOST[:PORT]/PATH --file PATH --size BYTES --digest sha256:HEX
 *               [--header "Name: value"]... [--header-fd FD] [--tee] [--timeout-ms MS] [--parent PID]
 *               [--insecure | --ca-file FILE...]
 * --ca-file: PEM certificates trusted beside the default store (one that cannot be read is skipped:
 * the handshake then fails as `tls` and node decides).
 * --header-fd: more headers, one "Name: value" line each, read from FD up to its end. polis passes
 * its headers (Authorization among them) that way on stdin: argv is readable by every user
 * (/proc/PID/cmdline).
 * It exits 0 after writing ONE line on fd 3 (never on stdout, which may be the tee):
 *   ok <bytes> sha256:<hex> [restarted]   the file is whole and verified; `restarted`: the server
 *                                         ignored the Range, the file (and the tee) started over
 *   status <code>                         any answer but 200 (206 to a Range): node's turn
 *   proto <text>                          an answer that is not HTTP as expected (node's parser
 *                                         would refuse it, or it is framed two ways): node's turn
 *   tls <text>                            the TLS handshake failed (the certificate did not verify
 *                                         here, a protocol error): node's turn
 *   net <CODE> <text>                     connect, reset, timeout: resume later (node's retry loop)
 *   over <bytes>                          the body is longer than --size
 *   short <bytes>                         the body ended with fewer than --size bytes
 *   digest sha256:<hex>                   the content's digest is not --digest
 *   file <CODE> <text>                    the local file failed (ENOSPC...)
 * A usage error exits 2 with a message on stderr. It dies with its parent (PR_SET_PDEATHSIG;
 * --parent: the pid that started it, so that a parent gone before the prctl counts too). The
 * file must exist (the caller names and creates it).
 *
 * Session mode: the registry's other requests (the /v2/ ping, tokens, manifests, the config),
 * so that node opens no TLS connection of its own (node's TLS context holds its ~140 parsed root
 * certificates: over a MiB of a pull's peak RSS). src/image/native-http.ts is its node side.
 *   polis-fetch --session [--timeout-ms MS] [--parent PID] [--insecure | --ca-file FILE...]
 * GETs come on stdin, one after the other (the next one once the answer is out), each a line
 * "GET <url>", then "Name: value" lines, then an empty line; stdin's end ends the session. They
 * go over kept-alive connections (a few, one per origin: a redirect's host, a token server).
 * Each answer goes to stdout as frames, a line each, the first two followed by <n> bytes:
 *   head <n>                 the status line and header lines, CRLF between them
 *   body <n>                 the body's next <n> bytes (chunked or not, decoded); "body 0" ends it
 *   error net <CODE> <text>  connect, DNS, reset, timeout: node's code and node's text for it
 *   error tls <text>         the handshake failed (the certificate, the protocol): node's turn
 *   error proto <text>       an answer that is not HTTP/1 as expected
 * (an error may follow body frames: the connection was lost midway). A connection kept alive
 * that the server closed meanwhile is found before reuse, or the request is sent again once on a
 * fresh one when that connection ends (reset, closed) before the answer's first byte.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
/* SHA256_Init & co.: deprecated in OpenSSL 3 for the EVP calls, which start the provider machinery
 * (~1.5 ms of CPU per process); these go straight to the same assembly (SHA-NI here). Before
 * fetch.h: its openssl/ssl.h would read OpenSSL's deprecation macros first. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "fetch.h"

#define REPORT_FD 3
#define DEFAULT_TIMEOUT_MS 300000 /* src/image/http.ts IDLE_TIMEOUT_MS: no byte for this long */
#define MAX_CA_FILES 32

/* The arguments; those without `static` are shared with the other files (fetch.h says why). */
static const char *url, *file, *digest_arg;
long long size_arg = -1;
const char *headers[MAX_HEADERS];
int n_headers, timeout_ms = DEFAULT_TIMEOUT_MS;
static int tee_arg;
static pid_t parent_pid;
static int header_fd = -1;
const char *ca_files[MAX_CA_FILES];
int n_ca_files, insecure_arg;
static char header_text[HEAD_MAX];

/* --session: every failure goes back to the request loop (failure[], the line) instead of fd 3 */
int session;
jmp_buf request_failed;
char failure[512];

static int fd = -1;
static SHA256_CTX sha;
long long have; /* bytes in the file */
static int teeing; /* still copying to stdout */
static int restarted;

/* The one report line, then exit 0. */
__attribute__((noreturn, format(printf, 1, 2))) void report(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  if (session) {
    memcpy(failure, line, (size_t)n + 1);
    longjmp(request_failed, 1);
  }
  line[n++] = '\n';
  for (int off = 0; off < n;) {
    ssize_t w = write(REPORT_FD, line + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(1);
    off += (int)w;
  }
  _exit(0);
}

__attribute__((noreturn, format(printf, 1, 2))) void usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("polis-fetch: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n", stderr);
  va_end(ap);
  _exit(2);
}

__attribute__((noreturn)) static void file_fail(int e) {
  report("file %s %s: %s", errname(e), file, strerror(e));
}

static void write_all(int to, const unsigned char *p, size_t n, int is_tee) {
  while (n > 0) {
    ssize_t w = write(to, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      if (!is_tee) file_fail(errno);
      teeing = 0; /* the reader went away (EPIPE): the download goes on */
      close(1);
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

/* A piece of the body: checked against --size, copied to the tee, hashed, appended to the file;
 * in a session, a frame for node. (`size_arg - have`, never `have + n`: a length from the
 * server may be near LLONG_MAX.) */
void body(const unsigned char *p, size_t n) {
  if (n == 0) return;
  if ((long long)n > size_arg - have) too_long();
  if (session) {
    frame("body", p, n);
    have += (long long)n;
    return;
  }
  if (teeing) write_all(1, p, n, 1);
  SHA256_Update(&sha, p, n);
  write_all(fd, p, n, 0);
  have += (long long)n;
}

/* The file's existing bytes: hashed, so that the digest covers them. */
static void hash_prefix(void) {
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof buf, have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) file_fail(errno);
    if (n == 0) return;
    SHA256_Update(&sha, buf, (size_t)n);
    have += n;
  }
}

/* A 200 to a Range request: the file and the hash start over; the tee stops (its reader has the old start). */
static void start_over(void) {
  if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) file_fail(errno);
  SHA256_Init(&sha);
  have = 0;
  restarted = 1;
  if (teeing) {
    teeing = 0;
    close(1);
  }
}

/* --header-fd: "Name: value" lines up to the end of the fd, added to --header's. */
static void read_header_fd(void) {
  size_t len = 0;
  for (;;) {
    if (len == sizeof header_text - 1) usage("--header-fd: more than %zu bytes", sizeof header_text - 1);
    ssize_t n = read(header_fd, header_text + len, sizeof header_text - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) usage("--header-fd %d: %s", header_fd, strerror(errno));
    if (n == 0) break;
    len += (size_t)n;
  }
  header_text[len] = '\0';
  for (char *line = header_text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    if (!*line) continue;
    if (strchr(line, '\r') || !strchr(line, ':')) usage("--header-fd: a line that is not \"Name: value\"");
    if (n_headers == MAX_HEADERS) usage("more than %d headers", MAX_HEADERS);
    headers[n_headers++] = line;
  }
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--tee")) {
      tee_arg = 1;
      continue;
    }
    if (!strcmp(a, "--insecure")) {
      insecure_arg = 1;
      continue;
    }
    if (!strcmp(a, "--session")) {
      session = 1;
      continue;
    }
    if (i + 1 >= argc) usage("%s needs a value", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--url")) url = v;
    else if (!strcmp(a, "--file")) file = v;
    else if (!strcmp(a, "--digest")) digest_arg = v;
    else if (!strcmp(a, "--size")) {
      char *e;
      size_arg = strtoll(v, &e, 10);
      if (e == v || *e || size_arg < 0) usage("--size %s: not a byte count", v);
    } else if (!strcmp(a, "--timeout-ms")) {
      timeout_ms = atoi(v);
      if (timeout_ms <= 0) usage("--timeout-ms %s: not a positive number", v);
    } else if (!strcmp(a, "--header-fd")) {
      header_fd = atoi(v);
    } else if (!strcmp(a, "--parent")) {
      parent_pid = atoi(v);
    } else if (!strcmp(a, "--ca-file")) {
      if (n_ca_files == MAX_CA_FILES) usage("more than %d --ca-file", MAX_CA_FILES);
      ca_files[n_ca_files++] = v;
    } else if (!strcmp(a, "--header")) {
      if (n_headers == MAX_HEADERS) usage("more than %d --header", MAX_HEADERS);
      if (strpbrk(v, "\r\n") || !strchr(v, ':')) usage("--header %s: not one \"Name: value\" line", v);
      headers[n_headers++] = v;
    } else usage("unknown argument %s", a);
  }
  if (insecure_arg && n_ca_files) usage("--insecure and --ca-file: one or the other");
  if (session && (url || file || digest_arg || tee_arg || n_headers || header_fd >= 0))
    usage("--session takes its URLs and headers on stdin");
  if (session) return;
  if (!url || !file || !digest_arg || size_arg < 0) usage("--url, --file, --size and --digest are required");
  if (header_fd >= 0) read_header_fd();
  if (strncmp(digest_arg, "sha256:", 7) != 0 || strlen(digest_arg) != 71) usage("--digest %s: not sha256:<64 hex>", digest_arg);
}

int main(int argc, char **argv) {
  /* gone with the pull that started it: a killed polis leaves only the partial file, which
   * the next pull resumes (its name carries polis's pid, not ours) */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  parse_args(argc, argv);
  if (parent_pid > 0 && getppid() != parent_pid) _exit(1); /* it died before the prctl */
  if (session) session_main();
  if (fcntl(REPORT_FD, F_GETFD) < 0) usage("fd %d (the report) is not open", REPORT_FD);
  static struct target t;
  parse_target(url, &t);

  /* never created here: a file renamed away (a later pull claimed it) must stay gone */
  fd = open(file, O_RDWR | O_CLOEXEC);
  if (fd < 0) file_fail(errno);
  SHA256_Init(&sha);
  hash_prefix();
  if (lseek(fd, 0, SEEK_END) < 0) file_fail(errno);
  teeing = tee_arg;

  if (have < size_arg || size_arg == 0) {
    connect_to(t.host, t.port);
    if (t.https) start_tls(t.host);
    send_request(t.host_header, t.path);
    int chunked;
    long long length, range_start;
    int status = read_head(&chunked, &length, &range_start);
    if (have > 0 && status == 200) start_over();
    else if (have > 0 && status == 206) {
      if (range_start != have) report("proto a 206 for bytes %lld- when %lld- was asked", range_start, have);
    } else if (status != 200) report("status %d", status);
    if (chunked) read_chunked();
    else if (length >= 0) read_length(length);
    else read_to_close();
  }

  if (have > size_arg) report("over %lld", size_arg);
  if (have < size_arg) report("short %lld", have);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, &sha);
  char hex[2 * SHA256_DIGEST_LENGTH + 1];
  for (unsigned i = 0; i < SHA256_DIGEST_LENGTH; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  if (strcmp(hex, digest_arg + 7) != 0) report("digest sha256:%s", hex);
  if (fsync(fd) < 0) file_fail(errno);
  report("ok %lld sha256:%s%s", have, hex, restarted ? " restarted" : "");
}

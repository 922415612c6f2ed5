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
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
/* SHA256_Init & co.: deprecated in OpenSSL 3 for the EVP calls, which start the provider machinery
 * (~1.5 ms of CPU per process); these go straight to the same assembly (SHA-NI here). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPORT_FD 3
#define BUF_SIZE (256 * 1024) /* socket reads; file reads when hashing a prefix */
#define HEAD_MAX (16 * 1024)  /* node's default maximum header size */
#define MAX_HEADERS 32
#define DEFAULT_TIMEOUT_MS 300000 /* src/image/http.ts IDLE_TIMEOUT_MS: no byte for this long */
#define MAX_CA_FILES 32

static const char *url, *file, *digest_arg;
static long long size_arg = -1;
static const char *headers[MAX_HEADERS];
static int n_headers, tee_arg, timeout_ms = DEFAULT_TIMEOUT_MS;
static pid_t parent_pid;
static int header_fd = -1;
static const char *ca_files[MAX_CA_FILES];
static int n_ca_files, insecure_arg;
static char header_text[HEAD_MAX];

/* --session: every failure goes back to the request loop (failure[], the line) instead of fd 3 */
static int session;
static jmp_buf request_failed;
static char failure[512];
static int answered; /* a byte of the answer came on this connection (no silent resend then) */
static char peer[80]; /* "ADDR:PORT" connected to: node's "connect ECONNREFUSED ADDR:PORT" */

static int sock = -1, fd = -1;
static SSL *ssl; /* https: every read and write of the socket goes through it */
static SHA256_CTX sha;
static long long have; /* bytes in the file */
static int teeing;     /* still copying to stdout */
static int restarted;
static unsigned char buf[BUF_SIZE];

/* The one report line, then exit 0. */
__attribute__((noreturn, format(printf, 1, 2))) static void report(const char *fmt, ...) {
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

__attribute__((noreturn, format(printf, 1, 2))) static void usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("polis-fetch: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n", stderr);
  va_end(ap);
  _exit(2);
}

static const char *errname(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "EIO";
}

/* A system call on the connection failed. A session says it as node does ("connect ECONNREFUSED
 * 127.0.0.1:5000", "read ECONNRESET"): registry.ts reads node's codes and shows node's texts. */
__attribute__((noreturn)) static void net_fail(int e, const char *what) {
  if (!session) report("net %s %s: %s", errname(e), what, strerror(e));
  if (!strcmp(what, "connect")) report("net %s connect %s %s", errname(e), errname(e), peer);
  report("net %s %s %s", errname(e), what, errname(e));
}

/* The connection ended where it should not have: `text` here, node's own words in a session. */
__attribute__((noreturn)) static void net_lost(const char *what, const char *text, const char *node_text) {
  if (session) report("net ECONNRESET %s", node_text);
  report("net ECONNRESET %s: %s", what, text);
}

__attribute__((noreturn)) static void file_fail(int e) {
  report("file %s %s: %s", errname(e), file, strerror(e));
}

/* Waits until the socket is ready for `events`, at most timeout_ms. */
static void wait_for(short events, const char *what) {
  struct pollfd p = {.fd = sock, .events = events};
  for (;;) {
    int n = poll(&p, 1, timeout_ms);
    if (n > 0) return;
    /* a session's text is http.ts's own for node's socket timeout */
    if (n == 0 && timeout_ms % 1000 == 0)
      report("net ETIMEDOUT %s%sno answer for %d s", session ? "" : what, session ? "" : ": ", timeout_ms / 1000);
    if (n == 0) report("net ETIMEDOUT %s%sno answer for %d ms", session ? "" : what, session ? "" : ": ", timeout_ms);
    if (errno != EINTR) net_fail(errno, what);
  }
}

/* An SSL call that wants the socket readable or writable waits for it; false for a real error. */
static int ssl_wait(int rc, const char *what) {
  int e = SSL_get_error(ssl, rc);
  if (e == SSL_ERROR_WANT_READ) wait_for(POLLIN, what);
  else if (e == SSL_ERROR_WANT_WRITE) wait_for(POLLOUT, what);
  else if (e == SSL_ERROR_SYSCALL && errno) net_fail(errno, what);
  else return 0;
  return 1;
}

/* The text of OpenSSL's last error (the queue's earliest reason). */
static const char *ssl_text(void) {
  unsigned long e = ERR_peek_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  return r ? r : "TLS error";
}

/* Reads what the socket has (waiting for it); 0 at the end of the stream. */
static size_t sock_read(void *into, size_t cap) {
  while (ssl) {
    size_t n;
    int rc = SSL_read_ex(ssl, into, cap, &n);
    if (rc == 1) return n;
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) return 0;
    if (!ssl_wait(rc, "read")) report("net EPROTO read: %s", ssl_text());
  }
  for (;;) {
    ssize_t n = read(sock, into, cap);
    if (n >= 0) return (size_t)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_for(POLLIN, "read");
      continue;
    }
    if (errno != EINTR) net_fail(errno, "read");
  }
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

/* All of p to stdout in a session: node reads it; node gone, the session is over. */
static void out_all(const void *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(1);
    p = (const char *)p + w;
    n -= (size_t)w;
  }
}

/* A session's frame: "<word> <n>" and a newline, then the n bytes, in one write when it can. */
static void frame(const char *word, const void *p, size_t n) {
  char line[32];
  int l = snprintf(line, sizeof line, "%s %zu\n", word, n);
  struct iovec v[2] = {{line, (size_t)l}, {(void *)p, n}};
  ssize_t w;
  do w = writev(1, v, n ? 2 : 1);
  while (w < 0 && errno == EINTR);
  if (w < 0) _exit(1);
  if (w < l) {
    out_all(line + w, (size_t)(l - w));
    out_all(p, n);
  } else {
    out_all((const char *)p + (w - l), n - (size_t)(w - l));
  }
}

/* More body than --size: `over` for a download. A session's limit is its own (node limits what
 * it reads): an answer past it is not HTTP as expected. */
__attribute__((noreturn)) static void too_long(void) {
  if (session) report("proto a body longer than %lld bytes", size_arg);
  report("over %lld", size_arg);
}

/* A piece of the body: checked against --size, copied to the tee, hashed, appended to the file;
 * in a session, a frame for node. (`size_arg - have`, never `have + n`: a length from the
 * server may be near LLONG_MAX.) */
static void body(const unsigned char *p, size_t n) {
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

/* The buffered bytes of the response not yet consumed (the head's read brings some body too). */
static unsigned char *pending;
static size_t pending_len;

static size_t next_bytes(unsigned char **p, size_t want) {
  if (pending_len == 0) {
    pending = buf;
    pending_len = sock_read(buf, sizeof buf);
    if (pending_len == 0) return 0;
  }
  size_t n = pending_len < want ? pending_len : want;
  *p = pending;
  pending += n;
  pending_len -= n;
  return n;
}

__attribute__((noreturn)) static void cut_short(void) {
  net_lost("read", "the connection closed before the whole body", "the connection closed before the whole body");
}

/* One CRLF-terminated line of a chunked body (sizes, trailers) into `line`. */
static void chunk_line(char *line, size_t cap) {
  size_t len = 0;
  for (;;) {
    unsigned char *p;
    if (next_bytes(&p, 1) == 0) cut_short();
    if (*p == '\n') break;
    if (len + 1 >= cap) report("proto chunked body: a line longer than %zu bytes", cap);
    line[len++] = (char)*p;
  }
  if (len > 0 && line[len - 1] == '\r') len--;
  line[len] = '\0';
}

/* A chunk-size line's size: hex digits, then a chunk extension (";...") or nothing, as node's
 * parser takes it (no sign, "0x", spaces or overflow, which strtoull would let through). */
static unsigned long long chunk_size(const char *line) {
  unsigned long long n = 0;
  const char *p = line;
  for (; isxdigit((unsigned char)*p); p++) {
    if (n >> 60) report("proto chunked body: bad chunk size");
    n = n * 16 + (unsigned long long)(isdigit((unsigned char)*p) ? *p - '0' : (*p | 0x20) - 'a' + 10);
  }
  if (p == line || (*p && *p != ';')) report("proto chunked body: bad chunk size");
  return n;
}

static void read_chunked(void) {
  char line[1024];
  for (;;) {
    chunk_line(line, sizeof line);
    unsigned long long n = chunk_size(line);
    if (n == 0) break;
    if (n > (unsigned long long)(size_arg - have)) too_long();
    while (n > 0) {
      unsigned char *p;
      size_t got = next_bytes(&p, n > BUF_SIZE ? BUF_SIZE : (size_t)n);
      if (got == 0) cut_short();
      body(p, got);
      n -= got;
    }
    chunk_line(line, sizeof line);
    if (line[0]) report("proto chunked body: no CRLF after a chunk");
  }
  do chunk_line(line, sizeof line); /* trailers, up to the empty line */
  while (line[0]);
}

static void read_length(long long length) {
  if (length > size_arg - have) too_long();
  while (length > 0) {
    unsigned char *p;
    size_t got = next_bytes(&p, length > BUF_SIZE ? BUF_SIZE : (size_t)length);
    if (got == 0) cut_short();
    body(p, got);
    length -= (long long)got;
  }
}

static void read_to_close(void) {
  unsigned char *p;
  size_t got;
  while ((got = next_bytes(&p, BUF_SIZE)) > 0) body(p, got);
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

static void connect_to(const char *host, const char *port) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    const char *code = rc == EAI_AGAIN ? "EAI_AGAIN" : rc == EAI_SYSTEM ? errname(errno) : "ENOTFOUND";
    if (session) report("net %s getaddrinfo %s %s", code, code, host);
    report("net %s getaddrinfo %s: %s", code, host, gai_strerror(rc));
  }
  int last = ECONNREFUSED, first = 0, tried = 0;
  /* node's text when several addresses all failed: each attempt's, in order, the first one's code */
  char all[400] = "";
  for (struct addrinfo *a = res; a; a = a->ai_next, tried++) {
    if (tried && first == 0) first = last;
    if (tried) {
      size_t at = strlen(all);
      snprintf(all + at, sizeof all - at, "%sconnect %s %s", at ? ", " : "", errname(last), peer);
    }
    char addr[INET6_ADDRSTRLEN] = "?";
    const void *in = a->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr
                                              : (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr;
    inet_ntop(a->ai_family, in, addr, sizeof addr);
    snprintf(peer, sizeof peer, "%s:%s", addr, port);
    sock = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (sock < 0) {
      last = errno;
      continue;
    }
    /* TLS 1.3 sends its Finished and then the request: without this, the request waits for
     * the server's delayed ACK of the Finished (Nagle, ~40 ms); node's http sets it too */
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    if (connect(sock, a->ai_addr, a->ai_addrlen) == 0) break;
    if (errno == EINPROGRESS) {
      wait_for(POLLOUT, "connect");
      socklen_t len = sizeof last;
      if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &last, &len) == 0 && last == 0) break;
    } else {
      last = errno;
    }
    close(sock);
    sock = -1;
  }
  freeaddrinfo(res);
  if (sock < 0 && session && tried > 1)
    report("net %s %s, connect %s %s", errname(first), all, errname(last), peer);
  if (sock < 0 && session) report("net %s connect %s %s", errname(last), errname(last), peer);
  if (sock < 0) report("net %s connect %s:%s: %s", errname(last), host, port, strerror(last));
}

/* The TLS settings, the CA files read: once per process (a session's connections share it). */
static SSL_CTX *tls_context(void) {
  static SSL_CTX *ctx;
  if (ctx) return ctx;
  ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) report("tls %s", ssl_text());
  /* a peer that closes without close_notify: the end of the stream (the framing and the digest
   * tell a cut body), as node takes it */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (!insecure_arg) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* OpenSSL's default store as its hashed directory (/etc/ssl/certs), looked up by issuer
     * when needed: its one-file bundle would be parsed whole first (~30 ms of CPU) */
    SSL_CTX_set_default_verify_dir(ctx);
    for (int i = 0; i < n_ca_files; i++) SSL_CTX_load_verify_locations(ctx, ca_files[i], NULL);
    ERR_clear_error(); /* a store or file missing: fewer trusted, and `tls` if that matters */
  }
  return ctx;
}

/* TLS over the connected socket: SNI, the peer checked (unless --insecure), the handshake done. */
static void start_tls(const char *host) {
  ssl = SSL_new(tls_context());
  if (!ssl || !SSL_set_fd(ssl, sock)) report("tls %s", ssl_text());
  unsigned char ip[16];
  int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
  if (!is_ip) SSL_set_tlsext_host_name(ssl, host); /* no SNI for an address (RFC 6066), as node */
  if (!insecure_arg && !(is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) : SSL_set1_host(ssl, host)))
    report("tls %s", ssl_text());
  for (;;) {
    int rc = SSL_connect(ssl);
    if (rc == 1) return;
    /* node says "read ECONNRESET" for a reset here: the TCP connection was made */
    if (ssl_wait(rc, session ? "read" : "connect")) continue;
    long v = SSL_get_verify_result(ssl);
    if (!insecure_arg && v != X509_V_OK) report("tls %s", X509_verify_cert_error_string(v));
    if (SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
      net_lost("connect", "the connection closed during the TLS handshake",
               "Client network socket disconnected before secure TLS connection was established");
    report("tls %s", ssl_text());
  }
}

static void send_request(const char *host_header, const char *path) {
  static char req[HEAD_MAX];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, host_header);
  for (int i = 0; i < n_headers && n > 0 && n < (int)sizeof req; i++)
    n += snprintf(req + n, sizeof req - (size_t)n, "%s\r\n", headers[i]);
  if (have > 0 && n > 0 && n < (int)sizeof req) n += snprintf(req + n, sizeof req - (size_t)n, "Range: bytes=%lld-\r\n", have);
  if (n > 0 && n < (int)sizeof req)
    n += snprintf(req + n, sizeof req - (size_t)n, "Connection: %s\r\n\r\n", session ? "keep-alive" : "close");
  if (n <= 0 || n >= (int)sizeof req) usage("the request is longer than %d bytes", HEAD_MAX);
  for (int off = 0; off < n && ssl;) {
    size_t w;
    int rc = SSL_write_ex(ssl, req + off, (size_t)(n - off), &w);
    if (rc == 1) off += (int)w;
    else if (!ssl_wait(rc, "write")) report("net EPROTO write: %s", ssl_text());
  }
  for (int off = 0; off < n && !ssl;) {
    ssize_t w = send(sock, req + off, (size_t)(n - off), MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      wait_for(POLLOUT, "write");
      continue;
    }
    if (w < 0) net_fail(errno, "write");
    off += (int)w;
  }
}

/* Case-insensitive header lookup in the NUL-terminated head; the value, trimmed, into `out`. */
static int header(const char *head, const char *name, char *out, size_t cap) {
  size_t len = strlen(name);
  for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
    l += 2;
    if (strncasecmp(l, name, len) != 0 || l[len] != ':') continue;
    const char *v = l + len + 1;
    while (*v == ' ' || *v == '\t') v++;
    const char *e = strstr(v, "\r\n");
    size_t n = e ? (size_t)(e - v) : strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    if (n >= cap) n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
    return 1;
  }
  return 0;
}

/* How many times the head has a header `name` (node refuses a doubled Content-Length). */
static int header_count(const char *head_text, const char *name) {
  size_t len = strlen(name);
  int n = 0;
  for (const char *l = strstr(head_text, "\r\n"); l; l = strstr(l, "\r\n")) {
    l += 2;
    if (strncasecmp(l, name, len) == 0 && l[len] == ':') n++;
  }
  return n;
}

/* The head's bytes from *at up to `to` (the CRLF after its last header, or what came so far):
 * a NUL, another control character, or a CR or LF that is not part of a CRLF is not HTTP as
 * node's parser takes it. A CR last in what came waits for the next read. */
static void check_head_bytes(const char *h, size_t *at, size_t to, size_t len) {
  for (; *at < to; (*at)++) {
    unsigned char c = (unsigned char)h[*at];
    if (c == '\r' && *at + 1 == len) return;
    if (c == '\0') report("proto a NUL byte in the answer's head");
    if (c == '\r' ? h[*at + 1] != '\n' : c == '\n' ? *at == 0 || h[*at - 1] != '\r' : (c < 0x20 && c != '\t') || c == 0x7f)
      report("proto a control character in the answer's head");
  }
}

/* The answer's head as it came: the status line and the header lines (head_size bytes, up to
 * the empty line), NUL-terminated after the last header's CRLF for header(). */
static char head[HEAD_MAX + 1];
static size_t head_size;
static int http_minor; /* HTTP/1.<minor>: 1.0 closes the connection after the answer */

/* Reads the status line and headers; returns the status, the framing in *chunked / *length (-1: none). */
static int read_head(int *chunked, long long *length, long long *range_start) {
  size_t len = 0, checked = 0;
  char *end = NULL;
  while (!end) {
    if (len == HEAD_MAX) report("proto the answer's head is longer than %d bytes", HEAD_MAX);
    size_t n = sock_read(head + len, HEAD_MAX - len);
    if (n == 0) net_lost("read", "the connection closed before an answer", "socket hang up");
    answered = 1;
    len += n;
    head[len] = '\0';
    end = memmem(head, len, "\r\n\r\n", 4);
    check_head_bytes(head, &checked, end ? (size_t)(end + 2 - head) : len, len);
  }
  /* what followed the head is the body's start */
  size_t head_len = (size_t)(end + 4 - head);
  memcpy(buf, head + head_len, len - head_len);
  pending = buf;
  pending_len = len - head_len;
  head_size = (size_t)(end - head);
  end[2] = '\0';

  /* "HTTP/1.x DDD", then a space and the reason or nothing: the status line node reads */
  const char *s = head;
  if (strncmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ' || !isdigit((unsigned char)s[9]) ||
      !isdigit((unsigned char)s[10]) || !isdigit((unsigned char)s[11]) || (s[12] != ' ' && s[12] != '\r'))
    report("proto not an HTTP/1 answer");
  http_minor = s[7] - '0';
  int status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
  char v[256];
  /* chunked when it is the last coding (node reads "gzip, chunked" so, and "chunkedx" to the close) */
  *chunked = 0;
  if (header(head, "transfer-encoding", v, sizeof v)) {
    size_t vl = strlen(v);
    *chunked = vl >= 7 && !strcasecmp(v + vl - 7, "chunked") && (vl == 7 || v[vl - 8] == ' ' || v[vl - 8] == ',');
  }
  *length = -1;
  int lengths = header_count(head, "content-length");
  /* doubled, or beside chunked: node's parser refuses both (a body framed two ways) */
  if (lengths > 1 || (lengths && *chunked)) report("proto bad Content-Length");
  if (lengths) {
    header(head, "content-length", v, sizeof v);
    *length = 0;
    for (const char *d = v; *d; d++) {
      if (!isdigit((unsigned char)*d) || *length > (LLONG_MAX - 9) / 10) report("proto bad Content-Length");
      *length = *length * 10 + (*d - '0');
    }
    if (!v[0] || strlen(v) == sizeof v - 1) report("proto bad Content-Length"); /* none, or cut by header() */
  }
  *range_start = -1;
  /* "bytes N-...": N as digits (sscanf's %lld is undefined past LLONG_MAX) */
  if (header(head, "content-range", v, sizeof v)) {
    char *e;
    errno = 0;
    *range_start = strncmp(v, "bytes ", 6) == 0 && isdigit((unsigned char)v[6]) ? strtoll(v + 6, &e, 10) : -1;
    if (*range_start < 0 || errno || *e != '-') report("proto bad Content-Range");
  }
  return status;
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

/* Where a URL points: http[s]://host[:port]/path, host possibly [v6]. */
struct target {
  int https;
  char host[256], port[8], host_header[300];
  const char *path;
};

static void parse_target(const char *u, struct target *t) {
  if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) usage("--url %s: only http:// and https:// URLs", u);
  memset(t, 0, sizeof *t);
  t->https = u[4] == 's';
  strcpy(t->port, t->https ? "443" : "80");
  const char *h = u + (t->https ? 8 : 7), *path = strchr(h, '/');
  if (!path) path = h + strlen(h);
  size_t hl = (size_t)(path - h);
  if (hl == 0 || hl >= sizeof t->host) usage("--url %s: bad host", u);
  memcpy(t->host_header, h, hl);
  const char *colon = h[0] == '[' ? memchr(h, ']', hl) : memchr(h, ':', hl);
  if (h[0] == '[') {
    if (!colon) usage("--url %s: bad host", u);
    memcpy(t->host, h + 1, (size_t)(colon - h - 1));
    colon = colon + 1 < path && colon[1] == ':' ? colon + 1 : NULL;
  } else {
    memcpy(t->host, h, colon ? (size_t)(colon - h) : hl);
  }
  if (colon) {
    size_t pl = (size_t)(path - colon - 1);
    if (pl == 0 || pl >= sizeof t->port) usage("--url %s: bad port", u);
    memcpy(t->port, colon + 1, pl);
    t->port[pl] = '\0';
  }
  t->path = *path ? path : "/";
}

/* --- session mode (the header comment says what goes in and out) ----------------------------- */

#define MAX_CONNS 4
/* The connections kept alive, one per origin; the one in use is also sock/ssl. */
static struct conn {
  char origin[320]; /* "" when the slot is free */
  int sock;
  SSL *ssl;
} conns[MAX_CONNS];
static struct conn *in_use;
static int reused; /* the connection in use served an earlier request */

/* Drops the connection in use: after a failure, or an answer that ends it. */
static void close_conn(void) {
  if (ssl) SSL_free(ssl);
  if (sock >= 0) close(sock);
  ssl = NULL;
  sock = -1;
  pending_len = 0;
  if (in_use) {
    in_use->origin[0] = '\0';
    in_use->sock = -1;
    in_use->ssl = NULL;
    in_use = NULL;
  }
}

/* The connection to t's origin: the one kept from an earlier request unless the server closed
 * it meanwhile (an idle connection is readable only then), else a new one in a free slot. */
static void open_conn(const struct target *t) {
  static unsigned next_evicted;
  char origin[sizeof conns[0].origin];
  snprintf(origin, sizeof origin, "%s://%s:%s", t->https ? "https" : "http", t->host, t->port);
  reused = 0;
  in_use = NULL;
  for (int i = 0; i < MAX_CONNS && !in_use; i++)
    if (!strcmp(conns[i].origin, origin)) in_use = &conns[i];
  if (in_use) {
    sock = in_use->sock;
    ssl = in_use->ssl;
    struct pollfd p = {.fd = sock, .events = POLLIN};
    if (poll(&p, 1, 0) == 0) {
      reused = 1;
      return;
    }
    close_conn(); /* its end (or bytes nobody asked for) came meanwhile */
  }
  for (int i = 0; i < MAX_CONNS && !in_use; i++)
    if (!conns[i].origin[0]) in_use = &conns[i];
  if (!in_use) {
    in_use = &conns[next_evicted++ % MAX_CONNS];
    sock = in_use->sock;
    ssl = in_use->ssl;
    struct conn *slot = in_use;
    close_conn();
    in_use = slot;
  }
  sock = -1;
  ssl = NULL;
  connect_to(t->host, t->port);
  if (t->https) start_tls(t->host);
  memcpy(in_use->origin, origin, sizeof origin);
  in_use->sock = sock;
  in_use->ssl = ssl;
}

/* One GET and its answer as frames; the connection is kept for the next one when HTTP/1.1 framed the answer. */
static void serve(const struct target *t) {
  answered = 0;
  have = 0;
  open_conn(t);
  send_request(t->host_header, t->path);
  int chunked;
  long long length, range_start;
  int status = read_head(&chunked, &length, &range_start);
  if (status < 200) report("proto an interim answer (%d) to a GET", status);
  frame("head", head, head_size);
  int empty = status == 204 || status == 304;
  if (empty) length = 0;
  else if (chunked) read_chunked();
  else if (length >= 0) read_length(length);
  else read_to_close();
  frame("body", NULL, 0);
  char v[256];
  int closing = header(head, "connection", v, sizeof v) && strcasestr(v, "close");
  if (http_minor == 0 || closing || (!chunked && length < 0) || pending_len > 0) close_conn();
}

/* The session's input: stdin, buffered. */
static char in_buf[4096];
static size_t in_at, in_len;

static int in_byte(void) {
  if (in_at == in_len) {
    ssize_t n;
    do n = read(0, in_buf, sizeof in_buf);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return -1;
    in_at = 0;
    in_len = (size_t)n;
  }
  return (unsigned char)in_buf[in_at++];
}

/* The next GET from stdin: its URL into t, its headers into headers[]. At stdin's end (node is
 * done with the registry, or gone) the session exits. */
static void read_request(struct target *t) {
  static char request[HEAD_MAX]; /* the URL and the header lines, each NUL-terminated */
  size_t used = 0;
  url = NULL;
  n_headers = 0;
  for (;;) {
    char *line = request + used;
    int c;
    while ((c = in_byte()) >= 0 && c != '\n') {
      if (used + 2 >= sizeof request) usage("a request longer than %zu bytes", sizeof request);
      request[used++] = (char)c;
    }
    if (c < 0 && used == 0) _exit(0);
    if (c < 0) usage("stdin ended inside a request");
    request[used++] = '\0';
    if (!url) {
      if (strncmp(line, "GET ", 4) != 0) usage("a request that does not start with \"GET <url>\"");
      url = line + 4;
    } else if (!*line) {
      break;
    } else {
      if (strchr(line, '\r') || !strchr(line, ':')) usage("a header line that is not \"Name: value\"");
      if (n_headers == MAX_HEADERS) usage("more than %d headers", MAX_HEADERS);
      headers[n_headers++] = line;
    }
  }
  parse_target(url, t);
}

/* Requests until stdin ends. A failure is the request's error frame; a connection kept from
 * earlier that ends before any byte of the answer (the server closed it as the request went out)
 * sends the request again once, on a new connection, as node's agent would not: registry.ts
 * would retry it after 200 ms. */
__attribute__((noreturn)) static void session_main(void) {
  size_arg = LLONG_MAX / 4; /* node limits what it reads */
  for (int i = 0; i < MAX_CONNS; i++) conns[i].sock = -1;
  for (;;) {
    static struct target t;
    read_request(&t);
    for (volatile int attempt = 0;; attempt++) {
      if (setjmp(request_failed) == 0) {
        serve(&t);
        break;
      }
      int lost = !strncmp(failure, "net ECONNRESET ", 15) || !strncmp(failure, "net EPIPE ", 10);
      int again = attempt == 0 && reused && !answered && lost;
      close_conn();
      if (again) continue;
      char line[sizeof failure + 8];
      int n = snprintf(line, sizeof line, "error %s\n", failure);
      out_all(line, (size_t)n);
      break;
    }
  }
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

/*
 * http.c: HTTP/1.1 as both modes speak it: the URL's parts, the GET sent, the answer's head read
 * and checked no more leniently than node's parser, and the body read as it is framed
 * (Content-Length, chunked, or up to the close), each piece handed to body().
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch.h"

unsigned char buf[BUF_SIZE]; /* socket reads; polis-fetch.c's file reads when hashing a prefix */
int answered; /* a byte of the answer came on this connection (no silent resend then) */

/* Where a URL points, into t; a URL it cannot take is a usage error. */
void parse_target(const char *u, struct target *t) {
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

/* More body than --size: `over` for a download. A session's limit is its own (node limits what
 * it reads): an answer past it is not HTTP as expected. */
__attribute__((noreturn)) void too_long(void) {
  if (session) report("proto a body longer than %lld bytes", size_arg);
  report("over %lld", size_arg);
}

/* The buffered bytes of the response not yet consumed (the head's read brings some body too). */
static unsigned char *pending;
size_t pending_len;

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

void read_chunked(void) {
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

void read_length(long long length) {
  if (length > size_arg - have) too_long();
  while (length > 0) {
    unsigned char *p;
    size_t got = next_bytes(&p, length > BUF_SIZE ? BUF_SIZE : (size_t)length);
    if (got == 0) cut_short();
    body(p, got);
    length -= (long long)got;
  }
}

void read_to_close(void) {
  unsigned char *p;
  size_t got;
  while ((got = next_bytes(&p, BUF_SIZE)) > 0) body(p, got);
}

void send_request(const char *host_header, const char *path) {
  static char req[HEAD_MAX];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, host_header);
  for (int i = 0; i < n_headers && n > 0 && n < (int)sizeof req; i++)
    n += snprintf(req + n, sizeof req - (size_t)n, "%s\r\n", headers[i]);
  if (have > 0 && n > 0 && n < (int)sizeof req) n += snprintf(req + n, sizeof req - (size_t)n, "Range: bytes=%lld-\r\n", have);
  if (n > 0 && n < (int)sizeof req)
    n += snprintf(req + n, sizeof req - (size_t)n, "Connection: %s\r\n\r\n", session ? "keep-alive" : "close");
  if (n <= 0 || n >= (int)sizeof req) usage("the request is longer than %d bytes", HEAD_MAX);
  sock_write(req, n);
}

/* Case-insensitive header lookup in the NUL-terminated head; the value, trimmed, into `out`. */
int header(const char *head_text, const char *name, char *out, size_t cap) {
  size_t len = strlen(name);
  for (const char *l = strstr(head_text, "\r\n"); l; l = strstr(l, "\r\n")) {
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
char head[HEAD_MAX + 1];
size_t head_size;
int http_minor; /* HTTP/1.<minor>: 1.0 closes the connection after the answer */

/* Reads the status line and headers; returns the status, the framing in *chunked / *length (-1: none). */
int read_head(int *chunked, long long *length, long long *range_start) {
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

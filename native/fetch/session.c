/*
 * session.c: --session (polis-fetch.c's header comment says what goes in and out): requests read
 * from stdin, up to four kept-alive connections (one per origin), each answer framed on stdout,
 * and the one resend of a request whose kept connection ended before the answer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fetch.h"

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
void frame(const char *word, const void *p, size_t n) {
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
  const char *url = NULL;
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
__attribute__((noreturn)) void session_main(void) {
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

/*
 * fetch.h: what polis-fetch's files share (polis-fetch.c says what the program does). Both modes
 * run one request at a time over one connection, so the connection, the answer being read and the
 * body's count are process globals; each is shared here only because two files must touch it.
 */
#ifndef POLIS_FETCH_H
#define POLIS_FETCH_H

#include <stddef.h>
#include <setjmp.h>
#include <openssl/ssl.h>

#define BUF_SIZE (256 * 1024) /* socket reads; file reads when hashing a prefix */
#define HEAD_MAX (16 * 1024)  /* node's default maximum header size */
#define MAX_HEADERS 32

/* --- polis-fetch.c: the arguments, and where a failure goes -------------------------------- */

/* set by --session: report() then jumps back to the request loop, and the connection, TLS and
 * HTTP code words its failures as node does */
extern int session;
/* a session's failing request: report() puts its line in failure[] and jumps to request_failed */
extern jmp_buf request_failed;
extern char failure[512];
/* the request's headers: --header/--header-fd's, or a session request's; send_request() sends them */
extern const char *headers[MAX_HEADERS];
extern int n_headers;
/* what the TLS context trusts (net.c), the wait for a byte (net.c) */
extern const char *ca_files[];
extern int n_ca_files, insecure_arg, timeout_ms;
/* the body's limit (--size, or the session's own) and the bytes of it so far (the file's bytes
 * in a download: send_request() asks the Range from there) */
extern long long size_arg, have;

/* The one report line (fd 3), then exit 0; in a session, the request's error frame instead. */
__attribute__((noreturn, format(printf, 1, 2))) void report(const char *fmt, ...);
/* A usage error: the message on stderr, exit 2. */
__attribute__((noreturn, format(printf, 1, 2))) void usage(const char *fmt, ...);
/* A piece of the body, read by http.c: to the file (and the tee), or a session's frame. */
void body(const unsigned char *p, size_t n);

/* --- net.c: the connection ------------------------------------------------------------------ */

/* the connection in use (session.c keeps several and swaps the one in use in) */
extern int sock;
extern SSL *ssl; /* https: every read and write of the socket goes through it */

const char *errname(int e);
__attribute__((noreturn)) void net_lost(const char *what, const char *text, const char *node_text);
void connect_to(const char *host, const char *port);
void start_tls(const char *host);
size_t sock_read(void *into, size_t cap);
void sock_write(const char *p, int n);

/* --- http.c: the request and the answer ----------------------------------------------------- */

/* Where a URL points: http[s]://host[:port]/path, host possibly [v6]. */
struct target {
  int https;
  char host[256], port[8], host_header[300];
  const char *path;
};

/* socket reads (http.c), and the file's existing bytes when hashing them (polis-fetch.c) */
extern unsigned char buf[BUF_SIZE];
/* the answer's head as it came, up to the empty line, NUL-terminated after the last header's
 * CRLF: a session frames it and reads Connection; http_minor: HTTP/1.0 closes after the answer */
extern char head[HEAD_MAX + 1];
extern size_t head_size;
extern int http_minor;
/* body bytes read past what was consumed: a session closes a connection that has some left */
extern size_t pending_len;
/* a byte of the answer came on this connection (a session resends silently only before one) */
extern int answered;

void parse_target(const char *u, struct target *t);
void send_request(const char *host_header, const char *path);
int read_head(int *chunked, long long *length, long long *range_start);
int header(const char *head_text, const char *name, char *out, size_t cap);
void read_chunked(void);
void read_length(long long length);
void read_to_close(void);
__attribute__((noreturn)) void too_long(void);

/* --- session.c: --session ------------------------------------------------------------------- */

/* A session's frame on stdout: "<word> <n>" and a newline, then the n bytes. */
void frame(const char *word, const void *p, size_t n);
__attribute__((noreturn)) void session_main(void);

#endif

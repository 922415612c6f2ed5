/*
 * net.c: polis-fetch's connection, for both modes: each address tried in turn, the waits
 * (--timeout-ms), the socket's reads and writes, plain or through TLS (OpenSSL 3's libssl: the
 * context, SNI, the peer's check), and their failures in the report's `net` and `tls` words.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fetch.h"

int sock = -1;
SSL *ssl;
static char peer[80]; /* "ADDR:PORT" connected to: node's "connect ECONNREFUSED ADDR:PORT" */

const char *errname(int e) {
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
__attribute__((noreturn)) void net_lost(const char *what, const char *text, const char *node_text) {
  if (session) report("net ECONNRESET %s", node_text);
  report("net ECONNRESET %s: %s", what, text);
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
size_t sock_read(void *into, size_t cap) {
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

/* All of p to the socket (waiting until it takes more). */
void sock_write(const char *p, int n) {
  for (int off = 0; off < n && ssl;) {
    size_t w;
    int rc = SSL_write_ex(ssl, p + off, (size_t)(n - off), &w);
    if (rc == 1) off += (int)w;
    else if (!ssl_wait(rc, "write")) report("net EPROTO write: %s", ssl_text());
  }
  for (int off = 0; off < n && !ssl;) {
    ssize_t w = send(sock, p + off, (size_t)(n - off), MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      wait_for(POLLOUT, "write");
      continue;
    }
    if (w < 0) net_fail(errno, "write");
    off += (int)w;
  }
}

void connect_to(const char *host, const char *port) {
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
void start_tls(const char *host) {
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

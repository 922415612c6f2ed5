/* Messages to Node over the sync socket, and the RESUME/abort handshake (PROTOCOL.md). */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim.h"

#define HEADER_LEN 24 /* type:u32 step:i32 errno:i32 value:i64 len:u32 */
#define DETAIL_MAX 1024

static void put32(unsigned char *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }

/* false when Node is gone (the socket is closed) */
static bool try_send(uint32_t type, int32_t step, int32_t err, int64_t value, const char *bytes) {
  unsigned char buf[HEADER_LEN + DETAIL_MAX];
  size_t len = bytes ? strnlen(bytes, DETAIL_MAX) : 0;
  put32(buf, type);
  put32(buf + 4, (uint32_t)step);
  put32(buf + 8, (uint32_t)err);
  put64(buf + 12, (uint64_t)value);
  put32(buf + 20, (uint32_t)len);
  if (len) memcpy(buf + HEADER_LEN, bytes, len);
  size_t total = HEADER_LEN + len, off = 0;
  while (off < total) {
    /* MSG_NOSIGNAL: a vanished Node must not kill us with SIGPIPE (ignoring SIGPIPE instead would
       leak SIG_IGN into the container's process through execve). */
    ssize_t n = send(S.sync_fd, buf + off, total - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += (size_t)n;
  }
  return true;
}

void send_msg(uint32_t type, int32_t step, int32_t err, int64_t value, const char *bytes) {
  /* Node is gone: nobody to report to, and nothing may be left behind */
  if (!try_send(type, step, err, value, bytes)) _exit(1);
}

void wait_resume(void) {
  char c;
  if (plan_take_byte(&c)) {
    if (c == 'R') return;
    _exit(1);
  }
  for (;;) {
    ssize_t n = read(S.sync_fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n == 1 && c == 'R') return;
    _exit(1); /* 'A', EOF or error: Node aborted the create */
  }
}

static _Noreturn void vdie(int err, const char *fmt, va_list ap) {
  char detail[DETAIL_MAX];
  vsnprintf(detail, sizeof detail, fmt, ap);
  /* After READY a detached `polis create` is done and gone: the container's stderr is the only
     place left where the client (containerd's log, the user's terminal) can see why it failed. */
  if (S.ready || !try_send(MSG_ERROR, S.step, err, 0, detail)) dprintf(2, "polis: %s: %s\n", detail, strerror(err));
  _exit(1);
}

void die(const char *fmt, ...) {
  int err = errno;
  va_list ap;
  va_start(ap, fmt);
  vdie(err, fmt, ap);
}

void die_errno(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdie(err, fmt, ap);
}

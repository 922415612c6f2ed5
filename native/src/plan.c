/* Decode the plan Node writes on the sync socket: op:u32 nargs:u32 (len:u32 bytes)* … END. */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

/* Generous bounds: they only stop a corrupt stream from making us allocate gigabytes. */
#define MAX_OPS 65536
#define MAX_ARGS 65536
#define MAX_ARG_LEN (64u << 20)

/* The plan is read through one buffer: a plan is a few KB of short fields, and a read(2) per
   field cost ~1,500 system calls (~1 ms) per create. Node writes RESUME/ABORT bytes only after
   a message of ours, which comes after the plan, so nothing should follow END in the buffer;
   if something did, wait_resume() still gets it (plan_take_byte). */
static char inbuf[65536];
static size_t inpos, inlen;
static bool got_any;

static int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    if (inpos == inlen) {
      ssize_t n = read(fd, inbuf, sizeof inbuf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return -1;
      if (n == 0) { errno = EPIPE; return -1; } /* Node went away mid-plan */
      inpos = 0;
      inlen = (size_t)n;
      got_any = true;
    }
    size_t take = inlen - inpos < len ? inlen - inpos : len;
    memcpy(p, inbuf + inpos, take);
    inpos += take;
    p += take;
    len -= take;
  }
  return 0;
}

bool plan_got_nothing(void) { return !got_any; }

bool plan_take_byte(char *c) {
  if (inpos == inlen) return false;
  *c = inbuf[inpos++];
  return true;
}

static int read_u32(int fd, uint32_t *v) {
  uint32_t raw;
  if (read_full(fd, &raw, sizeof raw) < 0) return -1;
  *v = le32toh(raw);
  return 0;
}

static int read_op(int fd, struct op *op) {
  if (read_u32(fd, &op->code) < 0 || read_u32(fd, &op->nargs) < 0) return -1;
  if (op->nargs > MAX_ARGS) { errno = E2BIG; return -1; }
  op->args = calloc(op->nargs + 1, sizeof *op->args);
  op->lens = calloc(op->nargs + 1, sizeof *op->lens);
  if (!op->args || !op->lens) return -1;
  for (uint32_t i = 0; i < op->nargs; i++) {
    uint32_t len;
    if (read_u32(fd, &len) < 0) return -1;
    if (len > MAX_ARG_LEN) { errno = E2BIG; return -1; }
    char *s = malloc((size_t)len + 1);
    if (!s) return -1;
    if (read_full(fd, s, len) < 0) return -1;
    s[len] = '\0';
    op->args[i] = s;
    op->lens[i] = len;
  }
  return 0;
}

int plan_read(int fd, struct plan *plan) {
  size_t cap = 64;
  plan->count = 0;
  plan->ops = calloc(cap, sizeof *plan->ops);
  if (!plan->ops) return -1;
  for (;;) {
    if (plan->count == cap) {
      if (cap >= MAX_OPS) { errno = E2BIG; return -1; }
      struct op *more = realloc(plan->ops, cap * 2 * sizeof *more);
      if (!more) return -1;
      memset(more + cap, 0, cap * sizeof *more);
      plan->ops = more;
      cap *= 2;
    }
    struct op *op = &plan->ops[plan->count];
    if (read_op(fd, op) < 0) return -1;
    if (op->code == OP_END) return 0;
    plan->count++;
  }
}

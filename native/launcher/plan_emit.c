/*
 * The plan's wire format, as src/linux/plan.ts Plan.encode writes it: op:u32 nargs:u32, then each
 * argument as len:u32 bytes, little-endian; integers as decimal text, masks as "0x..." hex.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "plan_internal.h"

static void put_u32(struct buf *b, uint32_t v) {
    char le[4] = { (char)(v & 0xff), (char)(v >> 8 & 0xff), (char)(v >> 16 & 0xff), (char)(v >> 24 & 0xff) };
    buf_add(b, le, 4);
}

void emit_op(struct builder *b, enum op_code code) {
    put_u32(b->out, code);
    b->nargs_at = b->out->len;
    b->nargs = 0;
    put_u32(b->out, 0);
}

void emit_bytes(struct builder *b, const char *p, size_t n) {
    put_u32(b->out, (uint32_t)n);
    buf_add(b->out, p, n);
    uint32_t count = ++b->nargs;
    for (int i = 0; i < 4; i++) b->out->p[b->nargs_at + (size_t)i] = (char)(count >> (8 * i) & 0xff);
}

void emit_arg(struct builder *b, const char *s) { emit_bytes(b, s, strlen(s)); }

void emit_argf(struct builder *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) die("plan: number too long");
    emit_arg(b, tmp);
}

/* String(n) of an integer below 2^53 (plan_check.c keeps them there), and BigInt(n) of any
 * integral double: exact digits, and -0 prints as "0". */
const char *int_text(char out[32], double v) {
    snprintf(out, 32, "%.0f", v == 0 ? 0.0 : v);
    return out;
}

void emit_int(struct builder *b, double v) {
    char text[32];
    emit_arg(b, int_text(text, v));
}

void emit_mask(struct builder *b, uint64_t mask) { emit_argf(b, "0x%llx", (unsigned long long)mask); }

/* MOUNT and MOUNT_KEEP_MODE: source, target, fstype, flags, data, scope. */
void emit_mount(struct builder *b, enum op_code code, const char *source, const char *target, const char *fstype,
                     unsigned flags, const char *data, const char *scope) {
    emit_op(b, code);
    emit_arg(b, source);
    emit_arg(b, target);
    emit_arg(b, fstype);
    emit_argf(b, "%u", flags);
    emit_arg(b, data);
    emit_arg(b, scope);
}

void emit_mkdirs(struct builder *b, const char *path, const char *scope, const char *kind) {
    emit_op(b, OP_MKDIRS);
    emit_arg(b, path);
    emit_arg(b, scope);
    emit_arg(b, kind);
}

void emit_op1(struct builder *b, enum op_code code, const char *a) {
    emit_op(b, code);
    emit_arg(b, a);
}

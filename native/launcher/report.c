/*
 * What the launcher prints, in the exact shapes of the Node path: JSON.stringify's string
 * escaping (state, list), and src/log.ts's logrus lines (text and json) for --log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "launcher.h"

void buf_add(struct buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_fmt(struct buf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) die("format overflow");
    buf_add(b, tmp, (size_t)n);
}

/* JSON.stringify of a (valid UTF-8) string; go_quote: Go's %q for control bytes instead. */
static void quote(struct buf *b, const char *s, bool go) {
    buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': buf_add(b, "\\\"", 2); break;
        case '\\': buf_add(b, "\\\\", 2); break;
        case '\b': buf_add(b, "\\b", 2); break;
        case '\f': buf_add(b, "\\f", 2); break;
        case '\n': buf_add(b, "\\n", 2); break;
        case '\r': buf_add(b, "\\r", 2); break;
        case '\t': buf_add(b, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, go ? "\\x%02x" : "\\u%04x", *p);
                buf_str(b, esc);
            } else {
                buf_add(b, (const char *)p, 1);
            }
        }
    }
    buf_add(b, "\"", 1);
}

void buf_json_string(struct buf *b, const char *s) { quote(b, s, false); }

/* What JSON.parse/TextDecoder would not turn into the same bytes goes to node (never expected). */
bool utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0 || (n == 1 && *p < 0xc2)) return false;
        unsigned cp = n == 0 ? *p : *p & (0x3f >> n);
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) return false;
        p += n + 1;
    }
    return true;
}

/* String.prototype.length of a valid UTF-8 string: UTF-16 code units. */
size_t utf16_length(const char *s) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) != 0x80) n++;
        if ((*p & 0xf8) == 0xf0) n++;
    }
    return n;
}

/* main.ts's fdWriter: retry EAGAIN (a non-blocking pipe), give up quietly on anything else. */
void write_fd(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

/* log.ts's rfc3339: to the second, local time, `Z` for UTC. */
static void rfc3339_local(char *out, size_t len) {
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    long off = tm.tm_gmtoff / 60;
    if (off == 0) {
        snprintf(out, len, "%sZ", stamp);
    } else {
        long abs = off < 0 ? -off : off;
        snprintf(out, len, "%s%c%02ld:%02ld", stamp, off > 0 ? '+' : '-', abs / 60, abs % 60);
    }
}

/* logrus's text value: bare when made only of letters, digits and -._/@^+, else quoted. */
static void text_value(struct buf *b, const char *s) {
    bool bare = *s != 0;
    for (const char *p = s; *p && bare; p++) {
        bare = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._/@^+", *p);
    }
    if (bare) buf_str(b, s);
    else quote(b, s, true);
}

/* One log line (log.ts's write()): to the --log file or to stderr. */
void log_line(const char *level, const char *msg) {
    char time[64];
    rfc3339_local(time, sizeof time);
    struct buf b = {0};
    if (G.log_json) {
        buf_str(&b, "{\"level\":");
        buf_json_string(&b, level);
        buf_str(&b, ",\"msg\":");
        buf_json_string(&b, msg);
        buf_str(&b, ",\"time\":");
        buf_json_string(&b, time);
        buf_str(&b, "}\n");
    } else {
        buf_str(&b, "time=");
        text_value(&b, time);
        buf_str(&b, " level=");
        buf_str(&b, level);
        buf_str(&b, " msg=");
        text_value(&b, msg);
        buf_str(&b, "\n");
    }
    write_fd(G.log_fd, b.p, b.len);
    free(b.p);
}

/* libuv's names for errno values, which node's messages carry (EACCES, ENOENT, ...). */
const char *errno_name(int err) {
    const char *name = strerrorname_np(err);
    return name ? name : "EIO";
}

void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

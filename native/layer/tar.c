/* The tar reader: ustar, POSIX pax (path, linkpath, size, uid, gid, mtime, SCHILY.xattr.*,
 * LIBARCHIVE.xattr.*, global headers) and GNU long names (L, K). It pulls the archive from
 * source.c and hands each entry, then a regular file's content, to unpack.c. Errors read
 * "bad tar: <what>". A missing end-of-archive marker is tolerated, as GNU tar does; a stream
 * that stops inside a header, a body or a pax record is "archive is truncated". */
#include "layer.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK 512

/* pax records as read: keys and values are byte strings (values may hold NULs: xattrs) */
struct record {
  char *key;
  unsigned char *value;
  size_t len;
};
struct records {
  struct record *r;
  size_t n;
};

static _Noreturn void bad(const char *what) {
  fail("bad tar: %s", what);
}

/* exactly `n` bytes into dst (or skipped when dst is NULL); the count read */
static size_t read_full(unsigned char *dst, size_t n) {
  size_t got = 0;
  while (got < n) {
    const unsigned char *p;
    size_t k = source_get(&p, n - got);
    if (k == 0)
      break;
    if (dst)
      memcpy(dst + got, p, k);
    got += k;
  }
  return got;
}

static uint64_t pad_of(uint64_t size) {
  return (BLOCK - size % BLOCK) % BLOCK;
}

/* a NUL-terminated copy of the field (up to its first NUL) */
static char *cstr(const unsigned char *b, size_t len) {
  const unsigned char *end = memchr(b, 0, len);
  size_t n = end ? (size_t)(end - b) : len;
  char *s = xmalloc(n + 1);
  memcpy(s, b, n);
  s[n] = 0;
  return s;
}

/* an octal field (spaces before, NUL or space after), or GNU's base-256 for big values */
static uint64_t num(const unsigned char *b, size_t len) {
  uint64_t v = 0;
  if (b[0] & 0x80) {
    v = b[0] & 0x3f;
    for (size_t i = 1; i < len; i++)
      v = v * 256 + b[i];
    return v;
  }
  size_t i = 0;
  while (i < len && b[i] == ' ')
    i++;
  for (; i < len && b[i] >= '0' && b[i] <= '7'; i++)
    v = v * 8 + (uint64_t)(b[i] - '0');
  return v;
}

static int checksum_ok(const unsigned char *h) {
  uint64_t want = num(h + 148, 8), sum = 8 * 32; /* the checksum field itself counts as spaces */
  for (int i = 0; i < 148; i++)
    sum += h[i];
  for (int i = 156; i < BLOCK; i++)
    sum += h[i];
  return sum == want;
}

static int is_zero(const unsigned char *h) {
  for (int i = 0; i < BLOCK; i++)
    if (h[i])
      return 0;
  return 1;
}

static void records_free(struct records *rs) {
  for (size_t i = 0; i < rs->n; i++) {
    free(rs->r[i].key);
    free(rs->r[i].value);
  }
  free(rs->r);
  rs->r = NULL;
  rs->n = 0;
}

/* sets key to a copy of value (a later record with the same key wins, keeping its place) */
static void records_set(struct records *rs, const char *key, const unsigned char *value, size_t len) {
  unsigned char *v = xmalloc(len + 1);
  memcpy(v, value, len);
  v[len] = 0;
  for (size_t i = 0; i < rs->n; i++) {
    if (!strcmp(rs->r[i].key, key)) {
      free(rs->r[i].value);
      rs->r[i].value = v;
      rs->r[i].len = len;
      return;
    }
  }
  rs->r = xrealloc(rs->r, sizeof(*rs->r) * (rs->n + 1));
  rs->r[rs->n++] = (struct record){ xstrdup(key), v, len };
}

static const struct record *records_get(const struct records *rs, const char *key) {
  for (size_t i = rs->n; i-- > 0;)
    if (!strcmp(rs->r[i].key, key))
      return &rs->r[i];
  return NULL;
}

/* pax records: "<len> <key>=<value>\n", len counting the whole record */
static void parse_pax(const unsigned char *body, size_t size, struct records *out) {
  size_t off = 0;
  while (off < size) {
    const unsigned char *sp = memchr(body + off, ' ', size - off);
    if (!sp)
      break;
    uint64_t len = 0;
    const unsigned char *d = body + off;
    if (d == sp)
      bad("bad pax record");
    for (; d < sp; d++) {
      if (*d < '0' || *d > '9' || len > (1ull << 40))
        bad("bad pax record");
      len = len * 10 + (uint64_t)(*d - '0');
    }
    if (len == 0 || len > size - off)
      bad("bad pax record");
    const unsigned char *rec = sp + 1, *end = body + off + len - 1;
    if (rec > end)
      bad("bad pax record");
    const unsigned char *eq = memchr(rec, '=', (size_t)(end - rec));
    if (!eq)
      bad("bad pax record");
    char *key = xmalloc((size_t)(eq - rec) + 1);
    memcpy(key, rec, (size_t)(eq - rec));
    key[eq - rec] = 0;
    records_set(out, key, eq + 1, (size_t)(end - eq - 1));
    free(key);
    off += len;
  }
}

/* A pax path or linkpath as a C string. One holding a NUL byte is refused: cut at the NUL it
 * would name another file than the archive says (the JS unpacker refused it too: node's fs
 * takes no path with NUL bytes). */
static char *pax_string(const struct record *r, const char *key) {
  if (memchr(r->value, 0, r->len))
    bad(xasprintf("pax %s holds a NUL byte", key));
  return xstrdup((const char *)r->value);
}

/* a pax number as JavaScript's Number() reads the usual ones: decimal, optional fraction */
static int pax_number(const struct record *r, uint64_t *out) {
  const char *s = (const char *)r->value;
  char *end;
  while (*s == ' ')
    s++;
  if (!*s) {
    *out = 0;
    return 1;
  }
  unsigned long long v = strtoull(s, &end, 10);
  while (*end == ' ')
    end++;
  if (*end || *s == '-' || end == s)
    return 0;
  *out = v;
  return 1;
}

/* seconds with up to nine digits of fraction ("1700000000.123456789"), as node would pass them on */
static struct timespec pax_time(const struct record *r) {
  const char *s = (const char *)r->value;
  struct timespec t = { 0, 0 };
  int neg = *s == '-';
  if (neg || *s == '+')
    s++;
  for (; *s >= '0' && *s <= '9'; s++)
    t.tv_sec = t.tv_sec * 10 + (*s - '0');
  if (*s == '.') {
    s++;
    long scale = 100000000;
    for (; *s >= '0' && *s <= '9' && scale > 0; s++, scale /= 10)
      t.tv_nsec += (*s - '0') * scale;
  }
  if (neg) {
    t.tv_sec = -t.tv_sec;
    if (t.tv_nsec) {
      t.tv_sec -= 1;
      t.tv_nsec = 1000000000 - t.tv_nsec;
    }
  }
  return t;
}

static int hexval(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* LIBARCHIVE.xattr.<url-encoded name> */
static char *url_decode(const char *s) {
  char *out = xmalloc(strlen(s) + 1), *o = out;
  for (; *s; s++) {
    if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
      *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
      s += 2;
    } else {
      *o++ = *s;
    }
  }
  *o = 0;
  return out;
}

/* LIBARCHIVE.xattr.* values: base64, leniently (node's Buffer.from(v, "base64") skips what is not) */
static unsigned char *base64_decode(const unsigned char *s, size_t len, size_t *outlen) {
  unsigned char *out = xmalloc(len * 3 / 4 + 3);
  unsigned acc = 0;
  int bits = 0;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    int c = s[i], v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else if (c == '=')
      break;
    else
      continue;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (unsigned char)(acc >> bits);
    }
  }
  *outlen = n;
  return out;
}

static void add_xattr(struct entry *e, char *name, unsigned char *value, size_t len) {
  for (size_t i = 0; i < e->nxattrs; i++) {
    if (!strcmp(e->xattrs[i].name, name)) {
      free(name);
      free(e->xattrs[i].value);
      e->xattrs[i].value = value;
      e->xattrs[i].len = len;
      return;
    }
  }
  e->xattrs = xrealloc(e->xattrs, sizeof(*e->xattrs) * (e->nxattrs + 1));
  e->xattrs[e->nxattrs++] = (struct xattr){ name, value, len };
}

static void entry_free(struct entry *e) {
  free(e->name);
  free(e->linkname);
  for (size_t i = 0; i < e->nxattrs; i++) {
    free(e->xattrs[i].name);
    free(e->xattrs[i].value);
  }
  free(e->xattrs);
}

static void check_size(uint64_t size) {
  if (size > (1ull << 53) - 1) {
    char *why = xasprintf("bad entry size %llu", (unsigned long long)size);
    bad(why);
  }
}

/* skips `n` bytes of body; short: truncated */
static void skip_body(uint64_t n) {
  while (n > 0) {
    const unsigned char *p;
    size_t k = source_get(&p, n > (1u << 20) ? (1u << 20) : (size_t)n);
    if (k == 0)
      bad("archive is truncated");
    n -= k;
  }
}

/* the padding after a body: a stream that ends inside it is tolerated (as node's reader did) */
static int skip_pad(uint64_t size) {
  uint64_t pad = pad_of(size);
  return read_full(NULL, (size_t)pad) == pad;
}

void tar_read(void) {
  unsigned char h[BLOCK];
  struct records global = { 0 }, local = { 0 };
  char *long_name = NULL, *long_link = NULL;

  for (;;) {
    size_t got = read_full(h, BLOCK);
    if (got == 0)
      break;
    if (got < BLOCK)
      bad("archive is truncated");
    if (is_zero(h))
      break; /* end of archive (two zero blocks; one is enough to stop) */
    if (!checksum_ok(h))
      bad("bad header checksum (not a tar archive, or corrupted)");
    unsigned char flag = h[156];
    uint64_t size = num(h + 124, 12);
    if (flag == 'x' || flag == 'g' || flag == 'L' || flag == 'K') {
      check_size(size);
      unsigned char *body = xmalloc((size_t)size + 1);
      if (read_full(body, (size_t)size) < size)
        bad("archive is truncated");
      body[size] = 0;
      if (flag == 'x')
        parse_pax(body, (size_t)size, &local);
      else if (flag == 'g')
        parse_pax(body, (size_t)size, &global);
      else if (flag == 'L') {
        free(long_name);
        long_name = cstr(body, (size_t)size);
      } else {
        free(long_link);
        long_link = cstr(body, (size_t)size);
      }
      free(body);
      if (!skip_pad(size))
        break;
      continue;
    }
    char *name0 = cstr(h, 100);
    if (flag == 'S') {
      char *why = xasprintf("sparse entry %s is not supported", name0);
      bad(why);
    }
    int known = 1;
    struct entry e = { 0 };
    switch (flag) {
    case '0': case 0: case '7': e.type = T_FILE; break;
    case '1': e.type = T_HARDLINK; break;
    case '2': e.type = T_SYMLINK; break;
    case '3': e.type = T_CHAR; break;
    case '4': e.type = T_BLOCK; break;
    case '5': e.type = T_DIR; break;
    case '6': e.type = T_FIFO; break;
    default: known = 0; e.type = T_FILE;
    }
    int ustarish = !memcmp(h + 257, "ustar", 5);
    int ustar = ustarish && h[262] == 0, gnu = ustarish && h[262] == ' ';
    e.name = name0;
    if (ustar && h[345] != 0) {
      char *prefix = cstr(h + 345, 155);
      e.name = xasprintf("%s/%s", prefix, name0);
      free(prefix);
      free(name0);
    }
    if (long_name) {
      free(e.name);
      e.name = long_name;
      long_name = NULL;
    }
    e.linkname = long_link ? long_link : cstr(h + 157, 100);
    long_link = NULL;
    /* this entry's records over the global ones */
    struct records pax = { 0 };
    for (size_t i = 0; i < global.n; i++)
      records_set(&pax, global.r[i].key, global.r[i].value, global.r[i].len);
    for (size_t i = 0; i < local.n; i++)
      records_set(&pax, local.r[i].key, local.r[i].value, local.r[i].len);
    records_free(&local);
    const struct record *r;
    if ((r = records_get(&pax, "path"))) {
      free(e.name);
      e.name = pax_string(r, "path");
    }
    if ((r = records_get(&pax, "linkpath"))) {
      free(e.linkname);
      e.linkname = pax_string(r, "linkpath");
    }
    for (size_t i = 0; i < pax.n; i++) {
      const struct record *x = &pax.r[i];
      if (!strncmp(x->key, "SCHILY.xattr.", 13)) {
        unsigned char *v = xmalloc(x->len + 1);
        memcpy(v, x->value, x->len);
        add_xattr(&e, xstrdup(x->key + 13), v, x->len);
      } else if (!strncmp(x->key, "LIBARCHIVE.xattr.", 17)) {
        size_t len;
        unsigned char *v = base64_decode(x->value, x->len, &len);
        add_xattr(&e, url_decode(x->key + 17), v, len);
      }
    }
    uint64_t entry_size = size;
    int size_ok = 1;
    if ((r = records_get(&pax, "size")))
      size_ok = pax_number(r, &entry_size);
    e.mode = (unsigned)num(h + 100, 8) & 07777;
    e.uid = num(h + 108, 8);
    e.gid = num(h + 116, 8);
    uint64_t v;
    if ((r = records_get(&pax, "uid")) && pax_number(r, &v))
      e.uid = v;
    if ((r = records_get(&pax, "gid")) && pax_number(r, &v))
      e.gid = v;
    e.mtime.tv_sec = (time_t)num(h + 136, 12);
    if ((r = records_get(&pax, "mtime")))
      e.mtime = pax_time(r);
    e.devmajor = ustar || gnu ? (unsigned)num(h + 329, 8) : 0;
    e.devminor = ustar || gnu ? (unsigned)num(h + 337, 8) : 0;
    e.size = e.type == T_FILE ? entry_size : 0;
    records_free(&pax);
    if (!known) {
      char *why = flag >= 0x20 && flag < 0x7f ? xasprintf("entry %s has unknown type '%c'", e.name, flag)
                                              : xasprintf("entry %s has unknown type '\\x%02x'", e.name, flag);
      bad(why);
    }
    /* node's reader: NUL bytes (from pax) in a name reach the escape check */
    unpack_entry(&e);
    if (!size_ok)
      bad("bad entry size NaN");
    check_size(entry_size);
    if (e.type == T_FILE) {
      uint64_t left = e.size;
      while (left > 0) {
        const unsigned char *p;
        size_t k = source_get(&p, left > (1u << 20) ? (1u << 20) : (size_t)left);
        if (k == 0)
          bad("archive is truncated");
        unpack_data(p, k);
        left -= k;
      }
      unpack_end();
    } else {
      skip_body(entry_size);
    }
    entry_free(&e);
    if (!skip_pad(entry_size))
      break;
  }
  free(long_name);
  free(long_link);
  records_free(&local);
  records_free(&global);
  /* the rest of the stream counts for the diffId */
  const unsigned char *p;
  while (source_get(&p, 1u << 20) > 0)
    ;
}

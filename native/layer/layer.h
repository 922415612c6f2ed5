/* polis-layer: unpacks one image layer (gzip, zstd or plain tar) into a directory. What it does
 * and how node talks to it: layer.c's header comment. Shared declarations of its four parts:
 * layer.c (argv, report, errors), source.c (decompression, diffId), tar.c (the tar reader),
 * unpack.c (the writer: entries, whiteouts, parents resolved through symlinks and lowers). */
#ifndef POLIS_LAYER_H
#define POLIS_LAYER_H
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* --- layer.c: errors end the process with one line on stdout ---------------------------- */

/* "entry "E": <message>" ("entry" only while an entry is being written), exit 1 */
_Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a failed syscall as node's fs names it: "ENOENT: no such file or directory, open 'PATH'" */
_Noreturn void fail_sys(const char *syscall, const char *path);
/* the same for calls with two paths: "EEXIST: file already exists, link 'A' -> 'B'" */
_Noreturn void fail_sys2(const char *syscall, const char *from, const char *to);
/* what libc.ts's koffi calls said: "mknod PATH: ENOENT" */
_Noreturn void fail_libc(const char *what);
/* the entry being written, for messages (NULL before the first and after the last) */
void set_current(const char *name);

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- source.c: the uncompressed tar, hashed as it is read --------------------------------- */

void source_open(int fd);
/* up to `max` bytes of the tar at *p (valid until the next call); 0 at its end */
size_t source_get(const unsigned char **p, size_t max);
/* the digest ("sha256:<hex>") and size of everything read so far */
void source_digest(char out[72]);
uint64_t source_size(void);

/* --- tar.c -------------------------------------------------------------------------------- */

enum entry_type { T_FILE, T_HARDLINK, T_SYMLINK, T_CHAR, T_BLOCK, T_DIR, T_FIFO };

struct xattr {
  char *name;
  unsigned char *value;
  size_t len;
};

struct entry {
  char *name;
  enum entry_type type;
  unsigned mode; /* permission, set-id and sticky bits */
  unsigned long long uid, gid;
  uint64_t size;
  struct timespec mtime;
  char *linkname;
  unsigned devmajor, devminor;
  struct xattr *xattrs;
  size_t nxattrs;
};

/* reads the whole archive (and the rest of the stream, for the digest), handing entries to unpack.c */
void tar_read(void);

/* --- unpack.c ----------------------------------------------------------------------------- */

void unpack_init(const char *target, int overlay, char **lowers, int nlowers);
void unpack_entry(const struct entry *e);
void unpack_data(const unsigned char *p, size_t n);
/* the current file's content is complete */
void unpack_end(void);
/* after the last entry: directory mtimes */
void unpack_finish(void);
extern unsigned long long unpack_count;

/* --- table.c: string sets and maps -------------------------------------------------------- */

struct table {
  char **keys;
  void **vals;
  size_t cap, n;
};
void *table_get(const struct table *t, const char *key);
int table_has(const struct table *t, const char *key);
void table_set(struct table *t, const char *key, void *val);
void table_clear(struct table *t);
#endif

/* The writer: each entry of the layer onto the target directory, with plain syscalls.
 *   apply:   onto a root filesystem (a bundle's rootfs): OCI whiteouts delete what lower layers
 *            put there, `.wh..wh..opq` empties a directory of lower content.
 *   overlay: into a fresh per-layer directory overlayfs stacks over the --lower ones: whiteouts
 *            become overlayfs's own (a 0/0 char device; the trusted.overlay.opaque xattr).
 * Absolute names and `..` escapes are refused; a symlinked parent is resolved inside the root
 * filesystem (through the lower layers in overlay mode, as overlayfs merges them), and one whose
 * relative target climbs above the root is refused. Paths are resolved here, component by
 * component, never by the kernel: what a link points to is read and followed inside the root.
 * This is a line-by-line port of what src/image/unpack.ts did in node (same order of calls, same
 * messages), so the trees and the errors are the ones the tests knew. */
#include "layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"
#define OVERLAY_OPAQUE "trusted.overlay.opaque"
#define OVERLAY_PREFIX "trusted.overlay."
/* symlinks followed while resolving one path before giving up (Linux's MAXSYMLINKS) */
#define MAX_SYMLINKS 40

unsigned long long unpack_count;

/* A directory of the root filesystem as the layers show it: `path` relative to the root, with
 * no symlink in it, and `layers`, the indices (0 = the target, then the lowers) whose directory
 * at `path` overlayfs merges into it, topmost first. Shared by the cache; never freed. */
struct dir {
  char *path;
  int *layers;
  int n;
};

enum found_kind { F_NONE, F_DIR, F_SYMLINK, F_OTHER };
struct found {
  enum found_kind kind;
  int layer;
  struct stat st;
  int *dirs;
  int ndirs;
};

/* the target first, then the lower layers (overlay mode), topmost first */
static char **layers;
static int nlayers;
static char *root;
static int overlay;
/* directory paths as named in the layer -> the directory they resolve to */
static struct table dir_cache;
/* every path a cached resolution looked at: writing there invalidates the cache */
static struct table consulted;
/* relative paths this layer wrote (an opaque dir keeps them) */
static struct table written;
/* relative paths created in the target (a superset: removals are not taken out) */
static struct table made;
/* directories whose mtime is set at the end (writing their children changes it) */
static struct dir_time {
  char *path;
  struct timespec t;
} *dir_times;
static size_t ndir_times, cap_dir_times;
static int as_root;
/* Root unpacking with no set-group-id directory about: an entry created now is owned by 0:0 and
 * gets the mode it was created with, minus the umask, so its lchown (0:0) and chmod (no set-id
 * or sticky bits, nothing the umask cuts) change nothing and are skipped. A set-group-id
 * directory would hand its group (and, to new directories, its bit) down: the first one seen
 * turns this off. */
static int plain;
static mode_t umask_bits;
/* the target was empty: a path not in `made` is known to be absent (no lstat to ask) */
static int fresh;
/* the regular file being written, and its entry (owner, mode, xattrs, mtime once it is complete:
 * a write drops security.capability and moves the mtime) */
static int file_fd = -1;
static char *pending_path;
static const struct entry *pending;
/* while resolving a hardlink's target: escapes are named after it */
static const char *hardlink_ctx;

static _Noreturn void escape(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void escape(const char *fmt, ...) {
  va_list ap;
  char *why;
  va_start(ap, fmt);
  if (vasprintf(&why, fmt, ap) < 0)
    fail("out of memory");
  va_end(ap);
  if (hardlink_ctx)
    fail("hardlink target \"%s\": %s", hardlink_ctx, why);
  fail("%s", why);
}

static char *join(const char *dir, const char *name) {
  return *dir ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

static char *parent_of(const char *rel) {
  const char *slash = strrchr(rel, '/');
  return slash ? strndup(rel, (size_t)(slash - rel)) : xstrdup("");
}

static const char *base_of(const char *rel) {
  const char *slash = strrchr(rel, '/');
  return slash ? slash + 1 : rel;
}

static char *abs_path(const char *rel) {
  return *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
}

static char *layer_path(int i, const char *rel) {
  return xasprintf("%s/%s", layers[i], rel);
}

static int starts_with(const char *s, const char *prefix) {
  return !strncmp(s, prefix, strlen(prefix));
}

/* lstat, false for a path that is not there (ENOENT), any other error fatal */
static int lstat_or_none(const char *path, struct stat *st) {
  if (lstat(path, st) == 0)
    return 1;
  if (errno != ENOENT)
    fail_sys("lstat", path);
  return 0;
}

/* lstat of `rel` in the target, without the call when the target started empty and nothing was made there */
static int lstat_at(const char *rel, struct stat *st) {
  if (fresh && !table_has(&made, rel))
    return 0;
  char *path = abs_path(rel);
  int r = lstat_or_none(path, st);
  free(path);
  return r;
}

static void set_times(const char *path, struct timespec t) {
  struct timespec ts[2] = { t, t };
  if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
    fail_sys("lutime", path);
}

static void set_xattr(const char *path, const char *name, const void *value, size_t len) {
  if (lsetxattr(path, name, value, len, 0) != 0) {
    char *what = xasprintf("setxattr %s on %s", name, path);
    fail_libc(what);
  }
}

/* every xattr of `from` onto `to` (not overlayfs's own unless `all`) */
static void copy_xattrs(const char *from, const char *to, int all) {
  ssize_t size = llistxattr(from, NULL, 0);
  if (size < 0) {
    if (errno == EOPNOTSUPP)
      return;
    char *what = xasprintf("listxattr %s", from);
    fail_libc(what);
  }
  if (size == 0)
    return;
  char *list = xmalloc((size_t)size);
  ssize_t got = llistxattr(from, list, (size_t)size);
  if (got < 0) {
    char *what = xasprintf("listxattr %s", from);
    fail_libc(what);
  }
  for (char *name = list; name < list + got; name += strlen(name) + 1) {
    if (!*name || (!all && starts_with(name, OVERLAY_PREFIX)))
      continue;
    ssize_t len = lgetxattr(from, name, NULL, 0);
    if (len < 0)
      continue; /* removed meanwhile */
    char *value = xmalloc((size_t)len);
    ssize_t n = lgetxattr(from, name, value, (size_t)len);
    if (n >= 0)
      set_xattr(to, name, value, (size_t)n);
    free(value);
  }
  free(list);
}

static int has_opaque(const char *path) {
  if (lgetxattr(path, OVERLAY_OPAQUE, NULL, 0) >= 0)
    return 1;
  if (errno == ENODATA || errno == EOPNOTSUPP)
    return 0;
  char *what = xasprintf("listxattr %s", path);
  fail_libc(what);
}

static void push_dir_time(const char *path, struct timespec t) {
  if (ndir_times == cap_dir_times) {
    cap_dir_times = cap_dir_times ? cap_dir_times * 2 : 256;
    dir_times = xrealloc(dir_times, sizeof(*dir_times) * cap_dir_times);
  }
  dir_times[ndir_times++] = (struct dir_time){ xstrdup(path), t };
}

static void make_dir(const char *path, mode_t mode) {
  if (mkdir(path, mode) != 0)
    fail_sys("mkdir", path);
}

static void do_chmod(const char *path, mode_t mode) {
  if (chmod(path, mode) != 0)
    fail_sys("chmod", path);
}

static void do_lchown(const char *path, unsigned long long uid, unsigned long long gid) {
  if (lchown(path, (uid_t)uid, (gid_t)gid) != 0)
    fail_sys("lchown", path);
}

static void do_mknod(const char *path, mode_t mode, dev_t dev) {
  if (mknod(path, mode, dev) != 0) {
    char *what = xasprintf("mknod %s", path);
    fail_libc(what);
  }
}

/* Owner, mode, xattrs (not overlayfs's own) and, at the end, the mtime of directory `from`, onto `to`. */
static void copy_dir_metadata(const char *from, const char *to) {
  struct stat st;
  if (lstat(from, &st) != 0)
    fail_sys("lstat", from);
  if (as_root)
    do_lchown(to, st.st_uid, st.st_gid);
  do_chmod(to, st.st_mode & 07777);
  if (st.st_mode & S_ISGID)
    plain = 0;
  copy_xattrs(from, to, 0);
  push_dir_time(to, st.st_mtim);
}

static struct dir *dir_new(const char *path, const int *idx, int n) {
  struct dir *d = xmalloc(sizeof(*d));
  d->path = xstrdup(path);
  d->layers = xmalloc(sizeof(int) * (size_t)(nlayers + 1));
  if (n)
    memcpy(d->layers, idx, sizeof(int) * (size_t)n);
  d->n = n;
  return d;
}

/* Something at `rel` is replaced or removed: resolutions that looked at it are stale. */
static void changed(const char *rel) {
  if (!table_has(&consulted, rel))
    return;
  table_clear(&dir_cache);
  table_clear(&consulted);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  int r = flag == FTW_DP ? rmdir(path) : unlink(path);
  if (r != 0 && errno != ENOENT)
    fail_sys("rm", path);
  return 0;
}

static void remove_at(const char *rel, const struct stat *st) {
  changed(rel);
  char *path = abs_path(rel);
  if (S_ISDIR(st->st_mode)) {
    if (nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
      fail_sys("rm", path);
  } else if (unlink(path) != 0 && errno != ENOENT) {
    fail_sys("rm", path);
  }
  free(path);
}

/* `child` of directory `parent` in the merged view (overlayfs's lookup): F_NONE when absent or whited out */
static void lookup(const struct dir *parent, const char *child, struct found *f) {
  f->kind = F_NONE;
  f->ndirs = 0;
  f->dirs = NULL;
  for (int k = 0; k < parent->n; k++) {
    int i = parent->layers[k];
    char *path = layer_path(i, child);
    struct stat st;
    int there = i == 0 ? lstat_at(child, &st) : lstat_or_none(path, &st);
    if (!there) {
      free(path);
      continue;
    }
    if (!f->dirs) {
      if (S_ISCHR(st.st_mode) && st.st_rdev == 0 && overlay) {
        free(path);
        f->kind = F_NONE; /* a whiteout */
        return;
      }
      if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
        f->kind = S_ISLNK(st.st_mode) ? F_SYMLINK : F_OTHER;
        f->layer = i;
        f->st = st;
        free(path);
        return;
      }
      f->kind = F_DIR;
      f->dirs = xmalloc(sizeof(int) * (size_t)(nlayers + 1));
      f->dirs[f->ndirs++] = i;
    } else if (S_ISDIR(st.st_mode)) {
      f->dirs[f->ndirs++] = i;
    } else {
      free(path);
      break; /* a non-directory below ends the merge */
    }
    int last = i == parent->layers[parent->n - 1];
    int opaque = !last && nlayers > 1 && has_opaque(path);
    free(path);
    if (opaque)
      break;
  }
}

static struct dir *resolve(const char *rel, int create);

/* Make a directory only lower layers have exist in the target, with the topmost lower copy's metadata. */
static void materialise(struct dir *d) {
  if (d->layers[0] == 0)
    return;
  char *parent = parent_of(d->path);
  resolve(parent, 1);
  free(parent);
  char *path = abs_path(d->path);
  make_dir(path, 0700);
  table_set(&made, d->path, (void *)1);
  char *from = layer_path(d->layers[0], d->path);
  copy_dir_metadata(from, path);
  free(from);
  free(path);
  memmove(d->layers + 1, d->layers, sizeof(int) * (size_t)d->n);
  d->layers[0] = 0;
  d->n++;
}

/* a stack of path components still to walk: the next one last */
struct todo {
  char **c;
  size_t n, cap;
};

static void todo_push_path(struct todo *t, const char *path) {
  /* "a/b/c" pushed as c, b, a: a comes off first */
  char *copy = xstrdup(path);
  size_t parts = 1;
  for (char *p = copy; *p; p++)
    parts += *p == '/';
  if (t->n + parts > t->cap) {
    t->cap = (t->n + parts) * 2;
    t->c = xrealloc(t->c, sizeof(char *) * t->cap);
  }
  char **start = t->c + t->n;
  char *s = copy;
  for (size_t i = 0; i < parts; i++) {
    char *slash = strchr(s, '/');
    if (slash)
      *slash = 0;
    start[parts - 1 - i] = xstrdup(s);
    s = slash ? slash + 1 : s + strlen(s);
  }
  t->n += parts;
  free(copy);
}

static char *read_link(const char *path) {
  size_t cap = 256;
  for (;;) {
    char *buf = xmalloc(cap);
    ssize_t n = readlink(path, buf, cap);
    if (n < 0)
      fail_sys("readlink", path);
    if ((size_t)n < cap) {
      buf[n] = 0;
      return buf;
    }
    free(buf);
    cap *= 2;
  }
}

/* The directory `rel` (a path as the layer names it) resolves to, as containerd and umoci
 * resolve an entry's parent: component by component through the layers' merged view, a
 * symlink's target read with the root filesystem as `/` (absolute targets included). A relative
 * target climbing above the root is refused, as is a parent that is not a directory. With
 * `create`, missing directories are made (layers may omit them) and directories only a lower
 * layer has are copied up into the target with their owner, mode and xattrs. */
static struct dir *resolve(const char *rel, int create) {
  struct dir *hit = table_get(&dir_cache, rel);
  if (hit && (!create || hit->layers[0] == 0))
    return hit;
  if (hit) {
    materialise(hit);
    return hit;
  }
  struct dir *cur = dir_new("", NULL, 0);
  for (int i = 0; i < nlayers; i++)
    cur->layers[cur->n++] = i;
  struct todo todo = { 0 };
  if (*rel)
    todo_push_path(&todo, rel);
  int follows = 0;
  while (todo.n) {
    char *c = todo.c[--todo.n];
    if (!*c || !strcmp(c, ".")) {
      free(c);
      continue;
    }
    if (!strcmp(c, "..")) {
      free(c);
      if (!*cur->path)
        escape("parent \"%s\" leaves the root filesystem through a symbolic link", rel);
      char *up = parent_of(cur->path);
      cur = resolve(up, create);
      free(up);
      continue;
    }
    char *child = join(cur->path, c);
    free(c);
    struct dir *cached = table_get(&dir_cache, child);
    if (cached) {
      if (create)
        materialise(cached);
      cur = cached;
      free(child);
      continue;
    }
    table_set(&consulted, child, (void *)1);
    struct found f;
    lookup(cur, child, &f);
    if (f.kind == F_NONE) {
      if (!create)
        escape("\"%s\" does not exist", child);
      char *path = abs_path(child);
      make_dir(path, 0755);
      free(path);
      table_set(&made, child, (void *)1);
      int top = 0;
      cur = dir_new(child, &top, 1);
    } else if (f.kind == F_SYMLINK) {
      if (++follows > MAX_SYMLINKS)
        escape("\"%s\": too many levels of symbolic links", rel);
      char *lp = layer_path(f.layer, child);
      char *target = read_link(lp);
      free(lp);
      if (target[0] == '/')
        cur = resolve("", create);
      todo_push_path(&todo, target);
      free(target);
      free(child);
      continue;
    } else if (f.kind == F_OTHER) {
      escape("parent \"%s\" is not a directory", child);
    } else {
      cur = dir_new(child, f.dirs, f.ndirs);
      free(f.dirs);
      if (create)
        materialise(cur);
    }
    table_set(&dir_cache, child, cur);
    free(child);
  }
  free(todo.c);
  table_set(&dir_cache, rel, cur);
  return cur;
}

/* posix.normalize of a relative name, without trailing slashes ("." for nothing) */
static char *clean_name(const char *name) {
  char *copy = xstrdup(name), *out = xmalloc(strlen(name) + 2);
  size_t len = 0;
  char *save = NULL;
  for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    if (!strcmp(c, "."))
      continue;
    if (!strcmp(c, "..")) {
      /* drop the last component unless it is itself ".." (or there is none) */
      char *last = len ? memrchr(out, '/', len) : NULL;
      const char *lc = last ? last + 1 : out;
      size_t lclen = len - (size_t)(lc - out);
      if (len && !(lclen == 2 && !memcmp(lc, "..", 2))) {
        len = last ? (size_t)(last - out) : 0;
        continue;
      }
    }
    if (len)
      out[len++] = '/';
    memcpy(out + len, c, strlen(c));
    len += strlen(c);
  }
  free(copy);
  if (!len)
    out[len++] = '.';
  out[len] = 0;
  return out;
}

/* the entry's path relative to the target, refused when it could land outside */
static char *relative(const char *name, const char *what) {
  if (name[0] == '/')
    escape("%s \"%s\" is an absolute path", what, name);
  char *clean = clean_name(name);
  if (!strcmp(clean, "..") || starts_with(clean, "../"))
    escape("%s \"%s\" leaves the root filesystem", what, name);
  if (!strcmp(clean, "."))
    clean[0] = 0;
  return clean;
}

static void copy_file(const char *from, const char *to, const struct stat *st) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    fail_sys2("copyfile", from, to);
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st->st_mode & 0777);
  if (out < 0)
    fail_sys2("copyfile", from, to);
  for (;;) {
    ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
    if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
      n = sendfile(out, in, NULL, 1 << 30);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail_sys2("copyfile", from, to);
    if (n == 0)
      break;
  }
  close(in);
  if (close(out) != 0)
    fail_sys2("copyfile", from, to);
}

/* The file a hardlink entry links to, in the target: its parents resolved as an entry's are, its
 * last component not followed. A file only a lower layer has is copied up first (a link cannot
 * reach into another layer's directory). */
static char *link_source(const char *linkname) {
  char *target = relative(linkname, "hardlink target");
  char *tparent = parent_of(target);
  hardlink_ctx = linkname;
  struct dir *parent = resolve(tparent, 0);
  hardlink_ctx = NULL;
  free(tparent);
  char *rel = join(parent->path, base_of(target));
  free(target);
  struct found f;
  lookup(parent, rel, &f);
  free(f.dirs);
  if (f.kind == F_NONE)
    escape("hardlink target \"%s\" does not exist in the layer", linkname);
  if (f.kind == F_DIR)
    escape("hardlink target \"%s\" is a directory", linkname);
  char *to = abs_path(rel);
  if (f.layer == 0) {
    free(rel);
    return to;
  }
  const struct stat *st = &f.st;
  char *rparent = parent_of(rel);
  resolve(rparent, 1);
  free(rparent);
  char *from = layer_path(f.layer, rel);
  table_set(&made, rel, (void *)1);
  if (S_ISREG(st->st_mode)) {
    copy_file(from, to, st);
  } else if (S_ISLNK(st->st_mode)) {
    char *t = read_link(from);
    if (symlink(t, to) != 0)
      fail_sys2("symlink", t, to);
    free(t);
  } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) || S_ISFIFO(st->st_mode)) {
    do_mknod(to, (st->st_mode & S_IFMT) | (st->st_mode & 0777), st->st_rdev);
  } else {
    escape("hardlink target \"%s\" is a socket", linkname);
  }
  if (as_root)
    do_lchown(to, st->st_uid, st->st_gid);
  if (!S_ISLNK(st->st_mode))
    do_chmod(to, st->st_mode & 07777);
  copy_xattrs(from, to, 1);
  set_times(to, st->st_mtim);
  free(from);
  free(rel);
  return to;
}

/* Owner, mode, xattrs and mtime, in that order (chown clears set-id bits). `created`: the entry
 * was just made, with its mode's permission bits (see `plain`). */
static void metadata(const char *path, const struct entry *e, int created) {
  int ready = created && plain;
  int owned = ready && e->uid == 0 && e->gid == 0;
  if (as_root && !owned)
    do_lchown(path, e->uid, e->gid);
  if (e->type != T_SYMLINK && !(owned && (e->mode & 07000) == 0 && (e->mode & umask_bits) == 0))
    do_chmod(path, e->mode & 07777);
  if (e->type == T_DIR && (e->mode & S_ISGID))
    plain = 0;
  for (size_t i = 0; i < e->nxattrs; i++) {
    /* a layer must not forge overlayfs's own attributes (an opaque marker, a redirect) */
    if (starts_with(e->xattrs[i].name, OVERLAY_PREFIX))
      continue;
    set_xattr(path, e->xattrs[i].name, e->xattrs[i].value, e->xattrs[i].len);
  }
  if (e->type == T_DIR)
    push_dir_time(path, e->mtime);
  else
    set_times(path, e->mtime);
}

static void close_file(void) {
  if (file_fd >= 0 && close(file_fd) != 0)
    fail_sys("close", pending_path ? pending_path : "?");
  file_fd = -1;
  if (pending)
    metadata(pending_path, pending, 1);
  pending = NULL;
  free(pending_path);
  pending_path = NULL;
}

/* Remove everything under `dir` that lower layers put there (keep what this layer wrote). */
static void clear_lower(const char *dir) {
  char *path = abs_path(dir);
  DIR *d = opendir(path);
  if (!d)
    fail_sys("scandir", path);
  /* names first: removing while reading a directory may skip some */
  char **names = NULL;
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    names = xrealloc(names, sizeof(char *) * (n + 1));
    names[n++] = xstrdup(de->d_name);
  }
  closedir(d);
  for (size_t i = 0; i < n; i++) {
    char *rel = join(dir, names[i]);
    char *p = abs_path(rel);
    struct stat st;
    if (lstat(p, &st) != 0)
      fail_sys("lstat", p);
    if (!table_has(&written, rel))
      remove_at(rel, &st);
    else if (S_ISDIR(st.st_mode))
      clear_lower(rel);
    free(p);
    free(rel);
    free(names[i]);
  }
  free(names);
  free(path);
}

static void whiteout(const char *rel, const char *base) {
  char *parent = parent_of(rel);
  const char *dir = resolve(parent, 1)->path;
  free(parent);
  if (!strcmp(base, OPAQUE)) {
    changed(dir);
    if (overlay) {
      char *path = abs_path(dir);
      set_xattr(path, OVERLAY_OPAQUE, "y", 1);
      free(path);
    } else {
      char *d = xstrdup(dir);
      clear_lower(d);
      free(d);
    }
    return;
  }
  if (starts_with(base, WHITEOUT WHITEOUT))
    return; /* other aufs metadata (.wh..wh.plnk): not content */
  const char *name = base + strlen(WHITEOUT);
  if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/'))
    escape("invalid whiteout \"%s\"", base);
  char *victim = join(dir, name);
  struct stat st;
  int existing = lstat_at(victim, &st);
  changed(victim);
  if (overlay) {
    if (existing)
      remove_at(victim, &st);
    char *path = abs_path(victim);
    do_mknod(path, S_IFCHR, 0);
    free(path);
    table_set(&made, victim, (void *)1);
  } else if (existing && !table_has(&written, victim)) {
    remove_at(victim, &st);
  }
  free(victim);
}

void unpack_entry(const struct entry *e) {
  set_current(e->name);
  unpack_count++;
  char *rel = relative(e->name, "entry");
  const char *base = base_of(rel);
  if (starts_with(base, WHITEOUT)) {
    whiteout(rel, base);
    free(rel);
    return;
  }
  if (!*rel) {
    /* "./": the root directory's own metadata */
    if (e->type != T_DIR)
      escape("the archive root must be a directory");
    metadata(root, e, 0);
    free(rel);
    return;
  }
  char *parent = parent_of(rel);
  char *at = join(resolve(parent, 1)->path, base);
  free(parent);
  char *path = abs_path(at);
  struct stat st;
  int existing = lstat_at(at, &st);
  int keep_dir = existing && S_ISDIR(st.st_mode) && e->type == T_DIR;
  if (existing && !keep_dir)
    remove_at(at, &st);
  if (!keep_dir)
    changed(at);
  table_set(&written, at, (void *)1);
  table_set(&made, at, (void *)1);
  switch (e->type) {
  case T_DIR:
    if (!keep_dir)
      make_dir(path, plain ? (e->mode & 0777) : 0700);
    break;
  case T_FILE:
    file_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, plain ? (e->mode & 0777) : 0600);
    if (file_fd < 0)
      fail_sys("open", path);
    pending = e;
    pending_path = path;
    free(at);
    free(rel);
    if (e->size == 0)
      close_file();
    return;
  case T_SYMLINK:
    if (symlink(e->linkname, path) != 0)
      fail_sys2("symlink", e->linkname, path);
    break;
  case T_HARDLINK: {
    char *src = link_source(e->linkname);
    if (link(src, path) != 0)
      fail_sys2("link", src, path);
    free(src);
    free(path);
    free(at);
    free(rel);
    return; /* the link shares its target's inode and metadata */
  }
  case T_CHAR:
  case T_BLOCK:
  case T_FIFO: {
    mode_t kind = e->type == T_CHAR ? S_IFCHR : e->type == T_BLOCK ? S_IFBLK : S_IFIFO;
    do_mknod(path, kind | (e->mode & 0777), makedev(e->devmajor, e->devminor));
    break;
  }
  }
  metadata(path, e, !keep_dir);
  free(path);
  free(at);
  free(rel);
}

void unpack_data(const unsigned char *p, size_t n) {
  if (file_fd < 0)
    return; /* a whiteout or the root entry carrying data: nothing to write */
  while (n > 0) {
    ssize_t w = write(file_fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      fail_sys("write", pending_path);
    p += w;
    n -= (size_t)w;
  }
}

void unpack_end(void) {
  close_file();
}

void unpack_finish(void) {
  close_file();
  for (size_t i = 0; i < ndir_times; i++)
    set_times(dir_times[i].path, dir_times[i].t);
  set_current(NULL);
}

void unpack_init(const char *target, int overlay_mode, char **lowers, int nlowers) {
  size_t len = strlen(target);
  while (len > 1 && target[len - 1] == '/')
    len--;
  root = strndup(target, len);
  overlay = overlay_mode;
  nlayers = 1 + (overlay ? nlowers : 0);
  layers = xmalloc(sizeof(char *) * (size_t)nlayers);
  layers[0] = root;
  for (int i = 1; i < nlayers; i++)
    layers[i] = lowers[i - 1];
  DIR *d = opendir(root);
  if (!d)
    fail_sys("scandir", root);
  fresh = 1;
  struct dirent *de;
  while ((de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      fresh = 0;
  closedir(d);
  struct stat st;
  if (stat(root, &st) != 0)
    fail_sys("stat", root);
  as_root = geteuid() == 0;
  plain = as_root && getegid() == 0 && !(st.st_mode & S_ISGID);
  mode_t u = umask(0);
  umask(u);
  umask_bits = plain ? u : 0777;
  /* overlayfs shows the topmost layer's root directory: the layer below's, unless this one has "./" */
  if (nlayers > 1)
    copy_dir_metadata(layers[1], root);
}

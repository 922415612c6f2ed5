/* The container's file system: MOUNT, MKDIRS, MOUNT_SETATTR, MKNOD, SYMLINK, PIVOT_ROOT,
   MOVE_ROOT, CHROOT, UMOUNT, MASK_SOURCE, MASK, READONLY, MOUNT_KEEP_MODE, OPEN_TREE, MOVE_MOUNT.
   Order and flags are Node's choice; this file only executes. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h> /* glibc ≥ 2.36 carries struct mount_attr; <linux/mount.h> would clash */
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "shim.h"

static const char *or_null(const char *s) { return *s ? s : NULL; }

static void mount_scoped(const struct op *op, const char *data) {
  const char *source = op->args[0], *target = op->args[1], *scope = op->args[5];
  unsigned long flags = (unsigned long)arg_ull(op, 3);
  char where[64];
  int fd = -1;
  if (*scope) {
    /* procfs and sysfs only on a real directory: a symlinked /proc (a volume another container
       can write) would put the container's procfs where it chooses (CVE-2019-19921, runc) */
    const char *fstype = op->args[2];
    bool pseudo = strcmp(fstype, "proc") == 0 || strcmp(fstype, "sysfs") == 0;
    fd = open_scoped(scope, target, O_PATH | (pseudo ? O_NOFOLLOW : 0));
    if (fd < 0) die("open %s in %s", target, scope);
    struct stat st;
    if (pseudo && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode))
      die_errno(0, "%s is a symlink in the rootfs: %s must be mounted on an ordinary directory", target, fstype);
    fd_path(fd, where);
  }
  if (mount(or_null(source), fd >= 0 ? where : target, or_null(op->args[2]), flags, or_null(data)) < 0)
    die("mount %s on %s", source, target);
  if (fd >= 0) close(fd);
}

void op_mount(const struct op *op) { mount_scoped(op, op->args[4]); }

static void mkdirs(const char *path, const char *scope, bool file);

/* One pass of mkdir -p over *path, every component resolved inside scope. A dangling symlink
   cannot be created through, so like runc (securejoin) we splice its target into the path and
   start over: returns 1 then, 0 when done. */
static int mkdirs_pass(const char *scope, char **pathp, bool file) {
  char *path = *pathp, *p = path;
  for (;;) {
    while (*p == '/') p++;
    if (!*p) return 0;
    char *comp = p, *end = strchrnul(p, '/');
    bool last = end[strspn(end, "/")] == '\0';
    char saved = *end;
    *end = '\0';
    int fd = open_scoped(scope, path, O_PATH);
    if (fd >= 0) {
      close(fd);
    } else if (errno != ENOENT) {
      die("open %s", path);
    } else {
      /* create comp inside its (already resolved) parent: a name without '/' cannot escape */
      char c = *comp;
      *comp = '\0';
      int dir = open_scoped(scope, *path ? path : "/", O_PATH | O_DIRECTORY);
      *comp = c;
      if (dir < 0) die("open parent of %s", path);
      int rc = last && file ? mknodat(dir, comp, S_IFREG | 0644, 0) : mkdirat(dir, comp, 0755);
      if (rc < 0 && errno != EEXIST) die("create %s", path);
      char target[4096];
      ssize_t n = rc < 0 ? readlinkat(dir, comp, target, sizeof target - 1) : -1;
      close(dir);
      if (n > 0) {
        target[n] = '\0';
        *end = saved;
        *comp = '\0';
        char *next = NULL;
        if (asprintf(&next, "%s/%s%s", target[0] == '/' ? "" : path, target, end) < 0) die("asprintf");
        free(path);
        *pathp = next;
        return 1;
      }
    }
    *end = saved;
    p = end;
  }
}

static void mkdirs(const char *orig, const char *scope, bool file) {
  char *path = strdup(orig);
  if (!path) die("strdup");
  for (int hops = 0; mkdirs_pass(scope, &path, file); hops++)
    if (hops == 40) die_errno(ELOOP, "too many dangling symlinks in %s", orig);
  free(path);
}

void op_mkdirs(const struct op *op) {
  const char *kind = op->args[2];
  bool file = strcmp(kind, "file") == 0;
  if (!file && strcmp(kind, "dir") != 0) die_errno(EINVAL, "unknown kind %s", kind);
  mkdirs(op->args[0], op->args[1], file);
}

/* A tmpfs takes the mode of the directory it covers, when that directory was there before (runc
   puts "mode=<its mode>" in front of the data, so an explicit mode= still wins); a directory made
   here gets tmpfs's own default (1777), as in runc. Creates the mount point, then mounts. */
void op_mount_keep_mode(const struct op *op) {
  const char *target = op->args[1], *scope = op->args[5], *data = op->args[4];
  char *with_mode = NULL;
  int fd = open_scoped(scope, target, O_PATH);
  if (fd >= 0) {
    struct stat st;
    if (fstat(fd, &st) < 0) die("stat %s", target);
    close(fd);
    if (S_ISDIR(st.st_mode) &&
        asprintf(&with_mode, "mode=%04o%s%s", st.st_mode & 07777, *data ? "," : "", data) < 0)
      die("asprintf");
  } else if (errno != ENOENT) {
    die("open %s", target);
  }
  mkdirs(target, scope, false);
  mount_scoped(op, with_mode ? with_mode : data);
  free(with_mode);
}

void op_mount_setattr(const struct op *op) {
  const char *target = op->args[0], *scope = op->args[1];
  struct mount_attr attr = {
    .attr_set = arg_ull(op, 2),
    .attr_clr = arg_ull(op, 3),
    .propagation = arg_ull(op, 4),
  };
  unsigned flags = AT_EMPTY_PATH | (strcmp(op->args[5], "1") == 0 ? AT_RECURSIVE : 0);
  int fd = open_scoped(scope, target, O_PATH);
  if (fd < 0) die("open %s", target);
  if (syscall(SYS_mount_setattr, fd, "", flags, &attr, sizeof attr) < 0)
    die("mount_setattr %s", target);
  close(fd);
}

/* The directory that will hold path's last component, resolved inside scope (RESOLVE_IN_ROOT:
   no symlink on the way leaves it), and that component: a name without '/' cannot escape. */
static int open_parent(const char *scope, const char *path, const char **base) {
  const char *slash = strrchr(path, '/');
  *base = slash ? slash + 1 : path;
  if (!**base || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
    errno = EINVAL;
    return -1;
  }
  char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
  if (!dir) die("strdup");
  int fd = open_scoped(scope, *dir ? dir : "/", O_PATH | O_DIRECTORY);
  int err = errno;
  free(dir);
  errno = err;
  return fd;
}

void op_mknod(const struct op *op) {
  const char *path = op->args[0], *type = op->args[1], *scope = op->args[7];
  mode_t kind;
  switch (type[0]) {
  case 'c': case 'u': kind = S_IFCHR; break;
  case 'b': kind = S_IFBLK; break;
  case 'p': kind = S_IFIFO; break;
  default: die_errno(EINVAL, "unknown device type %s", type);
  }
  dev_t dev = makedev((unsigned)arg_ll(op, 2), (unsigned)arg_ll(op, 3));
  mode_t mode = (mode_t)arg_ll(op, 4) & 07777;
  const char *base;
  int dir = open_parent(scope, path, &base);
  if (dir < 0) die("open parent of %s", path);
  mode_t old = umask(0); /* the spec's fileMode is exact */
  int rc = mknodat(dir, base, kind | mode, dev);
  umask(old);
  if (rc < 0 && errno == EEXIST) { /* runc: the rootfs's own node (or whatever is there) stays */
    close(dir);
    return;
  }
  if (rc < 0) die("mknod %s", path);
  if (fchownat(dir, base, (uid_t)arg_ll(op, 5), (gid_t)arg_ll(op, 6), AT_SYMLINK_NOFOLLOW) < 0)
    die("chown %s", path);
  close(dir);
}

void op_symlink(const struct op *op) {
  const char *linkpath = op->args[1];
  const char *base;
  int dir = open_parent(op->args[2], linkpath, &base);
  if (dir < 0) die("open parent of %s", linkpath);
  if (symlinkat(op->args[0], dir, base) < 0 && errno != EEXIST) die("symlink %s", linkpath);
  close(dir);
}

void op_pivot_root(const struct op *op) {
  const char *rootfs = op->args[0];
  int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0) die("open /");
  if (chdir(rootfs) < 0) die("chdir %s", rootfs);
  /* pivot_root(".", ".") stacks the old root on top of the new one; no put_old directory needed */
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root %s", rootfs);
  if (fchdir(oldroot) < 0) die("fchdir old root");
  /* make the old root a slave first, so detaching it cannot propagate unmounts to the host */
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) die("make old root rslave");
  if (umount2(".", MNT_DETACH) < 0) die("unmount old root");
  if (chdir("/") < 0) die("chdir /");
  close(oldroot);
}

void op_move_root(const struct op *op) {
  const char *rootfs = op->args[0];
  if (chdir(rootfs) < 0) die("chdir %s", rootfs);
  if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0) die("move %s to /", rootfs);
  if (chroot(".") < 0) die("chroot %s", rootfs);
  if (chdir("/") < 0) die("chdir /");
}

/* No mount namespace of its own: the container shares the runtime's mount tree, so neither
   pivot_root nor MS_MOVE (both would change the host's "/"): only chroot, as runc does. */
void op_chroot(const struct op *op) {
  const char *root = op->args[0];
  if (chdir(root) < 0) die("chdir %s", root);
  if (chroot(".") < 0) die("chroot %s", root);
  if (chdir("/") < 0) die("chdir /");
}

/* Detach a mount (and what is mounted below it); one that is already gone is not an error. */
void op_umount(const struct op *op) {
  const char *path = op->args[0];
  if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
    die("unmount %s", path);
}

/* Bind sources of a container in a user namespace: its root is an unprivileged uid on the host
   and may not reach them (a 0700 directory on the way). Like runc, open them while we are still
   the runtime: a detached copy of the tree (open_tree(OPEN_TREE_CLONE)), made before CLONE, is
   attached in the container's mount namespace by MOVE_MOUNT. */
void op_open_tree(const struct op *op) {
  const char *path = op->args[0];
  if (S.tree_count == (int)(sizeof S.tree_fds / sizeof S.tree_fds[0])) die_errno(E2BIG, "too many bind sources");
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (strcmp(op->args[1], "1") == 0 ? AT_RECURSIVE : 0);
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, flags);
  if (fd < 0) die("open_tree %s", path);
  S.tree_fds[S.tree_count++] = fd;
}

void op_move_mount(const struct op *op) {
  long long index = arg_ll(op, 0);
  const char *target = op->args[1], *scope = op->args[2];
  if (index < 0 || index >= S.tree_count || S.tree_fds[index] < 0) die_errno(EBADF, "no bind source %lld", index);
  int to = open_scoped(scope, target, O_PATH);
  if (to < 0) die("open %s in %s", target, scope);
  if (syscall(SYS_move_mount, S.tree_fds[index], "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    die("move_mount onto %s", target);
  close(to);
  close(S.tree_fds[index]);
  S.tree_fds[index] = -1;
}

/* MASK_SOURCE: before the root switch, open the null device that MASK binds over files, and
   verify it (a character device 1:3, opened without following a link): never a path in the
   rootfs, where a planted /dev/null symlink would bind the attacker's choice over /proc/timer_list
   (CVE-2025-31133). Kept as a detached clone of its mount (open_tree), so it outlives pivot_root. */
void op_mask_source(const struct op *op) {
  const char *path = op->args[0];
  int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("open %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0) die("stat %s", path);
  if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
    die_errno(0, "%s is not the null device (character device 1:3)", path);
  int tree = (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (tree < 0) die("open_tree %s", path);
  close(fd);
  if (S.mask_fd >= 0) close(S.mask_fd);
  S.mask_fd = tree;
  S.mask_attached = false;
}

/* Put a verified null device on path: the MASK_SOURCE clone itself the first time, then clones
   of it (now attached, it can be cloned like any mount of ours). */
static int mask_file(const char *path) {
  if (S.mask_fd < 0) {
    errno = EBADF; /* a plan with MASK but no MASK_SOURCE */
    return -1;
  }
  int tree = S.mask_fd;
  if (S.mask_attached) {
    tree = (int)syscall(SYS_open_tree, S.mask_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (tree < 0) return -1;
  }
  int rc = (int)syscall(SYS_move_mount, tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS);
  int err = errno;
  if (tree != S.mask_fd) close(tree);
  else if (rc == 0) S.mask_attached = true;
  errno = err;
  return rc;
}

void op_mask(const struct op *op) {
  const char *path = op->args[0];
  struct stat st;
  if (stat(path, &st) < 0) {
    if (errno == ENOENT) return;
    die("stat %s", path);
  }
  int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) : mask_file(path);
  if (rc < 0) die("mask %s", path);
}

void op_readonly(const struct op *op) {
  const char *path = op->args[0];
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT) return;
    die("bind %s", path);
  }
  /* keep the flags it already has: in a user namespace they are locked, dropping them is EPERM */
  struct statfs sf;
  if (statfs(path, &sf) < 0) die("statfs %s", path);
  unsigned long keep = (unsigned long)sf.f_flags &
      (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
  if (mount(path, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0)
    die("remount %s read-only", path);
}

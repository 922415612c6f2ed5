/* polis-shim: shared declarations. The wire format and the op table are in ../PROTOCOL.md; the op
   codes, argument counts (main.c) and message types must match src/linux/plan.ts and shim.ts
   (test/unit/protocol.test.ts checks). */
#ifndef POLIS_SHIM_H
#define POLIS_SHIM_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum op_code {
  OP_END = 0, OP_SETNS, OP_CGROUP_JOIN, OP_TIMENS, OP_CONSOLE_SOCKET, OP_CLONE, OP_SETSID,
  OP_BECOME_ROOT, OP_MOUNT, OP_MKDIRS, OP_MOUNT_SETATTR, OP_MKNOD, OP_SYMLINK, OP_PAUSE,
  OP_PIVOT_ROOT, OP_MOVE_ROOT, OP_MASK, OP_READONLY, OP_WRITE_FILE, OP_SETHOSTNAME,
  OP_SETDOMAINNAME, OP_CONSOLE, OP_RLIMIT, OP_IOPRIO, OP_SCHED, OP_PERSONALITY, OP_NO_NEW_PRIVS,
  OP_CAP_BOUNDING, OP_USER, OP_CAPS, OP_CAP_AMBIENT, OP_CHDIR, OP_FIND_EXEC, OP_FIFO_OPEN,
  OP_READY, OP_FIFO_WAIT, OP_SECCOMP, OP_EXEC,
  OP_NEW_KEYRING = 38, OP_SECCOMP_LISTENER = 39,
  OP_CONSOLE_PAIR = 40, /* explicit: 38, 39 are NEW_KEYRING, SECCOMP_LISTENER */
  OP_MKFIFO = 41,
  OP_PARENT_CGROUPS = 42,
  OP_LOOPBACK_UP = 43,
  OP_MASK_SOURCE = 44,
  /* 45-49 are free: sec-native and sec-plan added ops at the same time */
  OP_CHROOT = 50,
  OP_UMOUNT = 51,
  OP_MOUNT_KEEP_MODE = 52,
  OP_OPEN_TREE = 53,
  OP_MOVE_MOUNT = 54,
  OP__COUNT
};

/* One decoded record. Every argument is NUL-terminated; len excludes the NUL (bpf is binary). */
struct op {
  uint32_t code;
  uint32_t nargs;
  char **args;
  uint32_t *lens;
};

struct plan {
  struct op *ops;
  size_t count; /* without the END record */
};

/* The whole state of the shim: one process, one plan, run once. */
struct shim {
  int sync_fd;
  int step;           /* index of the op being run, for ERROR messages */
  int console_fd;     /* CONSOLE_SOCKET → CONSOLE */
  int fifo_fd;        /* FIFO_OPEN → FIFO_WAIT */
  char *exec_path;    /* FIND_EXEC → EXEC */
  bool ready;         /* READY was sent: Node may no longer be listening */
  pid_t host_pid;     /* after CLONE, in the child: its pid in the runtime's pid namespace */
  int parent_cgroup_fds[16]; /* PARENT_CGROUPS → CLONE (wait mode) */
  int parent_cgroup_count;
  int mask_fd;        /* MASK_SOURCE → MASK: a detached (then attached) mount of the null device */
  bool mask_attached; /* mask_fd was moved onto a masked path: clone it for the next ones */
  int tree_fds[256];  /* OPEN_TREE → MOVE_MOUNT: detached copies of bind sources, by index */
  int tree_count;
};

extern struct shim S;

/* plan.c */
int plan_read(int fd, struct plan *plan); /* 0, or -1 with errno */
bool plan_take_byte(char *c); /* a byte read past the plan's END, for wait_resume() */
bool plan_got_nothing(void);  /* plan_read() failed before a single byte arrived */

/* sync.c: messages to Node (see PROTOCOL.md "Messages") */
enum msg_type { MSG_PID = 1, MSG_PAUSE = 2, MSG_READY = 3, MSG_ERROR = 4, MSG_EXITED = 5 };
void send_msg(uint32_t type, int32_t step, int32_t err, int64_t value, const char *bytes);
void wait_resume(void);
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* util.c */
int send_with_fd(int sock, int fd, const char *buf, size_t len);
long long arg_ll(const struct op *op, uint32_t i);
unsigned long long arg_ull(const struct op *op, uint32_t i);
int open_scoped(const char *scope, const char *path, int flags); /* fd or -1/errno */
void fd_path(int fd, char buf[64]);
int write_all(int fd, const void *buf, size_t len);

/* pty_proxy.c: foreground terminal (CONSOLE_PAIR). In the parent after CLONE: receive the pty
   master from the child and proxy it to our stdin/stdout until the child is gone. */
bool pty_proxy_wanted(void);
void pty_proxy_run(pid_t pid, int pidfd);

/* ops_*.c: every op either succeeds or calls die() */
void op_setns(const struct op *op);
void op_cgroup_join(const struct op *op);
void op_timens(const struct op *op);
void op_console_socket(const struct op *op);
void op_clone(const struct op *op);
void op_parent_cgroups(const struct op *op); /* returns only in the child */
void op_setsid(const struct op *op);
void op_become_root(const struct op *op);
void op_loopback_up(const struct op *op);

void op_mount(const struct op *op);
void op_mkdirs(const struct op *op);
void op_mount_setattr(const struct op *op);
void op_mknod(const struct op *op);
void op_symlink(const struct op *op);
void op_pivot_root(const struct op *op);
void op_move_root(const struct op *op);
void op_mask_source(const struct op *op);
void op_chroot(const struct op *op);
void op_umount(const struct op *op);
void op_mount_keep_mode(const struct op *op);
void op_open_tree(const struct op *op);
void op_move_mount(const struct op *op);
void op_mask(const struct op *op);
void op_readonly(const struct op *op);
void op_write_file(const struct op *op);

void op_sethostname(const struct op *op);
void op_setdomainname(const struct op *op);
void op_console(const struct op *op);
void op_console_pair(const struct op *op);
void op_rlimit(const struct op *op);
void op_ioprio(const struct op *op);
void op_sched(const struct op *op);
void op_personality(const struct op *op);
void op_no_new_privs(const struct op *op);
void op_cap_bounding(const struct op *op);
void op_user(const struct op *op);
void op_caps(const struct op *op);
void op_cap_ambient(const struct op *op);
void op_chdir(const struct op *op);
void op_new_keyring(const struct op *op);
void op_seccomp(const struct op *op);
void op_seccomp_listener(const struct op *op); /* before CLONE: connect to the seccomp agent */

void op_find_exec(const struct op *op);
void op_fifo_open(const struct op *op);
void op_mkfifo(const struct op *op); /* ops_fifo.c */
void op_ready(const struct op *op);
void op_fifo_wait(const struct op *op);
void op_exec(const struct op *op);

#endif

/* MKFIFO: the exec fifo is made here, in the shim, before CLONE. Node has no mkfifo binding, and
   loading an FFI library just for this one call cost `polis create` ~14 ms. */
#define _GNU_SOURCE
#include <sys/stat.h>

#include "shim.h"

void op_mkfifo(const struct op *op) {
  mode_t mode = (mode_t)arg_ll(op, 1);
  if (mkfifo(op->args[0], mode) < 0) die("mkfifo %s", op->args[0]);
  /* Not left to the umask: the init may have dropped to any uid by the time it opens the fifo. */
  if (chmod(op->args[0], mode) < 0) die("chmod %s", op->args[0]);
}

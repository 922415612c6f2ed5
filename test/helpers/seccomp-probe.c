/* Test-only: load a raw seccomp BPF program, then make one syscall or exec a command, so the
 * seccomp tests can prove what a compiled filter does without the shim.
 *
 *   seccomp-probe BPF-FILE FLAGS mkdir PATH          mkdir(PATH, 0700)
 *   seccomp-probe BPF-FILE FLAGS sys NR [ARG...]     syscall(NR, ARG...)   (numbers: strtoull base 0)
 *   seccomp-probe BPF-FILE FLAGS clone FLAGS         raw clone(FLAGS|SIGCHLD) like fork; child exits 0
 *   seccomp-probe BPF-FILE FLAGS exec PATH [ARG...]  execv(PATH, [PATH, ARG...])
 *
 * Prints "ret=R errno=E" (E = 0 on success). A failed load prints "load errno=E" and exits 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long long num(const char *s) { return strtoull(s, NULL, 0); }

static int report(long ret) {
  printf("ret=%ld errno=%d\n", ret, ret < 0 ? errno : 0);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: seccomp-probe BPF-FILE FLAGS CMD [ARG...]\n");
    return 64;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 64; }
  static unsigned char buf[8 * 4096 + 8];
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  struct sock_fprog prog = { .len = (unsigned short)(len / 8), .filter = (struct sock_filter *)buf };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("prctl"); return 64; }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned int)num(argv[2]), &prog) < 0) {
    printf("load errno=%d\n", errno);
    fflush(stdout);
    return 2;
  }
  const char *cmd = argv[3];
  if (strcmp(cmd, "mkdir") == 0 && argc == 5) return report(mkdir(argv[4], 0700));
  if (strcmp(cmd, "sys") == 0 && argc >= 5) {
    unsigned long long a[6] = {0};
    for (int i = 5; i < argc && i < 11; i++) a[i - 5] = num(argv[i]);
    return report(syscall((long)num(argv[4]), a[0], a[1], a[2], a[3], a[4], a[5]));
  }
  if (strcmp(cmd, "clone") == 0 && argc == 5) {
    long pid = syscall(SYS_clone, (unsigned long)num(argv[4]) | SIGCHLD, 0UL, 0UL, 0UL, 0UL);
    if (pid == 0) syscall(SYS_exit_group, 0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    return report(pid > 0 ? 0 : pid);
  }
  if (strcmp(cmd, "exec") == 0 && argc >= 5) {
    execv(argv[4], argv + 4);
    return report(-1);
  }
  fprintf(stderr, "seccomp-probe: bad command\n");
  return 64;
}

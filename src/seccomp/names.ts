// The seccomp vocabulary of config.json (`linux.seccomp`) mapped to kernel/libseccomp values.
// Pure tables with no imports: validation and `polis features` (through src/spec/names.ts, which
// re-exports them) use them without loading libseccomp. This file is their only definition.

/** Action names → the base SECCOMP_RET_* value; the low 16 bits carry errnoRet for ERRNO/TRACE. */
export const ACTIONS: Readonly<Record<string, number>> = Object.freeze({
  SCMP_ACT_KILL: 0x00000000, // = KILL_THREAD, as libseccomp and runc define it
  SCMP_ACT_KILL_THREAD: 0x00000000,
  SCMP_ACT_KILL_PROCESS: 0x80000000,
  SCMP_ACT_TRAP: 0x00030000,
  SCMP_ACT_ERRNO: 0x00050000,
  SCMP_ACT_TRACE: 0x7ff00000,
  SCMP_ACT_LOG: 0x7ffc0000,
  SCMP_ACT_ALLOW: 0x7fff0000,
  SCMP_ACT_NOTIFY: 0x7fc00000,
});

/** Actions whose low 16 bits are a return value (errnoRet; EPERM when absent, like runc). */
export const ACTIONS_WITH_ERRNO = new Set(["SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"]);

/** enum scmp_compare */
export const OPERATORS: Readonly<Record<string, number>> = Object.freeze({
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
});

/** linux.seccomp.flags -> seccomp(2) SECCOMP_FILTER_FLAG_* bit (linux/seccomp.h). What polis
 * actually passes is decided in compile.ts (it drops TSYNC). */
export const FLAGS: Readonly<Record<string, number>> = Object.freeze({
  SECCOMP_FILTER_FLAG_TSYNC: 1 << 0,
  SECCOMP_FILTER_FLAG_LOG: 1 << 1,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 1 << 2,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 1 << 5,
});

/** Not a config.json flag: set by polis when a rule uses SCMP_ACT_NOTIFY. */
export const FLAG_NEW_LISTENER = 1 << 3;

/** OCI architecture names → libseccomp's names (resolved with seccomp_arch_resolve_name, so an
 * architecture this libseccomp build does not know is reported rather than guessed). */
export const ARCHITECTURES: Readonly<Record<string, string>> = Object.freeze({
  SCMP_ARCH_X86: "x86",
  SCMP_ARCH_X86_64: "x86_64",
  SCMP_ARCH_X32: "x32",
  SCMP_ARCH_ARM: "arm",
  SCMP_ARCH_AARCH64: "aarch64",
  SCMP_ARCH_LOONGARCH64: "loongarch64",
  SCMP_ARCH_M68K: "m68k",
  SCMP_ARCH_MIPS: "mips",
  SCMP_ARCH_MIPS64: "mips64",
  SCMP_ARCH_MIPS64N32: "mips64n32",
  SCMP_ARCH_MIPSEL: "mipsel",
  SCMP_ARCH_MIPSEL64: "mipsel64",
  SCMP_ARCH_MIPSEL64N32: "mipsel64n32",
  SCMP_ARCH_PPC: "ppc",
  SCMP_ARCH_PPC64: "ppc64",
  SCMP_ARCH_PPC64LE: "ppc64le",
  SCMP_ARCH_S390: "s390",
  SCMP_ARCH_S390X: "s390x",
  SCMP_ARCH_SH: "sh",
  SCMP_ARCH_SHEB: "sheb",
  SCMP_ARCH_PARISC: "parisc",
  SCMP_ARCH_PARISC64: "parisc64",
  SCMP_ARCH_RISCV64: "riscv64",
});

/** Syscalls an SCMP_ACT_NOTIFY rule may not cover: the shim makes them after loading the filter
 * and before the listener has the notify fd, so notifying them would hang the container forever.
 * runc forbids `write` for the same reason; polis hands the fd over with `sendmsg`. */
export const NOTIFY_FORBIDDEN = ["write", "sendmsg"];

/** The kernel's BPF_MAXINSNS. */
export const MAX_INSTRUCTIONS = 4096;

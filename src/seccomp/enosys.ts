// runc's answer to "a syscall newer than the profile": a profile written before clone3 or
// openat2 existed denies them with its default action (typically EPERM), and glibc then fails
// instead of falling back to the old call, which it does only on ENOSYS. So, as runc does, a
// syscall numbered above every syscall the profile names gets ENOSYS on the native architecture.

const LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K = 0x06; // BPF_RET | BPF_K
const OFFSET_NR = 0; // struct seccomp_data
const OFFSET_ARCH = 4;
const X32_SYSCALL_BIT = 0x40000000;
const RET_ERRNO_ENOSYS = 0x00050000 | 38;

/** The native architecture's AUDIT_ARCH_* value, where polis knows it. */
export function nativeAuditArch(arch = process.arch): number | undefined {
  return ({ x64: 0xc000003e, arm64: 0xc00000b7, ia32: 0x40000003, arm: 0x40000028 } as Record<string, number>)[arch];
}

function insn(code: number, jt: number, jf: number, k: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(code, 0);
  b[2] = jt;
  b[3] = jf;
  b.writeUInt32LE(k >>> 0, 4);
  return b;
}

/**
 * Put the check in front of `bpf` (classic BPF jumps are relative and forward, so a prefix leaves
 * the program's own jumps intact). x32 syscalls (numbers with bit 30 set, on x86_64) are left to
 * the profile.
 */
export function withEnosysForNewSyscalls(bpf: Buffer, maxNr: number, auditArch: number): Buffer {
  const prefix = [
    insn(LD_W_ABS, 0, 0, OFFSET_ARCH),
    insn(JEQ_K, 0, 4, auditArch), // another architecture: straight to the profile
    insn(LD_W_ABS, 0, 0, OFFSET_NR),
    insn(JSET_K, 2, 0, X32_SYSCALL_BIT), // an x32 syscall: the profile
    insn(JGT_K, 0, 1, maxNr), // newer than anything the profile names: ENOSYS
    insn(RET_K, 0, 0, RET_ERRNO_ENOSYS),
  ];
  return Buffer.concat([...prefix, bpf]);
}

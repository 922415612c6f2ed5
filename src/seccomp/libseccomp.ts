// The few libseccomp 2.5 entry points polis needs, bound through koffi on first use (never at
// import time: most polis invocations never compile a filter, and koffi costs ~10 ms to load).
import { createRequire } from "node:module";
import { PolisError } from "../errors.js";

/** scmp_filter_ctx: an opaque pointer owned by libseccomp. */
export type FilterCtx = unknown;

export interface LibSeccomp {
  init(defaultAction: number): FilterCtx | null;
  release(ctx: FilterCtx): void;
  archResolveName(name: string): number;
  archAdd(ctx: FilterCtx, arch: number): number;
  syscallResolveName(name: string): number;
  /** `args` is a packed `struct scmp_arg_cmp[count]` (24 bytes each), or null. */
  ruleAddArray(ctx: FilterCtx, action: number, syscall: number, count: number, args: Buffer | null): number;
  attrSet(ctx: FilterCtx, attr: number, value: number): number;
  exportBpf(ctx: FilterCtx, fd: number): number;
  memfdCreate(name: string, flags: number): number;
  /** the raw seccomp(2) system call, for probing what the kernel supports: -1 and errno() on failure */
  seccomp(operation: number, flags: number, arg: Buffer | null): number;
  /** errno of the last failed libc call */
  errno(): number;
}

/** enum scmp_filter_attr */
export const ATTR_CTL_NNP = 3;
/** seccomp_syscall_resolve_name's "unknown" (__NR_SCMP_ERROR); other negatives are pseudo-syscalls. */
export const NR_SCMP_ERROR = -1;
export const MFD_CLOEXEC = 1;
/** seccomp(2) operations, and its number on the architectures polis builds for */
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_GET_ACTION_AVAIL = 2;
const NR_SECCOMP: Partial<Record<string, number>> = { x64: 317, arm64: 277 };

let cached: LibSeccomp | undefined;

export function libseccomp(): LibSeccomp {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  let koffi: typeof import("koffi");
  let lib: ReturnType<typeof koffi.load>;
  let libc: ReturnType<typeof koffi.load>;
  try {
    koffi = require("koffi") as typeof import("koffi");
    lib = koffi.load("libseccomp.so.2");
    libc = koffi.load("libc.so.6");
  } catch (err) {
    throw new PolisError(`linux.seccomp: cannot load libseccomp.so.2: ${(err as Error).message}`, {
      field: "linux.seccomp",
      step: "load libseccomp",
    });
  }
  const init = lib.func("void *seccomp_init(uint32_t def_action)");
  const release = lib.func("void seccomp_release(void *ctx)");
  const archResolveName = lib.func("uint32_t seccomp_arch_resolve_name(const char *name)");
  const archAdd = lib.func("int seccomp_arch_add(void *ctx, uint32_t arch)");
  const syscallResolveName = lib.func("int seccomp_syscall_resolve_name(const char *name)");
  const ruleAddArray = lib.func(
    "int seccomp_rule_add_array(void *ctx, uint32_t action, int syscall, unsigned int arg_cnt, const void *arg_array)",
  );
  const attrSet = lib.func("int seccomp_attr_set(void *ctx, int attr, uint32_t value)");
  // libseccomp 2.5 has no seccomp_export_bpf_mem (2.6+): export to a memfd and read it back.
  const exportBpf = lib.func("int seccomp_export_bpf(void *ctx, int fd)");
  const memfdCreate = libc.func("int memfd_create(const char *name, unsigned int flags)");
  const syscall = libc.func("long syscall(long nr, ...)");
  cached = {
    init: (a) => init(a),
    release: (ctx) => release(ctx),
    archResolveName: (n) => archResolveName(n),
    archAdd: (ctx, a) => archAdd(ctx, a),
    syscallResolveName: (n) => syscallResolveName(n),
    ruleAddArray: (ctx, act, nr, count, args) => ruleAddArray(ctx, act, nr, count, args),
    attrSet: (ctx, attr, v) => attrSet(ctx, attr, v),
    exportBpf: (ctx, fd) => exportBpf(ctx, fd),
    memfdCreate: (n, f) => memfdCreate(n, f),
    seccomp: (op, flags, arg) => {
      const nr = NR_SECCOMP[process.arch];
      if (nr === undefined) return -1;
      return Number(syscall(nr, "unsigned int", op, "unsigned int", flags, "void *", arg));
    },
    errno: () => koffi.errno(),
  };
  return cached;
}

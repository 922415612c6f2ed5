// Compile `linux.seccomp` into a raw classic-BPF program (struct sock_filter[]) with the host's
// libseccomp, the way runc builds its filter. Node compiles; the shim only loads the bytes
// (PROTOCOL.md op SECCOMP), so every policy decision here is testable without a container.
import { closeSync, fstatSync, readSync } from "node:fs";
import { constants } from "node:os";
import { fieldError, PolisError } from "../errors.js";
import type { Seccomp } from "../spec/types.js";
import { errnoName } from "../linux/errno.js";
import { ATTR_CTL_NNP, libseccomp, MFD_CLOEXEC, NR_SCMP_ERROR, type FilterCtx, type LibSeccomp } from "./libseccomp.js";
import { ACTIONS, ACTIONS_WITH_ERRNO, ARCHITECTURES, FLAG_NEW_LISTENER, FLAGS, MAX_INSTRUCTIONS, OPERATORS } from "./names.js";
import { nativeAuditArch, withEnosysForNewSyscalls } from "./enosys.js";
import { usesNotify, validateSeccomp } from "./validate.js";

export interface CompiledSeccomp {
  /** raw `struct sock_filter[]` (8 bytes per instruction), host byte order */
  bpf: Buffer;
  /** SECCOMP_FILTER_FLAG_* for seccomp(SECCOMP_SET_MODE_FILTER, flags, …); includes
   * NEW_LISTENER when `notify` */
  flags: number;
  /** an SCMP_ACT_NOTIFY rule exists: the listener fd must go to `listenerPath` */
  notify: boolean;
  /** syscall names this libseccomp does not know, skipped like runc does (for a debug log) */
  skipped: string[];
}

type SyscallArg = NonNullable<NonNullable<Seccomp["syscalls"]>[number]["args"]>[number];

const EPERM = constants.errno.EPERM;
const SCMP_ARG_CMP_SIZE = 24; // struct scmp_arg_cmp { u32 arg; u32 op; u64 datum_a; u64 datum_b; }

/** The 32-bit seccomp action for an action name and optional errnoRet (EPERM by default, as runc). */
export function encodeAction(action: string, errnoRet?: number): number {
  const base = ACTIONS[action];
  if (ACTIONS_WITH_ERRNO.has(action)) return (base | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
  return base >>> 0;
}

export function compileSeccomp(seccomp: Seccomp, field = "linux.seccomp"): CompiledSeccomp {
  validateSeccomp(seccomp, field);
  const lib = libseccomp();
  const defaultAction = encodeAction(seccomp.defaultAction, seccomp.defaultErrnoRet);
  const ctx = lib.init(defaultAction);
  if (!ctx) throw fieldError(`${field}.defaultAction`, "seccomp_init failed");
  try {
    // The shim sets no_new_privs itself (process.noNewPrivileges); the filter must not force it.
    check(lib.attrSet(ctx, ATTR_CTL_NNP, 0), field, "seccomp_attr_set(SCMP_FLTATR_CTL_NNP)");
    addArchitectures(lib, ctx, seccomp, field);
    const { skipped, maxNr } = addRules(lib, ctx, seccomp, defaultAction, field);
    let bpf = exportBpf(lib, ctx, field);
    const native = nativeAuditArch();
    // Only where the default refuses: with an allowing default, a new syscall is allowed anyway.
    if (native !== undefined && maxNr >= 0 && !ALLOWING_DEFAULTS.has(seccomp.defaultAction)) {
      bpf = withEnosysForNewSyscalls(bpf, maxNr, native);
    }
    const notify = usesNotify(seccomp);
    return { bpf, flags: filterFlags(seccomp, notify), notify, skipped };
  } finally {
    lib.release(ctx);
  }
}

function addArchitectures(lib: LibSeccomp, ctx: FilterCtx, seccomp: Seccomp, field: string): void {
  (seccomp.architectures ?? []).forEach((name, i) => {
    const arch = lib.archResolveName(ARCHITECTURES[name]);
    if (arch === 0) throw fieldError(`${field}.architectures[${i}]`, `${name} is not supported by this libseccomp`);
    const rc = lib.archAdd(ctx, arch);
    // The native architecture is in every new filter already.
    if (rc !== 0 && rc !== -constants.errno.EEXIST) check(rc, `${field}.architectures[${i}]`, `seccomp_arch_add(${name})`);
  });
}

const ALLOWING_DEFAULTS = new Set(["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"]);

/** Adds every rule; returns the names libseccomp does not know, and the highest syscall number named. */
function addRules(
  lib: LibSeccomp,
  ctx: FilterCtx,
  seccomp: Seccomp,
  defaultAction: number,
  field: string,
): { skipped: string[]; maxNr: number } {
  const skipped: string[] = [];
  let maxNr = -1;
  (seccomp.syscalls ?? []).forEach((rule, i) => {
    const at = `${field}.syscalls[${i}]`;
    const action = encodeAction(rule.action, rule.errnoRet);
    // Every name the profile mentions counts as known to its author (runc), whatever the action.
    for (const name of rule.names) {
      const nr = lib.syscallResolveName(name);
      if (nr !== NR_SCMP_ERROR && nr >= 0) maxNr = Math.max(maxNr, nr); // negative: another arch's pseudo-syscall
    }
    // libseccomp refuses (EACCES) a rule that repeats the default action; runc drops it silently.
    if (action === defaultAction) return;
    const groups = conditionGroups(rule.args ?? []);
    rule.names.forEach((name, j) => {
      const nr = lib.syscallResolveName(name);
      if (nr === NR_SCMP_ERROR) {
        skipped.push(name);
        return;
      }
      for (const group of groups) {
        const rc = lib.ruleAddArray(ctx, action, nr, group.count, group.buffer);
        check(rc, `${at}.names[${j}]`, `seccomp_rule_add_array(${name})`);
      }
    });
  });
  return { skipped, maxNr };
}

interface ConditionGroup {
  count: number;
  buffer: Buffer | null;
}

/**
 * The argument conditions of one rule, packed as scmp_arg_cmp arrays. All conditions are ANDed
 * in one libseccomp rule — unless two of them test the same argument index: libseccomp cannot
 * AND those, so (like runc) each condition becomes its own rule, i.e. they are ORed.
 */
export function conditionGroups(args: SyscallArg[]): ConditionGroup[] {
  if (args.length === 0) return [{ count: 0, buffer: null }];
  const pack = (list: SyscallArg[]): ConditionGroup => {
    const buffer = Buffer.alloc(SCMP_ARG_CMP_SIZE * list.length);
    list.forEach((arg, k) => {
      const o = k * SCMP_ARG_CMP_SIZE;
      buffer.writeUInt32LE(arg.index, o);
      buffer.writeUInt32LE(OPERATORS[arg.op], o + 4);
      buffer.writeBigUInt64LE(BigInt(arg.value), o + 8);
      buffer.writeBigUInt64LE(BigInt(arg.valueTwo ?? 0), o + 16);
    });
    return { count: list.length, buffer };
  };
  const indexes = new Set(args.map((a) => a.index));
  if (indexes.size === args.length) return [pack(args)];
  return args.map((arg) => pack([arg]));
}

function filterFlags(seccomp: Seccomp, notify: boolean): number {
  let flags = 0;
  for (const name of seccomp.flags ?? []) flags |= FLAGS[name];
  // TSYNC is dropped: the shim is single-threaded, and TSYNC with NEW_LISTENER is rejected by the
  // kernel.
  flags &= ~FLAGS.SECCOMP_FILTER_FLAG_TSYNC;
  // WAIT_KILLABLE_RECV only qualifies a listener; without one the kernel rejects it (EINVAL).
  if (notify) flags |= FLAG_NEW_LISTENER;
  else flags &= ~FLAGS.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  return flags >>> 0;
}

function exportBpf(lib: LibSeccomp, ctx: FilterCtx, field: string): Buffer {
  const fd = lib.memfdCreate("polis-seccomp", MFD_CLOEXEC);
  if (fd < 0) {
    throw new PolisError(`${field}: memfd_create failed: ${errnoName(lib.errno())}`, {
      field,
      step: "export seccomp filter",
      errno: errnoName(lib.errno()),
    });
  }
  try {
    check(lib.exportBpf(ctx, fd), field, "seccomp_export_bpf");
    const size = fstatSync(fd).size;
    const bpf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, bpf, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    if (done !== size || size === 0 || size % 8 !== 0) {
      throw new PolisError(`${field}: seccomp_export_bpf produced ${done} bytes, not a BPF program`, { field });
    }
    if (size / 8 > MAX_INSTRUCTIONS) {
      throw fieldError(field, `filter has ${size / 8} instructions, more than the kernel's limit of ${MAX_INSTRUCTIONS}`);
    }
    return bpf;
  } finally {
    closeSync(fd);
  }
}

/** libseccomp returns -errno. */
function check(rc: number, field: string, step: string): void {
  if (rc >= 0) return;
  const errno = errnoName(-rc);
  throw new PolisError(`${field}: ${step} failed: ${errno}`, { field, step, errno });
}

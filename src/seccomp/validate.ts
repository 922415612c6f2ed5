// Pure checks of `linux.seccomp` (no libseccomp): names of actions, operators, flags and
// architectures, number ranges, and the rules runc enforces. Unknown *syscall* names are not an
// error: like runc, polis skips names this libseccomp does not know (newer kernels' syscalls).
import { fieldError } from "../errors.js";
import type { Seccomp } from "../spec/types.js";
import { ACTIONS, ARCHITECTURES, FLAGS, NOTIFY_FORBIDDEN, OPERATORS } from "./names.js";

const MAX_ARGS = 6;
const UINT64_MAX = 0xffff_ffff_ffff_ffffn;

export function validateSeccomp(seccomp: Seccomp, field = "linux.seccomp"): void {
  if (seccomp === null || typeof seccomp !== "object" || Array.isArray(seccomp)) {
    throw fieldError(field, "must be an object");
  }
  checkAction(seccomp.defaultAction, `${field}.defaultAction`);
  if (seccomp.defaultAction === "SCMP_ACT_NOTIFY") {
    throw fieldError(`${field}.defaultAction`, "SCMP_ACT_NOTIFY cannot be the default action");
  }
  checkErrno(seccomp.defaultErrnoRet, `${field}.defaultErrnoRet`);

  listOf(seccomp.architectures, `${field}.architectures`).forEach((arch, i) => {
    if (typeof arch !== "string" || !Object.hasOwn(ARCHITECTURES, arch)) {
      throw fieldError(`${field}.architectures[${i}]`, `unknown architecture ${JSON.stringify(arch)}`);
    }
  });
  listOf(seccomp.flags, `${field}.flags`).forEach((flag, i) => {
    if (typeof flag !== "string" || !Object.hasOwn(FLAGS, flag)) {
      throw fieldError(`${field}.flags[${i}]`, `unknown flag ${JSON.stringify(flag)}`);
    }
  });
  if (seccomp.listenerPath !== undefined && typeof seccomp.listenerPath !== "string") {
    throw fieldError(`${field}.listenerPath`, "must be a string");
  }
  if (seccomp.listenerMetadata !== undefined && typeof seccomp.listenerMetadata !== "string") {
    throw fieldError(`${field}.listenerMetadata`, "must be a string");
  }

  listOf(seccomp.syscalls, `${field}.syscalls`).forEach((rule, i) => {
    const at = `${field}.syscalls[${i}]`;
    if (rule === null || typeof rule !== "object") throw fieldError(at, "must be an object");
    // An empty names list is a no-op rule (runc accepts it); an empty name is not.
    listOf(rule.names, `${at}.names`).forEach((name, j) => {
      if (typeof name !== "string" || name === "") {
        throw fieldError(`${at}.names[${j}]`, "must be a non-empty syscall name");
      }
    });
    checkAction(rule.action, `${at}.action`);
    checkErrno(rule.errnoRet, `${at}.errnoRet`);
    if (rule.action === "SCMP_ACT_NOTIFY") {
      if (!seccomp.listenerPath) {
        throw fieldError(`${field}.listenerPath`, `must be set: ${at}.action is SCMP_ACT_NOTIFY`);
      }
      const bad = (rule.names ?? []).find((n) => NOTIFY_FORBIDDEN.includes(n));
      if (bad) throw fieldError(`${at}.names`, `SCMP_ACT_NOTIFY cannot be used for the ${bad} syscall`);
    }
    listOf(rule.args, `${at}.args`).forEach((arg, k) => {
      const a = `${at}.args[${k}]`;
      if (arg === null || typeof arg !== "object") throw fieldError(a, "must be an object");
      if (!Number.isInteger(arg.index) || arg.index < 0 || arg.index >= MAX_ARGS) {
        throw fieldError(`${a}.index`, `must be an integer from 0 to ${MAX_ARGS - 1} (syscalls have ${MAX_ARGS} arguments)`);
      }
      checkUint64(arg.value, `${a}.value`);
      if (arg.valueTwo !== undefined) checkUint64(arg.valueTwo, `${a}.valueTwo`);
      if (typeof arg.op !== "string" || !Object.hasOwn(OPERATORS, arg.op)) {
        throw fieldError(`${a}.op`, `unknown operator ${JSON.stringify(arg.op)}`);
      }
    });
  });
}

/** Whether any rule asks for user-space notification (the shim must then hand a listener fd out). */
export function usesNotify(seccomp: Seccomp): boolean {
  return (seccomp.syscalls ?? []).some((rule) => rule.action === "SCMP_ACT_NOTIFY");
}

function checkAction(action: unknown, at: string): void {
  if (action === undefined) throw fieldError(at, "must be set");
  if (typeof action !== "string" || !Object.hasOwn(ACTIONS, action)) {
    throw fieldError(at, `unknown action ${JSON.stringify(action)}`);
  }
}

function checkErrno(value: unknown, at: string): void {
  if (value === undefined) return;
  // The kernel keeps 16 bits of SECCOMP_RET_DATA; runc truncates silently, polis says so.
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0xffff) {
    throw fieldError(at, "must be an integer from 0 to 65535");
  }
}

function checkUint64(value: unknown, at: string): void {
  // JSON numbers above 2^53 arrive rounded; accept any integer that still fits in 64 bits.
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || BigInt(value) > UINT64_MAX) {
    throw fieldError(at, "must be an unsigned 64-bit integer");
  }
}

function listOf<T>(value: T[] | undefined, at: string): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw fieldError(at, "must be an array");
  return value;
}

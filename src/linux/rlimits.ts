// process.rlimits[].type -> RLIMIT_* resource numbers (asm-generic/resource.h), and the value
// encoding RLIMIT ops take (decimal, "-1" = RLIM_INFINITY).
import { fieldError } from "../errors.js";

export const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

/** The resource number of `type`; `field` is the rlimit's path (`process.rlimits[1]`). */
export function rlimitNumber(type: string, field: string): number {
  const n = Object.hasOwn(RLIMITS, type) ? RLIMITS[type] : undefined;
  if (n === undefined) throw fieldError(`${field}.type`, `unknown rlimit "${type}"`);
  return n;
}

// JSON.parse turns 18446744073709551615 (RLIM_INFINITY as a u64) into 2^64 exactly, so anything
// at or above 2^64-1 as a double means "unlimited".
const U64_MAX_AS_DOUBLE = 2 ** 64 - 1;

/** A u64 limit as the shim's decimal argument: "-1" for infinity. */
export function rlimitValue(v: number | bigint): string {
  if (typeof v === "bigint") return v >= 0xffffffffffffffffn ? "-1" : v.toString();
  if (v >= U64_MAX_AS_DOUBLE) return "-1";
  return BigInt(Math.trunc(v)).toString();
}

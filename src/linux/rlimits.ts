// process.rlimits[].type -> RLIMIT_* resource numbers (the RLIMITS table in src/spec/names.ts),
// and the value encoding RLIMIT ops take (decimal, "-1" = RLIM_INFINITY).
import { fieldError } from "../errors.js";
import { RLIMITS } from "../spec/names.js";

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
export function rlimitValue(v: number | bigint): `${bigint}` {
  if (typeof v === "bigint") return v >= 0xffffffffffffffffn ? "-1" : `${v}`;
  if (v >= U64_MAX_AS_DOUBLE) return "-1";
  return `${BigInt(Math.trunc(v))}`;
}

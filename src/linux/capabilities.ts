// Capability names -> the 64-bit masks the shim's CAP_* ops take ("0x..."). The name -> bit table
// is CAPABILITIES in src/spec/names.ts (validation and `features` read the same one).
import { fieldError } from "../errors.js";
import { CAPABILITIES } from "../spec/names.js";
import type { Mask } from "./plan.js";

/** The bit number of a capability, or undefined for a name the kernel does not know. */
export function capNumber(name: string): number | undefined {
  return Object.hasOwn(CAPABILITIES, name) ? CAPABILITIES[name] : undefined;
}

/** Bitmask of `names`; `field` is the list's path (`process.capabilities.bounding`) for errors. */
export function capBits(names: readonly string[] | undefined, field: string): bigint {
  let mask = 0n;
  (names ?? []).forEach((name, i) => {
    const bit = capNumber(name);
    if (bit === undefined) throw fieldError(`${field}[${i}]`, `unknown capability "${name}"`);
    mask |= 1n << BigInt(bit);
  });
  return mask;
}

/** A mask as the shim wants it: lower-case hex with a 0x prefix. */
export function hexMask(mask: bigint): Mask {
  return `0x${mask.toString(16)}`;
}

/** `capBits` formatted for the wire. */
export function capMask(names: readonly string[] | undefined, field: string): Mask {
  return hexMask(capBits(names, field));
}

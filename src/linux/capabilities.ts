// Capability names -> bit numbers, and the 64-bit masks the shim's CAP_* ops take ("0x...").
// The table is the kernel's order (include/uapi/linux/capability.h): the index is the bit.
import { fieldError } from "../errors.js";

export const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
] as const;

export type CapabilityName = (typeof CAPABILITIES)[number];

/** The bit number of a capability, or undefined for a name the kernel does not know. */
export function capNumber(name: string): number | undefined {
  const i = (CAPABILITIES as readonly string[]).indexOf(name);
  return i < 0 ? undefined : i;
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
export function hexMask(mask: bigint): string {
  return "0x" + mask.toString(16);
}

/** `capBits` formatted for the wire. */
export function capMask(names: readonly string[] | undefined, field: string): string {
  return hexMask(capBits(names, field));
}

// IP addresses and CIDR prefixes as numbers (bigint, so IPv4 and IPv6 share one code path).
// Pure functions: parsing, containment, overlap, and the address arithmetic IPAM needs.
import { isIPv4, isIPv6 } from "node:net";
import { PolisError } from "../errors.js";

export type Family = 4 | 6;

export interface Cidr {
  family: Family;
  /** The network address (host bits cleared). */
  base: bigint;
  prefix: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function familyOf(ip: string): Family | undefined {
  if (isIPv4(ip)) return 4;
  // node's isIPv6 compiles a very large regular expression at its first call (3-6 ms here, on
  // every network command: the default pool is IPv6): hex-and-colon forms are checked here, and
  // what has no colon is no IPv6 address (-p 8080:80 asks about "").
  if (!ip.includes(":")) return undefined;
  if (/^[0-9a-fA-F:]+$/.test(ip)) return plainIPv6(ip) ? 6 : undefined;
  return isIPv6(ip) ? 6 : undefined;
}

/** IPv6 written with hex groups and at most one "::" (no IPv4 tail, no zone): as isIPv6 decides. */
function plainIPv6(ip: string): boolean {
  const halves = ip.split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((h) => (h === "" ? [] : h.split(":")));
  if (!groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8;
}

/** An address as a number; throws a PolisError naming `what` when it is not an IP address. */
export function parseIp(ip: string, what = "address"): { family: Family; value: bigint } {
  const family = familyOf(ip);
  if (family === 4) return { family, value: ip.split(".").reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n) };
  if (family === 6) return { family, value: ipv6Value(ip) };
  throw new PolisError(`${what}: "${ip}" is not an IP address`);
}

function ipv6Value(ip: string): bigint {
  let text = ip;
  // an embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = parseIp(v4[1]).value;
    text = text.slice(0, v4.index) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function formatIp(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => Number((value >> s) & 0xffn)).join(".");
  const groups = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(Number((value >> s) & 0xffffn).toString(16));
  // RFC 5952: the longest run (of 2+) of zero groups becomes "::"
  let best = -1,
    bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** Parses "10.88.0.0/16"; `what` names the flag or field in the error. Host bits must be zero. */
export function parseCidr(text: string, what = "subnet"): Cidr {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const family = m ? familyOf(m[1]) : undefined;
  if (!m || !family) throw new PolisError(`${what}: "${text}" is not a CIDR (like 10.89.0.0/24 or fd00::/64)`);
  const prefix = Number(m[2]);
  if (prefix > BITS[family]) throw new PolisError(`${what}: "${text}": prefix /${prefix} is longer than ${BITS[family]} bits`);
  const value = parseIp(m[1], what).value;
  const base = value & mask(family, prefix);
  if (base !== value)
    throw new PolisError(`${what}: "${text}" has host bits set (did you mean ${formatCidr({ family, base, prefix })}?)`);
  return { family, base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.base)}/${c.prefix}`;
}

function mask(family: Family, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/** The number of addresses in the prefix. */
export function size(c: Cidr): bigint {
  return 1n << BigInt(BITS[c.family] - c.prefix);
}

/** The last address of the prefix. */
export function last(c: Cidr): bigint {
  return c.base + size(c) - 1n;
}

export function contains(c: Cidr, family: Family, value: bigint): boolean {
  return family === c.family && value >= c.base && value <= last(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base <= last(b) && b.base <= last(a);
}

/**
 * The addresses a container may get in `subnet` (within `range` when given): not the network
 * address, not the IPv4 broadcast, not the gateway (the caller skips that one).
 */
export function usableRange(subnet: Cidr, range?: Cidr): { first: bigint; last: bigint } {
  let first = subnet.base + 1n;
  let end = subnet.family === 4 && subnet.prefix < 31 ? last(subnet) - 1n : last(subnet);
  if (range) {
    first = range.base > first ? range.base : first;
    end = last(range) < end ? last(range) : end;
  }
  return { first, last: end };
}

/**
 * Splits `pool` into prefixes of length `prefix` and returns the first that overlaps none of
 * `taken`, or undefined when the pool is full.
 */
export function firstFreeSubnet(pool: Cidr, prefix: number, taken: readonly Cidr[]): Cidr | undefined {
  if (prefix < pool.prefix) return undefined;
  const step = 1n << BigInt(BITS[pool.family] - prefix);
  for (let base = pool.base; base <= last(pool); base += step) {
    const candidate: Cidr = { family: pool.family, base, prefix };
    if (!taken.some((t) => overlaps(t, candidate))) return candidate;
  }
  return undefined;
}

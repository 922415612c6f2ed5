// The v1 devices controller as a value: a default (allow or deny everything) plus exceptions,
// each an access set for one "type major:minor" (either number may be a wildcard). Pure logic,
// no filesystem: read devices.list into one, build one from config.json's rules, and compute the
// fewest writes that turn one into the other (runc's devices emulator semantics).
//
// Why: the kernel keeps one rule set per cgroup, and containers may share a cgroup. Rewriting it
// from scratch ("a" to devices.deny, then every allow) denies every device to the processes
// already in it for as long as the rewrite takes; writing only the difference never does.
import { fieldError, PolisError } from "../../errors.js";
import type { DeviceCgroupRule } from "../../spec/types.js";

const F = "linux.resources.devices";

/** The wildcard major or minor ("*" in the kernel's syntax). */
export const ANY = -1;

export type DeviceType = "b" | "c";

export interface DeviceException {
  type: DeviceType;
  major: number;
  minor: number;
  /** a non-empty subset of "rwm", always in that order */
  access: string;
}

export interface DeviceRuleSet {
  /** true: everything is allowed but the exceptions ("a *:* rwm" in devices.list); false: the reverse */
  defaultAllow: boolean;
  /** keyed by "type major:minor" */
  exceptions: Map<string, DeviceException>;
}

/** One line for devices.allow or devices.deny. */
export interface DeviceWrite {
  file: "devices.allow" | "devices.deny";
  line: string;
}

const ACCESS_ORDER = "rwm";
const LINE = /^([abc]) (\d+|\*):(\d+|\*) ([rwm]+)$/;

/** Access letters in rwm order, without duplicates. */
const normalize = (access: string): string => [...ACCESS_ORDER].filter((c) => access.includes(c)).join("");
const union = (a: string, b: string): string => normalize(a + b);
const minus = (a: string, b: string): string => [...a].filter((c) => !b.includes(c)).join("");
const overlap = (a: string, b: string): string => [...a].filter((c) => b.includes(c)).join("");

const num = (n: number): string => (n === ANY ? "*" : String(n));
const keyOf = (type: DeviceType, major: number, minor: number): string => `${type} ${num(major)}:${num(minor)}`;

/** The kernel's syntax: "c 1:3 rwm", "c 136:* rwm", "a *:* rwm". */
export function exceptionLine(e: { type: DeviceType | "a"; major: number; minor: number; access: string }): string {
  return `${e.type} ${num(e.major)}:${num(e.minor)} ${e.access}`;
}

const emptySet = (defaultAllow: boolean): DeviceRuleSet => ({ defaultAllow, exceptions: new Map() });

function addAccess(set: DeviceRuleSet, e: DeviceException): void {
  const key = keyOf(e.type, e.major, e.minor);
  const old = set.exceptions.get(key);
  set.exceptions.set(key, { ...e, access: union(old?.access ?? "", e.access) });
}

/**
 * Take access away from the exception with exactly this type/major/minor, as the kernel does.
 * The kernel silently ignores a removal that a wildcard exception still grants (it cannot punch a
 * hole in "c *:* m"); like runc, refuse that rule instead of pretending it holds.
 */
function removeAccess(set: DeviceRuleSet, e: DeviceException, field: string): void {
  const key = keyOf(e.type, e.major, e.minor);
  const wider = [keyOf(e.type, ANY, e.minor), keyOf(e.type, e.major, ANY), keyOf(e.type, ANY, ANY)];
  for (const w of wider) {
    if (w === key) continue;
    const hit = overlap(set.exceptions.get(w)?.access ?? "", e.access);
    if (hit) {
      throw fieldError(
        field,
        `[${exceptionLine(e)}] cannot be taken out of the wider rule [${w} ${set.exceptions.get(w)!.access}] ` +
          "(the v1 devices controller cannot punch a hole in a wildcard rule)",
      );
    }
  }
  const left = minus(set.exceptions.get(key)?.access ?? "", e.access);
  if (left) set.exceptions.set(key, { ...e, access: left });
  else set.exceptions.delete(key);
}

/** Apply one rule the way the kernel applies a write to devices.allow / devices.deny. */
function applyRule(set: DeviceRuleSet, allow: boolean, e: DeviceException | "all", field: string): DeviceRuleSet {
  // "a" (whatever numbers and access follow it) resets the cgroup to allow-all or deny-all.
  if (e === "all") return emptySet(allow);
  // An allow in a deny-by-default set (or a deny in an allow-by-default one) adds an exception;
  // the other way round it takes access away from one.
  if (allow !== set.defaultAllow) addAccess(set, e);
  else removeAccess(set, e, field);
  return set;
}

/** Check one config.json rule and write it in the kernel's syntax: "c 1:3 rwm", "a *:* rwm". */
export function deviceRuleLine(r: DeviceCgroupRule, i: number): string {
  const type = r.type ?? "a";
  if (!["a", "b", "c"].includes(type))
    throw fieldError(`${F}[${i}].type`, `must be "a", "b" or "c", got ${JSON.stringify(type)}`);
  const access = r.access ?? "rwm";
  if (!/^[rwm]{0,3}$/.test(access) || new Set(access).size !== access.length) {
    throw fieldError(`${F}[${i}].access`, `must be a combination of r, w and m, got ${JSON.stringify(access)}`);
  }
  const number = (v: number | null | undefined, what: string): string => {
    if (v === undefined || v === null || v === -1) return "*";
    if (!Number.isInteger(v) || v < 0) throw fieldError(`${F}[${i}].${what}`, "must be a non-negative integer");
    return String(v);
  };
  // an empty access means all of it (the kernel refuses an empty one)
  return `${type} ${number(r.major, "major")}:${number(r.minor, "minor")} ${access || ACCESS_ORDER}`;
}

/** A line in the kernel's syntax as an exception, or "all" for type "a" (numbers and access ignored). */
function exceptionOfLine(line: string): DeviceException | "all" | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const [, type, major, minor, access] = m;
  if (type === "a") return "all";
  const n = (s: string) => (s === "*" ? ANY : Number(s));
  return { type: type as DeviceType, major: n(major), minor: n(minor), access: normalize(access) };
}

/**
 * The rule set config.json's rules produce, applied in order on a deny-all start (runc's
 * starting point: a rule list without a leading "a" still only allows what it lists).
 */
export function ruleSetOf(rules: DeviceCgroupRule[]): DeviceRuleSet {
  let set = emptySet(false);
  rules.forEach((r, i) => {
    set = applyRule(set, r.allow, exceptionOfLine(deviceRuleLine(r, i))!, `${F}[${i}]`);
  });
  return set;
}

/** `set` after the kernel took `line` from devices.allow (allow) or devices.deny. */
export function applyDeviceLine(set: DeviceRuleSet, allow: boolean, line: string, where: string): DeviceRuleSet {
  const e = exceptionOfLine(line);
  if (!e) throw new PolisError(`${where}: unexpected line ${JSON.stringify(line)}`);
  return applyRule(set, allow, e, where);
}

/**
 * Parse devices.list. An allow-by-default cgroup shows only "a *:* rwm" (the kernel does not list
 * its deny exceptions); a deny-by-default one lists its exceptions, and nothing at all when it
 * allows nothing.
 */
export function parseDevicesList(text: string, where = "devices.list"): DeviceRuleSet {
  let set = emptySet(false);
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    set = applyDeviceLine(set, true, line, where);
  }
  return set;
}

/**
 * runc's order (major, then minor, wildcards first, then type), so the same rules give the same list.
 * The types are "b" and "c": compared as code units, not with localeCompare, whose first call
 * loads ICU's collator (~6 ms of every create).
 */
function ordered(set: DeviceRuleSet): DeviceException[] {
  const byType = (a: DeviceType, b: DeviceType): number => (a < b ? -1 : a > b ? 1 : 0);
  return [...set.exceptions.values()].sort((a, b) => a.major - b.major || a.minor - b.minor || byType(a.type, b.type));
}

/**
 * The writes that turn `from` into `to`, disrupting nothing that both allow. Only a change of
 * default, or a `from` that allows by default (its deny exceptions are not listed, so they cannot
 * be diffed), starts with the disruptive reset "a *:* rwm"; otherwise the writes are the access
 * `to` drops from each exception, then the access it adds.
 */
export function transition(from: DeviceRuleSet, to: DeviceRuleSet): DeviceWrite[] {
  const writes: DeviceWrite[] = [];
  // a write that moves an exception towards `to`'s default, and one that moves it away from it
  const toDefault: DeviceWrite["file"] = to.defaultAllow ? "devices.allow" : "devices.deny";
  const againstDefault: DeviceWrite["file"] = to.defaultAllow ? "devices.deny" : "devices.allow";
  let old = from.exceptions;
  if (from.defaultAllow || from.defaultAllow !== to.defaultAllow) {
    writes.push({ file: toDefault, line: "a *:* rwm" });
    old = new Map();
  }
  for (const e of ordered({ ...from, exceptions: old })) {
    const dropped = minus(e.access, to.exceptions.get(keyOf(e.type, e.major, e.minor))?.access ?? "");
    if (dropped) writes.push({ file: toDefault, line: exceptionLine({ ...e, access: dropped }) });
  }
  for (const e of ordered(to)) {
    const gained = minus(e.access, old.get(keyOf(e.type, e.major, e.minor))?.access ?? "");
    if (gained) writes.push({ file: againstDefault, line: exceptionLine({ ...e, access: gained }) });
  }
  return writes;
}

/**
 * Whether the cgroup (as read back) is in the state `want` asks for. An allow-by-default cgroup
 * hides its deny exceptions, so there only the default can be compared (as runc does).
 */
export function ruleSetMatches(actual: DeviceRuleSet, want: DeviceRuleSet): boolean {
  if (actual.defaultAllow !== want.defaultAllow) return false;
  if (want.defaultAllow) return true;
  if (actual.exceptions.size !== want.exceptions.size) return false;
  for (const [key, e] of want.exceptions) if (actual.exceptions.get(key)?.access !== e.access) return false;
  return true;
}

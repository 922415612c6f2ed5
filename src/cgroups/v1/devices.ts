// v1 devices controller: each rule becomes one line in devices.allow or devices.deny, in order,
// so later rules override earlier ones (a leading deny-all then an allow list).
import { fieldError } from "../../errors.js";
import type { DeviceCgroupRule } from "../../spec/types.js";
import { writeCg } from "../fs.js";

const F = "linux.resources.devices";

/** The kernel's rule syntax: "c 1:3 rwm", "a *:* rwm". */
export function deviceRuleLine(r: DeviceCgroupRule, i: number): string {
  const type = r.type ?? "a";
  if (!["a", "b", "c"].includes(type))
    throw fieldError(`${F}[${i}].type`, `must be "a", "b" or "c", got ${JSON.stringify(type)}`);
  const access = r.access ?? "rwm";
  if (!/^[rwm]{0,3}$/.test(access) || new Set(access).size !== access.length) {
    throw fieldError(`${F}[${i}].access`, `must be a combination of r, w and m, got ${JSON.stringify(access)}`);
  }
  const num = (v: number | null | undefined, what: string): string => {
    if (v === undefined || v === null || v === -1) return "*";
    if (!Number.isInteger(v) || v < 0) throw fieldError(`${F}[${i}].${what}`, "must be a non-negative integer");
    return String(v);
  };
  return `${type} ${num(r.major, "major")}:${num(r.minor, "minor")} ${access || "rwm"}`;
}

export function applyDevicesV1(dir: string, rules: DeviceCgroupRule[]): void {
  rules.forEach((r, i) => {
    const line = deviceRuleLine(r, i);
    writeCg(dir, r.allow ? "devices.allow" : "devices.deny", line, `${F}[${i}]`);
  });
}

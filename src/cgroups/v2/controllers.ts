// cgroup2 controllers are opt-in per level: a leaf has the memory files only when every
// ancestor lists "memory" in cgroup.subtree_control.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { PolisError } from "../../errors.js";
import { readCgOptional, writeCg } from "../fs.js";

/** The ancestors of `dir` from the cgroup2 mount root down to its parent. */
function ancestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = dirname(dir); ; d = dirname(d)) {
    out.unshift(d);
    const up = dirname(d);
    if (up === d || !existsSync(join(up, "cgroup.controllers"))) break;
  }
  return out;
}

function words(dir: string, file: string): Set<string> {
  return new Set((readCgOptional(dir, file) ?? "").split(/\s+/).filter(Boolean));
}

/** Make `names` available in `dir` or throw a PolisError naming `field`. */
export function ensureControllers(dir: string, names: string[], field: string): void {
  for (const level of ancestors(dir)) {
    const available = words(level, "cgroup.controllers");
    const enabled = words(level, "cgroup.subtree_control");
    for (const name of names) {
      if (enabled.has(name)) continue;
      if (!available.has(name)) {
        throw new PolisError(`${field}: the ${name} controller is not available in ${level} (cgroup v2)`, { field });
      }
      writeCg(level, "cgroup.subtree_control", `+${name}`, field);
    }
  }
}

/** Like runc on pure v2: enable whatever each level offers, ignoring refusals (EBUSY when a level has processes). */
export function enableAllControllers(dir: string): void {
  for (const level of ancestors(dir)) {
    const enabled = words(level, "cgroup.subtree_control");
    for (const name of words(level, "cgroup.controllers")) {
      if (enabled.has(name)) continue;
      try {
        writeCg(level, "cgroup.subtree_control", `+${name}`);
      } catch {
        // best effort: apply() reports a missing controller against the field that needs it
      }
    }
  }
}

/** Does the cgroup2 root offer `name` at all? (ensureControllers then enables it down to `dir`.) */
export function controllerAvailable(dir: string, name: string): boolean {
  if (!existsSync(join(dirname(dir), "cgroup.controllers"))) return false;
  return words(ancestors(dir)[0], "cgroup.controllers").has(name);
}

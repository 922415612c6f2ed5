// Is a container's cgroup frozen? Read straight from the recorded paths, with nothing else of the
// cgroup machinery: `state`, `kill` and `start` ask this on every call (paused vs running), and
// loading the whole manager (resources, stats) for one small file read costs start-up time.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readCg, readCgOptional } from "./fs.js";

/** Which freezer a cgroup has: v1's freezer controller, cgroup2's cgroup.freeze, or none. */
export function freezerKind(paths: Record<string, string>): "v1" | "v2" | undefined {
  if (paths.freezer) return "v1";
  if (paths.unified && existsSync(join(paths.unified, "cgroup.freeze"))) return "v2";
  return undefined;
}

/** True when the cgroup (controller -> directory, as recorded at create) is frozen or freezing. */
export function isFrozenAt(paths: Record<string, string>): boolean {
  const kind = freezerKind(paths);
  if (kind === "v1") return readCg(paths.freezer, "freezer.state") !== "THAWED";
  if (kind === "v2") return readCg(paths.unified, "cgroup.freeze") === "1";
  return false;
}

/**
 * True when a cgroup that exists already (before create makes it) is frozen in either tree. runc
 * refuses such a cgroup at create ("container's cgroup unexpectedly frozen"): the init would
 * join it and never run, so `create` would wait for it forever. A missing directory is not frozen.
 */
export function preexistingFrozen(paths: Record<string, string>): boolean {
  const v1 = paths.freezer ? readCgOptional(paths.freezer, "freezer.state") : undefined;
  if (v1 !== undefined && v1 !== "THAWED") return true;
  const v2 = paths.unified ? readCgOptional(paths.unified, "cgroup.freeze") : undefined;
  return v2 === "1";
}

// Is a container's cgroup frozen? Read straight from the recorded paths, with nothing else of the
// cgroup machinery: `state`, `kill` and `start` ask this on every call (paused vs running), and
// loading the whole manager (resources, stats) for one small file read costs start-up time.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readCg } from "./fs.js";

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

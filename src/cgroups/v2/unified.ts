// linux.resources.unified: raw cgroup2 file -> value pairs, written as given.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fieldError } from "../../errors.js";
import { writeCg } from "../fs.js";
import { ensureControllers } from "./controllers.js";

export function applyUnified(dir: string, unified: Record<string, string>): void {
  for (const [key, value] of Object.entries(unified)) {
    const f = `linux.resources.unified.${key}`;
    if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/i.test(key) || key.includes("..")) {
      throw fieldError(f, "must be a cgroup file name like memory.high");
    }
    const prefix = key.split(".")[0];
    // "cgroup.*" files are core; any other prefix names a controller that must be enabled.
    if (prefix !== "cgroup" && !existsSync(join(dir, key))) ensureControllers(dir, [prefix], f);
    if (!existsSync(join(dir, key))) throw fieldError(f, `no such cgroup file ${join(dir, key)}`);
    writeCg(dir, key, value, f);
  }
}

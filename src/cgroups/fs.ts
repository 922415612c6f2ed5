// Small synchronous cgroupfs helpers. Every write failure becomes a PolisError that names the
// config.json field (when there is one), the file and the errno.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PolisError } from "../errors.js";
import { errnoOf } from "../linux/errno.js";

/** Write `value` to <dir>/<file>; on failure the message starts with `field` when given. */
export function writeCg(dir: string, file: string, value: string, field?: string): void {
  const path = join(dir, file);
  try {
    writeFileSync(path, value);
  } catch (e) {
    const errno = errnoOf(e);
    const what = `write ${JSON.stringify(value)} to ${path}: ${errno}`;
    throw new PolisError(field ? `${field}: ${what}` : what, { field, step: `write ${path}`, errno });
  }
}

export function readCg(dir: string, file: string): string {
  const path = join(dir, file);
  try {
    return readFileSync(path, "utf8").trim();
  } catch (e) {
    const errno = errnoOf(e);
    throw new PolisError(`read ${path}: ${errno}`, { step: `read ${path}`, errno });
  }
}

/** Read, returning undefined when the file (or its cgroup) does not exist. */
export function readCgOptional(dir: string, file: string): string | undefined {
  try {
    return readFileSync(join(dir, file), "utf8").trim();
  } catch (e) {
    if (errnoOf(e) === "ENOENT" || errnoOf(e) === "ENODEV") return undefined;
    throw new PolisError(`read ${join(dir, file)}: ${errnoOf(e)}`, { errno: errnoOf(e) });
  }
}

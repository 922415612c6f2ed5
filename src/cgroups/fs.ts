// Small synchronous cgroupfs helpers. Every write failure becomes a PolisError that names the
// config.json field (when there is one), the file and the errno.
import { readFileSync, writeFileSync } from "node:fs";
import { PolisError } from "../errors.js";
import { errnoOf } from "../linux/errno.js";

/**
 * <dir>/<file>. Not path.join: `dir` is already a clean absolute path, and create/run make ~100
 * of these paths; with long container ids that many path.normalize calls made V8 optimise it
 * with TurboFan, whose compiler code and zones were ~4 MiB of the command's peak RSS.
 */
export function cgFile(dir: string, file: string): string {
  return dir.endsWith("/") ? `${dir}${file}` : `${dir}/${file}`;
}

/** Write `value` to <dir>/<file>; on failure the message starts with `field` when given. */
export function writeCg(dir: string, file: string, value: string, field?: string): void {
  const path = cgFile(dir, file);
  try {
    writeFileSync(path, value);
  } catch (e) {
    const errno = errnoOf(e);
    const what = `write ${JSON.stringify(value)} to ${path}: ${errno}`;
    throw new PolisError(field ? `${field}: ${what}` : what, { field, step: `write ${path}`, errno });
  }
}

export function readCg(dir: string, file: string): string {
  const path = cgFile(dir, file);
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
    return readFileSync(cgFile(dir, file), "utf8").trim();
  } catch (e) {
    if (errnoOf(e) === "ENOENT" || errnoOf(e) === "ENODEV") return undefined;
    throw new PolisError(`read ${cgFile(dir, file)}: ${errnoOf(e)}`, { errno: errnoOf(e) });
  }
}

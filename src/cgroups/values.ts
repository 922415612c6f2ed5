// Shared checks for linux.resources values before they reach a cgroup file.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fieldError } from "../errors.js";
import { writeCg } from "./fs.js";

export function int(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw fieldError(field, "must be an integer");
  return v;
}

/** Fail (naming the field) when the host kernel does not offer `file`. */
export function requireFile(dir: string, file: string, field: string, why?: string): void {
  if (!existsSync(join(dir, file))) throw fieldError(field, why ?? `not supported by this kernel (no ${file})`);
}

/** Write integer `value` (checked) to `file`, a file only some kernels have (`requireFile`). */
export function writeIntIfSupported(dir: string, file: string, field: string, value: unknown, why?: string): void {
  requireFile(dir, file, field, why);
  writeCg(dir, file, String(int(field, value)), field);
}

/** runc's linear mapping of a v1 value in [min, max] onto the v2 weight range [1, 10000]; 0 ("not
 * set") stays 0. */
export function v1RangeToV2Weight(v: number, min: number, max: number): number {
  if (v === 0) return 0;
  return 1 + Math.floor(((v - min) * 9999) / (max - min));
}

/** Does the object have at least one field set? (An empty object asks for nothing.) */
export function hasAny(o: object | undefined): boolean {
  return !!o && Object.values(o).some((v) => v !== undefined && v !== null);
}

/** "2MB" -> ok; the kernel's file names use the same spelling. */
export function pageSizeOk(s: string): boolean {
  return /^[0-9]+[KMG]B$/.test(s);
}

// Container ids become directory names under the state root and cgroup path components, so they
// follow runc's rule: word characters, `+`, `-` and `.`, but never `.` or `..` on their own.
import { PolisError } from "../errors.js";

const ID_RE = /^[\w+\-.]+$/;

/** Throws `invalid container id "../x"` unless `id` is safe to use as a path component. */
export function validateId(id: string): void {
  if (!isValidId(id)) throw new PolisError(`invalid container id ${JSON.stringify(id)}`);
}

export function isValidId(id: string): boolean {
  return typeof id === "string" && ID_RE.test(id) && id !== "." && id !== "..";
}

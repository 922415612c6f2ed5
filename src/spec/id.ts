// Container ids become directory names under the state root and cgroup path components, so they
// follow runc's rule: word characters, `+`, `-` and `.`, but never `.` or `..` on their own; and
// they must fit in one directory name (NAME_MAX), which runc finds out only from a failed lstat.
import { PolisError } from "../errors.js";

const ID_RE = /^[\w+\-.]+$/;
/** NAME_MAX: an id names the state directory and the cgroup directory. */
export const MAX_ID_LENGTH = 255;

/** Throws `invalid container id "../x"` unless `id` is safe to use as a path component. */
export function validateId(id: string): void {
  if (!isValidId(id)) throw new PolisError(`invalid container id ${JSON.stringify(id)}`);
  if (id.length > MAX_ID_LENGTH) {
    throw new PolisError(
      `invalid container id: ${id.length} characters, at most ${MAX_ID_LENGTH} (it names a directory): file name too long`,
    );
  }
}

export function isValidId(id: string): boolean {
  return typeof id === "string" && ID_RE.test(id) && id !== "." && id !== "..";
}

import { renameSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { PolisError } from "../errors.js";

/**
 * Write the init pid atomically (temp file + rename), so that a client polling the file
 * (containerd, conmon) never reads a partial number. Like runc: no trailing newline.
 */
export function writePidFile(path: string, pid: number): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, String(pid), { mode: 0o644 });
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    const errno = (err as NodeJS.ErrnoException).code;
    throw new PolisError(`--pid-file: write ${path}: ${errno ?? (err as Error).message}`, { step: "write the pid file", errno });
  }
}

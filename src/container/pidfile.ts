import { closeSync, constants, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { PolisError } from "../errors.js";

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

/**
 * Write the init pid atomically (temp file + rename), so that a client polling the file
 * (containerd, conmon) never reads a partial number. Like runc: no trailing newline, mode 0666
 * less the umask, and the temp file is created exclusively (O_EXCL|O_NOFOLLOW): whoever can write
 * to the directory cannot plant a symlink there to make polis truncate a file elsewhere. Its name
 * is not guessable either, so a planted file cannot stop the write.
 */
export function writePidFile(path: string, pid: number): void {
  let tmp = "";
  let fd: number | undefined;
  let created = false;
  try {
    for (let attempt = 0; fd === undefined; attempt++) {
      tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomHex(6)}.tmp`);
      try {
        fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o666);
        created = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 5) throw err;
      }
    }
    writeSync(fd, String(pid));
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      if (created) unlinkSync(tmp); // never a file somebody else made
    } catch {
      // renamed already
    }
    const errno = (err as NodeJS.ErrnoException).code;
    throw new PolisError(`--pid-file: write ${path}: ${errno ?? (err as Error).message}`, { step: "write the pid file", errno });
  }
}

/**
 * `bytes` random bytes as hex, from the kernel. Not node:crypto: every create imports this file,
 * and loading node:crypto (OpenSSL's bindings and a dozen modules) cost ~1 MiB of RSS and ~1 ms.
 */
function randomHex(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  const fd = openSync("/dev/urandom", "r");
  try {
    readSync(fd, buf, 0, bytes, null);
  } finally {
    closeSync(fd);
  }
  return buf.toString("hex");
}

// Read a file of a container's filesystem from the host without leaving it: openat2(2) with
// RESOLVE_IN_ROOT resolves every component, symlinks and ".." included, as if `root` were "/",
// atomically (a container rewriting its links meanwhile cannot make polis read a host file).
// koffi is loaded on first use only (~8 ms): just create/exec of a process without HOME need it.
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { createRequire } from "node:module";

const NR_OPENAT2 = 437; // the same on every architecture (added after the syscall tables merged)
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_IN_ROOT = 0x10;
/** Larger files are not what we are looking for (and would only cost time). */
const MAX_BYTES = 1 << 20;

let openat2: ((dirfd: number, path: string, how: Buffer) => number) | undefined;

function bind(): (dirfd: number, path: string, how: Buffer) => number {
  if (openat2) return openat2;
  const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
  const syscall = koffi.load("libc.so.6").func("long syscall(long nr, ...)");
  openat2 = (dirfd, path, how) => Number(syscall(NR_OPENAT2, "int", dirfd, "const char *", path, "void *", how, "size_t", how.length));
  return openat2;
}

/**
 * The text of `path` (absolute or relative, taken inside `root`) as the container sees it under
 * `root`, or undefined when it is missing, unreadable, not a regular file, or too large.
 */
export function readFileInRoot(root: string, path: string): string | undefined {
  let dirfd: number;
  try {
    dirfd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return undefined;
  }
  try {
    const how = Buffer.alloc(24); // struct open_how { u64 flags, mode, resolve }
    // O_NONBLOCK: a FIFO planted at the path must not stall polis (it is refused below anyway).
    how.writeBigUInt64LE(BigInt(constants.O_RDONLY | constants.O_NONBLOCK | 0o2000000 /* O_CLOEXEC */), 0);
    how.writeBigUInt64LE(BigInt(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), 16);
    let call: ReturnType<typeof bind>;
    try {
      call = bind();
    } catch {
      return undefined; // no koffi: HOME falls back to "/", never to a host file
    }
    const fd = call(dirfd, path, how);
    if (fd < 0) return undefined;
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > MAX_BYTES) return undefined;
      const buf = Buffer.alloc(Math.min(st.size + 1, MAX_BYTES));
      let n = 0;
      for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
      return buf.subarray(0, n).toString("utf8");
    } finally {
      closeSync(fd);
    }
  } finally {
    closeSync(dirfd);
  }
}

/** HOME for `uid` from a passwd file's text, "/" when the user is not there (runc's rule). */
export function homeOf(passwd: string, uid: number): string {
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length >= 6 && f[2] !== "" && Number(f[2]) === uid) return f[5] || "/";
  }
  return "/";
}

/** A host file named by the config (a bind mount's source), when it is a regular file. */
export function readHostFile(path: string): string | undefined {
  try {
    const st = statSync(path);
    return st.isFile() && st.size <= MAX_BYTES ? readFileSync(path, "utf8") : undefined;
  } catch {
    return undefined;
  }
}

/**
 * runc sets HOME when the process env has none (or an empty one): the user's home from the
 * container's /etc/passwd (read inside `root`), "/" when the user is not there.
 */
export function withHome(env: readonly string[], uid: number, root: string, passwd = () => readFileInRoot(root, "/etc/passwd")): string[] {
  const at = env.findIndex((e) => e.startsWith("HOME="));
  if (at >= 0 && env[at] !== "HOME=") return [...env];
  const home = `HOME=${homeOf(passwd() ?? "", uid)}`;
  return at >= 0 ? env.map((e, i) => (i === at ? home : e)) : [...env, home];
}

/** Does `env` lack a usable HOME (runc then sets one)? Cheap: no file is read. */
export function needsHome(env: readonly string[] | undefined): boolean {
  return !(env ?? []).some((e) => e.startsWith("HOME=") && e !== "HOME=");
}

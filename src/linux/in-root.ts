// Read a file of a container's filesystem from the host without leaving it, as openat2(2) with
// RESOLVE_IN_ROOT would: every component is looked up by the kernel one at a time, relative to a
// directory fd we hold, never following a symlink itself; symlinks are read and resolved here,
// absolute ones from the container's root, and ".." never climbs above it. A container rewriting
// its links meanwhile cannot make polis read a host file. (No koffi: loading it for openat2 cost
// ~25 ms of every create without HOME.)
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, readlinkSync, statSync } from "node:fs";

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;
/** Larger files are not what we are looking for (and would only cost time). */
const MAX_BYTES = 1 << 20;
/** The kernel's limit on symlinks followed in one lookup (MAXSYMLINKS). */
const MAX_LINKS = 40;

const components = (path: string) => path.split("/").filter((c) => c !== "" && c !== ".");

/**
 * An fd for `path` (taken inside `root`) opened read-only and non-blocking, or undefined when it
 * is missing or cannot be opened. The caller closes it.
 */
export function openInRoot(root: string, path: string): number | undefined {
  let rootFd: number;
  try {
    rootFd = openSync(root, O_RDONLY | O_DIRECTORY);
  } catch {
    return undefined;
  }
  const dirs = [rootFd]; // the directories walked so far; dirs[0] is the root
  let todo = components(path);
  let links = 0;
  try {
    while (todo.length) {
      const name = todo.shift()!;
      if (name === "..") {
        if (dirs.length > 1) closeSync(dirs.pop()!);
        continue;
      }
      // one component, relative to a directory we hold (the magic link jumps straight to it)
      const at = `/proc/self/fd/${dirs[dirs.length - 1]}/${name}`;
      try {
        if (todo.length === 0) return openSync(at, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
        dirs.push(openSync(at, O_RDONLY | O_NOFOLLOW | O_DIRECTORY));
        continue;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "ELOOP" && code !== "ENOTDIR") return undefined;
      }
      // a symlink (or something that is not a directory: readlink then fails)
      let target: string;
      try {
        target = readlinkSync(at);
      } catch {
        return undefined;
      }
      if (++links > MAX_LINKS) return undefined;
      if (target.startsWith("/")) while (dirs.length > 1) closeSync(dirs.pop()!);
      todo = [...components(target), ...todo];
    }
    return undefined; // the root itself is no file
  } finally {
    for (const fd of dirs) closeSync(fd);
  }
}

/**
 * The text of `path` (absolute or relative, taken inside `root`) as the container sees it under
 * `root`, or undefined when it is missing, unreadable, not a regular file, or too large.
 */
export function readFileInRoot(root: string, path: string): string | undefined {
  const fd = openInRoot(root, path);
  if (fd === undefined) return undefined;
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
export function withHome(
  env: readonly string[],
  uid: number,
  root: string,
  passwd = () => readFileInRoot(root, "/etc/passwd"),
): string[] {
  const at = env.findIndex((e) => e.startsWith("HOME="));
  if (at >= 0 && env[at] !== "HOME=") return [...env];
  const home = `HOME=${homeOf(passwd() ?? "", uid)}`;
  return at >= 0 ? env.map((e, i) => (i === at ? home : e)) : [...env, home];
}

/** Does `env` lack a usable HOME (runc then sets one)? Cheap: no file is read. */
export function needsHome(env: readonly string[] | undefined): boolean {
  return !(env ?? []).some((e) => e.startsWith("HOME=") && e !== "HOME=");
}

// Where polis finds its own files. Computed on first use (nothing runs at import time).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/** The package directory (the one holding package.json), from wherever this code was bundled. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("polis: cannot find its package directory");
    dir = up;
  }
  return (root = dir);
}

/** The C shim built by node-gyp; POLIS_SHIM overrides it (tests, packagers). */
export function shimPath(): string {
  return process.env.POLIS_SHIM || join(packageRoot(), "native", "build", "Release", "polis-shim");
}

/** PATH when a process has none: runc's default (FIND_EXEC in the init, `ps` run by podman with no PATH). */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Default state root: persistent, and the same for every caller (podman passes no --root). */
export const DEFAULT_ROOT = "/var/lib/polis";

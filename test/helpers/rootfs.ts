// Test fixtures: a busybox rootfs made once per test run, and bundles that share it.
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const REPO = resolve(new URL("../..", import.meta.url).pathname);
const CACHE = join(tmpdir(), "polis-test-rootfs");

/** A pristine busybox rootfs (cached across tests in this run; never modify it in place). */
export function baseRootfs(): string {
  if (!existsSync(join(CACHE, "bin", "busybox"))) {
    execFileSync("bash", [join(REPO, "scripts", "make-rootfs.sh"), CACHE], { stdio: "inherit" });
  }
  return CACHE;
}

/** A fresh directory with a copy of the busybox rootfs at <dir>/rootfs. */
export function makeBundleDir(prefix = "polis-bundle-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // A user-namespaced root (mapped to an unprivileged host id) must be able to reach the rootfs.
  chmodSync(dir, 0o755);
  cpSync(baseRootfs(), join(dir, "rootfs"), { recursive: true, verbatimSymlinks: true });
  return dir;
}

export function writeConfig(bundle: string, config: unknown): void {
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, "config.json"), JSON.stringify(config, null, 2));
}

type Config = Record<string, any>;

/** runc's default config (terminal off, `sleep 1000`), to be adjusted per test. */
export function baseConfig(): Config {
  return JSON.parse(readFileSync(join(REPO, "test", "fixtures", "busybox-config.json"), "utf8"));
}

/** A bundle with a private rootfs copy and `baseConfig()` changed by `edit`. */
export function busyboxBundle(edit: (c: Config) => void = () => {}): string {
  const dir = makeBundleDir();
  const config = baseConfig();
  edit(config);
  writeConfig(dir, config);
  return dir;
}

// The bundles every runtime runs: one busybox rootfs (read-only, shared) and two configs from
// `runc spec` that differ only in process.args.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Make <dir>/rootfs with scripts/make-rootfs.sh and one bundle per entry of argsByName. */
export function makeBundles(repo, dir, argsByName) {
  const rootfs = join(dir, "rootfs");
  execFileSync("bash", [join(repo, "scripts", "make-rootfs.sh"), rootfs], { stdio: ["ignore", "ignore", "inherit"] });
  const specDir = join(dir, "spec");
  mkdirSync(specDir, { recursive: true });
  execFileSync("runc", ["spec", "--bundle", specDir], { stdio: "inherit" });
  const base = JSON.parse(readFileSync(join(specDir, "config.json"), "utf8"));
  const bundles = {};
  for (const [name, args] of Object.entries(argsByName)) {
    const config = structuredClone(base);
    config.process.terminal = false;
    config.process.args = args;
    // Absolute and read-only: the bundles share one rootfs, and no runtime may change it.
    config.root = { path: rootfs, readonly: true };
    const bundle = join(dir, `bundle-${name}`);
    mkdirSync(bundle, { recursive: true });
    writeFileSync(join(bundle, "config.json"), JSON.stringify(config, null, 2));
    bundles[name] = bundle;
  }
  return bundles;
}

// `polis --version`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../paths.js";
import { OCI_VERSION } from "../spec/types.js";

// Set by scripts/build.mjs (esbuild define); absent when running from source.
declare const __POLIS_COMMIT__: string | undefined;

export function versionText(): string {
  let version = "unknown";
  try {
    version = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")).version ?? version;
  } catch {
    // a broken install still says what it can
  }
  const commit = typeof __POLIS_COMMIT__ !== "undefined" ? __POLIS_COMMIT__ : "unknown";
  return `polis version ${version}\ncommit: ${commit}\nspec: ${OCI_VERSION}\n`;
}

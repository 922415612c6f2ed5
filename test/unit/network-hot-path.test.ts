// The runtime's hot commands must never load the network room (nor the config file's YAML
// parser): containerd and podman call them in tight loops. Follows the static imports (those
// run at load; `import()` runs only when reached) from each hot command's module.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../helpers/rootfs.js";

function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, "utf8");
    // `import … from "./x.js"` and `export … from "./x.js"`, not `import type` (erased)
    for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+"(\.[^"]+)"/gms)) {
      walk(resolve(dirname(file), m[1].replace(/\.js$/, ".ts")));
    }
  };
  walk(entry);
  return seen;
}

describe("hot commands", () => {
  for (const cmd of ["state", "kill", "start", "delete", "list", "create", "run"]) {
    it(`polis ${cmd} loads no network code at start`, () => {
      const files = [...staticClosure(join(REPO, "src", "cli", `${cmd}.ts`)), ...staticClosure(join(REPO, "src", "main.ts"))];
      const rel = files.map((f) => f.slice(REPO.length + 1));
      expect(
        rel.filter((f) => f.startsWith("src/network/") || f === "src/config/load.ts" || f === "src/state/networks.ts"),
      ).toEqual([]);
      expect(rel.length).toBeGreaterThan(3); // the walk did follow imports
    });
  }
});

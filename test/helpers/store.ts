// Fresh state stores for unit tests, each in its own temp root, removed after every test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { Store } from "../../src/state/store.js";

/** A maker of stores under temp roots named polis-<prefix>-*; call it at a test file's top level. */
export function tempStores(prefix: string): () => Store {
  const roots: string[] = [];
  afterEach(() => {
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });
  return () => {
    const root = mkdtempSync(join(tmpdir(), `polis-${prefix}-`));
    roots.push(root);
    return Store.open(root);
  };
}

// Fresh state stores for unit tests, each in its own temp root, removed after every test; rows
// made by hand in a root (what a polis killed half-way, or an older one, leaves).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { Store } from "../../src/state/store.js";
import type { ContainerRecord } from "../../src/state/types.js";

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

/**
 * Inserts a container row in phase "creating" into `root`'s database, as a `polis create` does
 * before it makes anything: no init, no cgroup paths, a bundle that does not exist, unless
 * `over` says otherwise.
 */
export function insertCreatingRow(root: string, id: string, over: Partial<ContainerRecord> = {}): void {
  mkdirSync(join(root, "containers"), { recursive: true });
  const store = Store.open(root);
  try {
    store.insert({
      id,
      bundle: "/nonexistent",
      rootfs: "/nonexistent/rootfs",
      phase: "creating",
      pid: null,
      pidStartTime: null,
      bootId: "00000000-0000-4000-8000-000000000000",
      creatorPid: 1,
      creatorStartTime: "0",
      created: "2024-05-01T10:00:00.123456789Z",
      owner: "root",
      annotations: {},
      config: { ociVersion: "1.2.0", root: { path: "rootfs" } } as never,
      cgroupPaths: {},
      stateDir: join(root, "containers", id),
      sessionKeyring: null,
      ...over,
    });
  } finally {
    store.close();
  }
}

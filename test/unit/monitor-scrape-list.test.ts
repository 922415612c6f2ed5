// The containers a monitor scrape lists (listContainersForScrape): store.list()'s records with the
// config cut down to what a scrape reads, the same frozen record while its row is unchanged.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { boundPageCache, listContainersForScrape } from "../../src/state/monitor.js";
import { connectionOf } from "../../src/state/store.js";
import { Store } from "../../src/state/store.js";
import type { ContainerRecord } from "../../src/state/types.js";

const dir = mkdtempSync(join(tmpdir(), "polis-scrape-list-"));
const store = Store.open(join(dir, "root"));
afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const record = (id: string, over: Partial<ContainerRecord> = {}): ContainerRecord => ({
  id,
  bundle: `/bundles/${id}`,
  rootfs: `/bundles/${id}/rootfs`,
  phase: "running",
  pid: 4321,
  pidStartTime: "98765",
  bootId: "6d1a7c2e-0000-4000-8000-000000000001",
  creatorPid: 4242,
  creatorStartTime: "123456",
  created: "2024-05-01T10:00:00.123456789Z",
  owner: "root",
  annotations: { "io.polis.name": `näme-${id}` },
  config: {
    ociVersion: "1.2.0",
    process: { args: ["sh"], cwd: "/" },
    linux: { namespaces: [{ type: "pid" }, { type: "network", path: "/proc/1/ns/net" }] },
  } as ContainerRecord["config"],
  cgroupPaths: { memory: `/sys/fs/cgroup/memory/polis/${id}`, unified: `/sys/fs/cgroup/unified/polis/${id}` },
  stateDir: `/run/polis/${id}`,
  sessionKeyring: null,
  ...over,
});

describe("listContainersForScrape", () => {
  it("gives store.list()'s records, in its order, with only ociVersion and linux.namespaces of the config", () => {
    store.insert(record("b"));
    store.insert(record("a", { config: { ociVersion: "1.0.2" }, pid: null, pidStartTime: null, phase: "created" }));
    const want = store.list().map((r) => ({
      ...r,
      config: {
        ociVersion: r.config.ociVersion,
        ...(r.config.linux ? { linux: { namespaces: r.config.linux.namespaces } } : {}),
      },
    }));
    expect(listContainersForScrape(store)).toEqual(want);
    expect(want.map((r) => r.id)).toEqual(["b", "a"]);
  });

  it("the same frozen record while the row is unchanged, a new one once it changes, none once it is gone", () => {
    const [b1, a1] = listContainersForScrape(store);
    const [b2, a2] = listContainersForScrape(store);
    expect(b2).toBe(b1);
    expect(a2).toBe(a1);
    expect(Object.isFrozen(b1) && Object.isFrozen(b1.cgroupPaths) && Object.isFrozen(b1.config.linux?.namespaces?.[1])).toBe(
      true,
    );
    store.update("a", { pid: 777 });
    const [b3, a3] = listContainersForScrape(store);
    expect(b3).toBe(b1);
    expect(a3).not.toBe(a1);
    expect(a3.pid).toBe(777);
    store.remove("b");
    expect(listContainersForScrape(store).map((r) => r.id)).toEqual(["a"]);
  });
});

describe("boundPageCache", () => {
  it("bounds the connection's page cache, and a scrape still reads rows far larger than it", () => {
    const big = Store.open(join(dir, "big"));
    try {
      boundPageCache(big, 64);
      expect(connectionOf(big).pragma("cache_size", { simple: true })).toBe(-64);
      // 300 rows with a 3 KB config each: ~1 MB, sixteen times the cache
      const args = Array.from({ length: 300 }, (_, i) => `argument-${i}`);
      for (let i = 0; i < 300; i++)
        big.insert(
          record(`c${i}`, { config: { ...record("x").config, process: { args, cwd: "/" } } as ContainerRecord["config"] }),
        );
      const ids = listContainersForScrape(big).map((r) => `${r.id} ${r.config.linux?.namespaces?.length}`);
      expect(ids).toEqual(big.list().map((r) => `${r.id} 2`));
    } finally {
      big.close();
    }
  });
});

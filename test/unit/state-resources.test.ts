// The release seam (src/container/resources.ts) and the event history, against a real store.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { GlobalOptions } from "../../src/container/options.js";
import { releaseResources, setResourceReleaser } from "../../src/container/resources.js";
import { Store } from "../../src/state/store.js";
import type { ResourceRow } from "../../src/state/types.js";

const g: GlobalOptions = { root: "/unused", logFormat: "text", debug: false, systemdCgroup: false };
const cleanup: (() => void)[] = [];
afterEach(() => {
  setResourceReleaser(undefined);
  for (const c of cleanup.splice(0)) c();
});

function store(): Store {
  const dir = mkdtempSync(join(tmpdir(), "polis-resources-"));
  const s = Store.open(dir);
  cleanup.push(() => {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return s;
}

describe("container resources", () => {
  it("records rows per container without a container row, replacing same kind and name", () => {
    const s = store();
    s.addResource("c1", "network", "polis", { ip: "10.88.0.2" });
    s.addResource("c1", "image-bundle", "/b", {});
    s.addResource("c1", "network", "polis", { ip: "10.88.0.3" });
    s.addResource("c2", "network", "polis", {});
    expect(s.resourcesOf("c1")).toEqual([
      { containerId: "c1", kind: "image-bundle", name: "/b", data: {} },
      { containerId: "c1", kind: "network", name: "polis", data: { ip: "10.88.0.3" } },
    ]);
    s.removeResource("c1", "network", "polis");
    expect(s.resourcesOf("c1").map((r) => r.kind)).toEqual(["image-bundle"]);
    expect(s.resourcesOf("c2")).toHaveLength(1);
  });

  it("releases newest first and forgets each row once released", async () => {
    const s = store();
    s.addResource("c1", "image-bundle", "/b");
    s.addResource("c1", "network", "n1");
    const seen: string[] = [];
    setResourceReleaser(async (_g, _s, row: ResourceRow) => {
      seen.push(`${row.kind}:${row.name}`);
    });
    await releaseResources(g, s, "c1");
    expect(seen).toEqual(["network:n1", "image-bundle:/b"]);
    expect(s.resourcesOf("c1")).toEqual([]);
  });

  it("tries every row, keeps the ones that failed and throws the first failure", async () => {
    const s = store();
    s.addResource("c1", "a", "1");
    s.addResource("c1", "b", "2");
    s.addResource("c1", "c", "3");
    setResourceReleaser(async (_g, _s, row) => {
      if (row.kind !== "b") throw new Error(`cannot release ${row.kind}`);
    });
    await expect(releaseResources(g, s, "c1")).rejects.toThrow("cannot release c");
    expect(s.resourcesOf("c1").map((r) => r.kind)).toEqual(["a", "c"]);
  });

  it("refuses to drop rows when no releaser is installed", async () => {
    const s = store();
    s.addResource("c1", "network", "n1");
    await expect(releaseResources(g, s, "c1")).rejects.toThrow("no releaser is installed");
    expect(s.resourcesOf("c1")).toHaveLength(1);
    await releaseResources(g, s, "nothing-here"); // no rows: nothing to do, no releaser needed
  });
});

describe("event history", () => {
  it("appends in order and filters", () => {
    const s = store();
    s.appendEvent({ type: "container", action: "create", id: "c1", attributes: { bundle: "/b" } });
    s.appendEvent({ type: "container", action: "start", id: "c1" });
    s.appendEvent({ type: "image", action: "pull", id: "busybox" });
    const all = s.listEvents();
    expect(all.map((e) => e.action)).toEqual(["create", "start", "pull"]);
    expect(all[0]).toMatchObject({ type: "container", id: "c1", attributes: { bundle: "/b" } });
    expect(all[0].time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(all[1].seq).toBeGreaterThan(all[0].seq);
    expect(s.listEvents({ type: "container" })).toHaveLength(2);
    expect(s.listEvents({ id: "busybox" }).map((e) => e.action)).toEqual(["pull"]);
    expect(s.listEvents({ afterSeq: all[1].seq })).toHaveLength(1);
    expect(s.listEvents({ limit: 1 })).toHaveLength(1);
    expect(s.listEvents({ since: "2999-01-01T00:00:00Z" })).toEqual([]);
  });
});

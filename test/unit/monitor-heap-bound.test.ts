// The monitor's bound on its old generation (src/monitor/heap-bound.ts): a full collection once
// what is promoted has grown past the slack, none before.
import { getHeapSpaceStatistics } from "node:v8";
import { describe, expect, it } from "vitest";
import { HeapBound } from "../../src/monitor/heap-bound.js";

const oldBytes = () =>
  getHeapSpaceStatistics()
    .filter((s) => !s.space_name.startsWith("new_"))
    .reduce((sum, s) => sum + s.space_used_size, 0);

describe("HeapBound", () => {
  it("collects fully once the old generation has grown past the slack, and it shrinks back", () => {
    const bound = new HeapBound(4 << 20);
    bound.check();
    expect(bound.collections).toBe(0); // nothing grew yet
    // ~16 MiB promoted to the old generation (kept across young collections), then let go
    let kept: string[][] = [];
    for (let i = 0; i < 64; i++) kept.push(Array.from({ length: 2048 }, (_, j) => `${i}-${j}-${"x".repeat(100)}`));
    const grown = oldBytes();
    kept = [];
    bound.check();
    expect(bound.collections).toBe(1);
    expect(oldBytes()).toBeLessThan(grown - (8 << 20));
    bound.check();
    expect(bound.collections).toBe(1); // the floor is what the collection left
    expect(kept).toEqual([]);
  });
});

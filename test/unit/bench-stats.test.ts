// Pure helpers of the benchmark harness (scripts/bench/lib/stats.mjs).
import { describe, expect, it } from "vitest";
import {
  median,
  pairedRatios,
  parsePhaseLines,
  parseRssMarker,
  quantile,
  rotate,
  stripTimeOutput,
  summarize,
} from "../../scripts/bench/lib/stats.mjs";

describe("median and quantile", () => {
  it("takes the middle value, or the mean of the two middle ones", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("ignores failed samples (null) and non-finite values", () => {
    expect(median([null, 10, undefined, 30, Number.NaN, 20])).toBe(20);
    expect(median([null, null])).toBeNull();
    expect(median([])).toBeNull();
  });

  it("interpolates between neighbours", () => {
    expect(quantile([0, 10], 0.1)).toBeCloseTo(1);
    expect(quantile([1, 2, 3, 4, 5], 0)).toBe(1);
    expect(quantile([1, 2, 3, 4, 5], 1)).toBe(5);
    expect(quantile([1, 2, 3, 4, 5], 0.9)).toBeCloseTo(4.6);
  });

  it("does not reorder the caller's array", () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe("pairedRatios", () => {
  it("divides sample i by sample i and skips iterations where either failed", () => {
    expect(pairedRatios([10, 20, null, 40], [5, 10, 7, null])).toEqual([2, 2]);
  });

  it("cancels load that hits both runtimes in the same iteration", () => {
    // A load spike in iterations 2-4 slows both: polis is always exactly 2x runc, but the
    // ratio of the medians says 20x: the spike lands on polis's middle sample but not on runc's.
    const polis = [2, 2, 20, 20, 20];
    const runc = [1, 1, 10, 10, 1];
    expect(pairedRatios(polis, runc)).toEqual([2, 2, 2, 2, 20]);
    expect(median(pairedRatios(polis, runc))).toBe(2);
    expect(median(polis)! / median(runc)!).toBe(20);
  });

  it("skips a zero denominator and stops at the shorter list", () => {
    expect(pairedRatios([1, 2, 3], [0, 1])).toEqual([2]);
  });
});

describe("summarize", () => {
  it("reports n, median, spread and extremes of the finite samples", () => {
    expect(summarize([3, null, 1, 2])).toEqual({ n: 3, median: 2, p10: 1.2, p90: 2.8, min: 1, max: 3 });
  });

  it("is all null for no samples", () => {
    expect(summarize([null])).toEqual({ n: 0, median: null, p10: null, p90: null, min: null, max: null });
  });
});

describe("rotate", () => {
  it("starts each iteration with the next runtime", () => {
    const rts = ["polis", "runc", "crun"];
    expect(rotate(rts, 0)).toEqual(["polis", "runc", "crun"]);
    expect(rotate(rts, 1)).toEqual(["runc", "crun", "polis"]);
    expect(rotate(rts, 5)).toEqual(["crun", "polis", "runc"]);
    expect(rotate([], 3)).toEqual([]);
  });
});

describe("parsePhaseLines", () => {
  it("collects phase=<name> ms=<float> lines among other stderr output", () => {
    const text = "warning: x\nphase=load ms=12.5\nphase=shim ms=3\nsomething phase=bogus ms=1\nphase=shim ms=0.25\n";
    expect(parsePhaseLines(text)).toEqual({ load: 12.5, shim: 3.25 });
  });

  it("is empty when polis prints no phases", () => {
    expect(parsePhaseLines("")).toEqual({});
  });
});

describe("/usr/bin/time output", () => {
  const M = "POLIS_BENCH_RSS_KIB=";

  it("takes the last marker line as peak RSS", () => {
    expect(parseRssMarker(`runtime says ${M}1\n${M}9876\n`, M)).toBe(9876);
    expect(parseRssMarker(`${M}12\nCommand exited with non-zero status 1\n${M}34`, M)).toBe(34);
    expect(parseRssMarker("no marker", M)).toBeNull();
  });

  it("strips the marker and the exit-status note from the runtime's stderr", () => {
    const text = `error: container not found\nCommand exited with non-zero status 1\n${M}3100\n`;
    expect(stripTimeOutput(text, M)).toBe("error: container not found");
  });
});

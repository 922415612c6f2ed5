// isoUtc and httpDate are Date.prototype.toISOString and toUTCString by arithmetic (src/time.ts:
// V8's date-to-string builtins cost ~0.9 MiB of peak RSS at their first call): they must agree
// with them to the character.
import { describe, expect, it } from "vitest";
import { httpDate, isoUtc, rfc3339Nano } from "../../src/time.js";

/** a small deterministic generator: the same cases on every run */
function* lcg(seed: number, n: number): Generator<number> {
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    yield x / 2 ** 31;
  }
}

describe("isoUtc and httpDate", () => {
  it("agree with toISOString and toUTCString on edges: the epoch, before it, leap days, centuries, year 0 and 9999", () => {
    const edges = [
      0,
      -1,
      1,
      86_399_999,
      86_400_000,
      Date.UTC(2000, 1, 29, 23, 59, 59, 999),
      Date.UTC(1900, 2, 1),
      Date.UTC(2100, 1, 28, 12),
      Date.UTC(2024, 1, 29),
      Date.UTC(2026, 11, 31, 23, 59, 59, 999),
      Date.UTC(1969, 11, 31, 23, 59, 59, 999),
      -62_167_219_200_000,
      253_402_300_799_999,
    ];
    for (const ms of edges) {
      expect(isoUtc(ms), String(ms)).toBe(new Date(ms).toISOString());
      expect(httpDate(ms), String(ms)).toBe(new Date(ms).toUTCString());
    }
  });

  it("agree with toISOString and toUTCString on 100,000 instants from year 0 to 9999", () => {
    const bad: number[] = [];
    for (const r of lcg(13, 100_000)) {
      const ms = Math.floor(-62_167_219_200_000 + r * (253_402_300_799_999 + 62_167_219_200_000));
      const d = new Date(ms);
      if (isoUtc(ms) !== d.toISOString() || httpDate(ms) !== d.toUTCString()) bad.push(ms);
    }
    expect(bad.slice(0, 5).map((ms) => [isoUtc(ms), httpDate(ms), new Date(ms).toISOString()])).toEqual([]);
  });

  it("rfc3339Nano keeps the milliseconds and adds six digits from the monotonic clock", () => {
    expect(rfc3339Nano(new Date(Date.UTC(2026, 11, 6, 9, 5, 49, 123)), 1_234_567_890n)).toBe("2026-12-06T09:05:49.123567890Z");
  });
});

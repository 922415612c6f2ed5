import { describe, expect, it } from "vitest";
import { parseTime } from "../../src/cli/logs.js";
import { parseExitFile } from "../../src/monitor/exited.js";
import { nextHealth } from "../../src/monitor/health.js";
import { comparableTime, parseRecord, tail } from "../../src/monitor/logfile.js";
import { healthFromImage, monitorOptions, parseSize } from "../../src/monitor/options.js";

describe("health status (docker's semantics)", () => {
  const starting = { status: "starting" as const, failingStreak: 0 };
  it("one success makes it healthy and resets the streak", () => {
    expect(nextHealth({ status: "unhealthy", failingStreak: 5 }, true, false, 3)).toEqual({
      status: "healthy",
      failingStreak: 0,
    });
  });
  it("failures count up to retries, then unhealthy", () => {
    let s = { status: "healthy" as const, failingStreak: 0 } as ReturnType<typeof nextHealth>;
    s = nextHealth(s, false, false, 3);
    expect(s).toEqual({ status: "healthy", failingStreak: 1 });
    s = nextHealth(nextHealth(s, false, false, 3), false, false, 3);
    expect(s).toEqual({ status: "unhealthy", failingStreak: 3 });
  });
  it("failures in the start period do not count", () => {
    expect(nextHealth(starting, false, true, 1)).toEqual(starting);
    expect(nextHealth(starting, false, false, 1)).toEqual({ status: "unhealthy", failingStreak: 1 });
  });
});

describe("log records", () => {
  it("parses k8s-file records, text kept verbatim", () => {
    expect(parseRecord("2026-01-02T03:04:05.123456789Z stderr P  two  spaces ")).toEqual({
      time: "2026-01-02T03:04:05.123456789Z",
      stream: "stderr",
      complete: false,
      text: " two  spaces ",
    });
    expect(parseRecord("garbage")).toBeUndefined();
  });
  it("--tail counts whole lines, pieces included", () => {
    const r = (text: string, complete: boolean) => ({ time: "t", stream: "stdout" as const, complete, text });
    const recs = [r("a", true), r("b1", false), r("b2", true), r("c", true)];
    expect(tail(recs, 2).map((x) => x.text)).toEqual(["b1", "b2", "c"]);
    expect(tail(recs, 0)).toEqual([]);
    expect(tail(recs, 10)).toHaveLength(4);
  });
  it("user times compare with record times as text", () => {
    expect(comparableTime(new Date("2026-01-02T03:04:05.120Z"))).toBe("2026-01-02T03:04:05.120000000Z");
    expect(parseTime("10m", 600_000)!.getTime()).toBe(0);
    expect(parseTime("2026-01-02T03:04:05Z")!.toISOString()).toBe("2026-01-02T03:04:05.000Z");
    expect(parseTime("yesterday")).toBeUndefined();
  });
});

describe("monitor flags", () => {
  it("sizes like docker's max-size", () => {
    expect(parseSize("4k")).toBe(4096);
    expect(parseSize("10m")).toBe(10 * 1024 * 1024);
    expect(parseSize("123")).toBe(123);
    expect(() => parseSize("lots")).toThrow(/--log-max-size/);
  });
  it("health defaults are docker's; errors name the flag", () => {
    const m = monitorOptions({ "health-cmd": "true" }, new Set(["health-cmd"]), undefined);
    expect(m.health).toMatchObject({
      test: ["CMD-SHELL", "true"],
      intervalMs: 30_000,
      timeoutMs: 30_000,
      retries: 3,
      startPeriodMs: 0,
      onFailure: "none",
    });
    expect(() =>
      monitorOptions(
        { "health-cmd": "true", "health-on-failure": "explode" },
        new Set(["health-cmd", "health-on-failure"]),
        undefined,
      ),
    ).toThrow(/--health-on-failure/);
    expect(() =>
      monitorOptions({ "health-cmd": "true", "health-interval": "0s" }, new Set(["health-cmd", "health-interval"]), undefined),
    ).toThrow(/--health-interval/);
  });
  it("an image's Healthcheck: docker's meaning, flags override it field by field", () => {
    expect(healthFromImage({ Test: ["NONE"] })).toBeNull();
    expect(healthFromImage(undefined)).toBeNull();
    const img = healthFromImage({ Test: ["CMD", "/bin/check", "--quick"], Interval: 5e9, Retries: 0 })!;
    expect(img).toMatchObject({ test: ["CMD", "/bin/check", "--quick"], intervalMs: 5000, timeoutMs: 30_000, retries: 3 });
    const m = monitorOptions({ "health-retries": 7 }, new Set(["health-retries"]), undefined, img);
    expect(m.health).toMatchObject({ test: ["CMD", "/bin/check", "--quick"], intervalMs: 5000, retries: 7 });
    const replaced = monitorOptions({ "health-cmd": "true" }, new Set(["health-cmd"]), undefined, img);
    expect(replaced.health).toMatchObject({ test: ["CMD-SHELL", "true"], intervalMs: 5000, retries: 3 });
    expect(() => monitorOptions({ "health-cmd": " " }, new Set(["health-cmd"]), undefined, img)).toThrow(
      /--health-cmd must not be empty/,
    );
  });
  it("the exit file the C monitor writes", () => {
    expect(parseExitFile("exitCode 137\nsignal 9\nfinishedAt 2026-01-02T03:04:05.123456789Z\n")).toEqual({
      exitCode: 137,
      signal: 9,
      finishedAt: "2026-01-02T03:04:05.123456789Z",
    });
    expect(parseExitFile("exitCode 1\n")).toBeUndefined();
  });
});

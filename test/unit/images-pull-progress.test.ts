// The TTY progress of `polis pull`: one row per layer rewritten in place, final words on the rows.
import { describe, expect, it } from "vitest";
import { PullProgress } from "../../src/cli/pull-progress.js";
import { mb } from "../../src/image/pull.js";
import { screen } from "../helpers/terminal.js";

describe("pull progress on a TTY", () => {
  it("a row per layer with bytes, total and rate; plain lines above; final words replace the rows", () => {
    let out = "";
    let t = 0;
    const p = new PullProgress(
      (s) => (out += s),
      mb,
      () => 80,
      () => t,
    );
    const a = `sha256:${"a".repeat(64)}`;
    const b = `sha256:${"b".repeat(64)}`;
    p.update(a, 1_000_000, 4_000_000);
    t = 500;
    p.update(b, 500, 1000);
    t = 1000;
    p.update(a, 2_000_000, 4_000_000);
    expect(screen(out)).toEqual([
      `Copying blob ${"a".repeat(12)} [==========>         ] 2.0MB / 4.0MB | 1.0MB/s`,
      `Copying blob ${"b".repeat(12)} [==========>         ] 500B / 1.0kB`,
    ]);
    p.line("Copying config cccccccccccc done");
    p.line(`Copying blob ${"b".repeat(12)} done 1.0kB`);
    t = 1100;
    p.update(a, 4_000_000, 4_000_000);
    p.done();
    expect(screen(out)).toEqual([
      "Copying config cccccccccccc done",
      `Copying blob ${"a".repeat(12)} [====================] 4.0MB / 4.0MB | 2.7MB/s`,
      `Copying blob ${"b".repeat(12)} done 1.0kB`,
    ]);
  });
  it("updates within 100 ms are not drawn until the blob ends; rows never wrap", () => {
    let out = "";
    let t = 0;
    const p = new PullProgress(
      (s) => (out += s),
      mb,
      () => 30,
      () => t,
    );
    p.update(`sha256:${"d".repeat(64)}`, 1, 10);
    const n = out.length;
    t = 50;
    p.update(`sha256:${"d".repeat(64)}`, 2, 10);
    expect(out.length).toBe(n);
    p.update(`sha256:${"d".repeat(64)}`, 10, 10);
    expect(out.length).toBeGreaterThan(n);
    expect(screen(out).every((l) => l.length < 30)).toBe(true);
  });
});

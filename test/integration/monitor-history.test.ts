// The sampled history behind the dashboard's charts, read through `polis monitor`'s JSON API:
// it outlives the monitor process (a new one serves points from before it started) and keeps
// only `retention` of them.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runMonitored, startPolisMonitor } from "../helpers/monitor.js";
import { tempRoot } from "../helpers/polis.js";

const root = tempRoot();
const scratch = mkdtempSync(join(tmpdir(), "polis-history-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

type History = { series: { id: string; points: [number, number, number][] }[] };
const pointsOf = async (url: string, id: string) => {
  const h = (await (await fetch(`${url}/api/history?since=0`)).json()) as History;
  return h.series.find((s) => s.id === id)?.points ?? [];
};

describe("metric history", () => {
  it("outlives the monitor and keeps only its retention", async () => {
    const config = join(scratch, "history.yaml");
    writeFileSync(config, "monitor:\n  retention: 4s\n");
    const env = { POLIS_CONFIG: config };
    const c = runMonitored(root, "sleep 1000", ["--logs"]);
    let mon = await startPolisMonitor(root, ["--interval", "500ms"], env);
    try {
      let pts: [number, number, number][] = [];
      const end = Date.now() + 20_000;
      while (pts.length < 3 && Date.now() < end) {
        pts = await pointsOf(mon.url, c.id);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(pts.length).toBeGreaterThanOrEqual(3);
      expect(pts.every(([, , mem]) => mem > 0)).toBe(true); // working set of a live container
      await mon.stop();

      const restarted = Date.now() / 1000;
      mon = await startPolisMonitor(root, ["--interval", "500ms"], env);
      const old = await pointsOf(mon.url, c.id);
      expect(old.some(([t]) => t < restarted)).toBe(true); // points from before this monitor

      await new Promise((r) => setTimeout(r, 6000)); // past the retention
      const now = await pointsOf(mon.url, c.id);
      expect(now.length).toBeGreaterThan(0);
      expect(Math.min(...now.map(([t]) => t))).toBeGreaterThan(Date.now() / 1000 - 4 - 1.5);
    } finally {
      await mon.stop();
      c.remove();
    }
  }, 60_000);
});

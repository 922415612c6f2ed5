// The dashboard with more containers than a chart can show (headless chromium, puppeteer-core):
// the table lists them all, each chart draws the top ones by their latest value (the busy one
// among them) plus the container selected, and says so; no console errors.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHROMIUM, launchChromium, pageProblems } from "../helpers/browser.js";
import { afterAll, describe, expect, it } from "vitest";
import { runMonitored, startPolisMonitor, type Monitored } from "../helpers/monitor.js";
import { tempRoot } from "../helpers/polis.js";

const root = tempRoot();
const profile = mkdtempSync(join(tmpdir(), "polis-chromium-many-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
});

describe("dashboard with many containers", () => {
  it("charts the top containers and the selected one", async (t) => {
    if (!existsSync(CHROMIUM)) return t.skip();
    const containers: Monitored[] = [];
    let mon: Awaited<ReturnType<typeof startPolisMonitor>> | undefined;
    let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
    try {
      const busy = runMonitored(root, "while :; do :; done", ["--logs"]);
      containers.push(busy);
      for (let i = 0; i < 9; i++) containers.push(runMonitored(root, "sleep 1000", ["--logs"]));
      mon = await startPolisMonitor(root, ["--interval", "500ms"]);
      browser = await launchChromium(profile);
      const page = await browser.newPage();
      const problems = pageProblems(page);
      await page.goto(mon.url + "/", { waitUntil: "load" });
      // every container in the table; the CPU chart drawn once there are two samples
      await page.waitForFunction(
        (n) => document.querySelectorAll("tr.container").length === n && (window as any).polisCharts?.cpu?.names,
        { timeout: 20_000 },
        containers.length,
      ); // eslint-disable-line @typescript-eslint/no-explicit-any
      const charted = () => page.evaluate(() => ((window as any).polisCharts.cpu.names as string).split(",")); // eslint-disable-line @typescript-eslint/no-explicit-any
      const shown = await charted();
      expect(shown).toHaveLength(8);
      expect(shown).toContain(busy.id);
      expect(await page.$eval("#cpu-note", (e) => e.textContent)).toBe("top 8 of 10");
      // select an idle container the chart left out: it is drawn too
      const left = containers.find((c) => !shown.includes(c.id))!;
      await page.click(`tr[data-id="${left.id}"]`);
      await page.waitForFunction(
        (id) => ((window as any).polisCharts.cpu.names as string).split(",").includes(id),
        { timeout: 10_000 },
        left.id,
      ); // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(await charted()).toHaveLength(9);
      expect(problems).toEqual([]);
    } finally {
      await browser?.close();
      await mon?.stop();
      for (const c of containers) c.remove();
    }
  }, 120_000);
});

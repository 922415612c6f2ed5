// The dashboard in a real browser: Debian's chromium, headless, driven by puppeteer-core. The
// page lists the containers, and its CPU chart rises once a container starts burning CPU; no
// console errors along the way.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHROMIUM, launchChromium, pageProblems } from "../helpers/browser.js";
import { afterAll, describe, expect, it } from "vitest";
import { runMonitored, startPolisMonitor } from "../helpers/monitor.js";
import { tempRoot } from "../helpers/polis.js";

const root = tempRoot();
const profile = mkdtempSync(join(tmpdir(), "polis-chromium-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
});

describe("dashboard", () => {
  it("shows the containers and a CPU chart that rises when one starts burning CPU", async (t) => {
    if (!existsSync(CHROMIUM)) return t.skip();
    const c = runMonitored(root, "while [ ! -e /dev/shm/go ]; do sleep 0.1; done; while :; do :; done", [
      "--logs",
      "--health-cmd",
      "true",
      "--health-interval",
      "1s",
    ]);
    const mon = await startPolisMonitor(root, ["--interval", "1s"]);
    const browser = await launchChromium(profile);
    let problems: string[] = [];
    try {
      const page = await browser.newPage();
      problems = pageProblems(page, { requests: true });
      await page.goto(mon.url + "/", { waitUntil: "load" });
      await page.waitForSelector(`tr[data-id="${c.id}"]`, { timeout: 20_000 });
      const row = async () =>
        page.$eval(`tr[data-id="${c.id}"]`, (tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent));
      const lastCpu = () =>
        page.evaluate((id) => {
          const ch = (window as any).polisCharts.cpu;
          if (!ch) return -1;
          const idx = ch.names.split(",").indexOf(id) + 1;
          const ys = ch.data[idx] ?? [];
          return ys.length ? ys[ys.length - 1] : -1;
        }, c.id);
      // idle first
      const end0 = Date.now() + 20_000;
      while ((await lastCpu()) < 0 && Date.now() < end0) await new Promise((r) => setTimeout(r, 300));
      expect(await lastCpu()).toBeLessThan(5);
      const before = (await page.evaluate(() => (window as any).polisUpdates)) as number;
      writeFileSync(`/proc/${c.inspect().State.Pid}/root/dev/shm/go`, "");
      const end = Date.now() + 30_000;
      let cpu = 0;
      while (Date.now() < end) {
        cpu = await lastCpu();
        if (cpu > 10) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(cpu).toBeGreaterThan(10); // a busy loop; the shared host decides how close to 100
      expect(await page.evaluate(() => (window as any).polisUpdates)).toBeGreaterThan(before);
      const cells = await row();
      expect(cells[3]).toBe("running");
      expect(cells[4]).toBe("healthy");
      // the detail of one container: its log tail and health history
      await page.click(`tr[data-id="${c.id}"]`);
      await page.waitForFunction(
        () =>
          !(document.getElementById("detail") as HTMLElement).hidden &&
          document.getElementById("detail-health")!.textContent!.includes("exit 0"),
        { timeout: 10_000 },
      );
      if (process.env.POLIS_SCREENSHOT) await page.screenshot({ path: process.env.POLIS_SCREENSHOT, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      await mon.stop();
      c.remove();
    }
  }, 120_000);
});

// Debian's chromium, headless, driven by puppeteer-core: the one way the dashboard tests start a
// browser. The flags keep it off the network this machine does not have (no background
// connections, no component updates) and out of any profile but the test's own.
import type { Browser, Page } from "puppeteer-core";

export const CHROMIUM = "/usr/bin/chromium";

export async function launchChromium(profile: string): Promise<Browser> {
  const puppeteer = (await import("puppeteer-core")).default;
  return puppeteer.launch({
    executablePath: CHROMIUM,
    userDataDir: profile,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
    ],
  });
}

/** Console errors, page errors and (with `requests`) failed requests of `page`, as they happen. */
export function pageProblems(page: Page, opts: { requests?: boolean } = {}): string[] {
  const problems: string[] = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  if (opts.requests) page.on("requestfailed", (r) => problems.push(`${r.url()}: ${r.failure()?.errorText}`));
  return problems;
}

#!/usr/bin/env node
// Regenerates docs/dashboard.png: a private root with four busybox containers (a web-like log
// writer with a health check, a CPU-bound batch job under a half-CPU quota, a cache that grows in
// memory, one whose health check fails), `polis monitor` with two alert rules, and the dashboard
// in headless chromium once a minute of history exists. Everything started here is stopped by
// pid and deleted at the end. Root only.
//   node scripts/dashboard-screenshot.mjs [--out docs/dashboard.png] [--seconds 60]
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const OUT = resolve(arg("out", join(REPO, "docs", "dashboard.png")));
const SECONDS = Number(arg("seconds", "60"));
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const work = mkdtempSync(join(tmpdir(), "polis-shot-"));
const root = join(work, "root");
const polis = (...a) =>
  spawnSync(process.execPath, [join(REPO, "dist", "polis-entry.cjs"), "--root", root, ...a], {
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const rootfs = join(work, "rootfs");
spawnSync("bash", [join(REPO, "scripts", "make-rootfs.sh"), rootfs], { stdio: "ignore" });
const base = JSON.parse(readFileSync(join(REPO, "test", "fixtures", "busybox-config.json"), "utf8"));

function bundle(name, script, edit = () => {}) {
  const dir = join(work, name);
  const c = structuredClone(base);
  c.root = { path: rootfs, readonly: true };
  c.process.args = ["sh", "-c", script];
  c.process.terminal = false;
  edit(c);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify(c));
  return dir;
}

const containers = [
  [
    "web",
    bundle(
      "web",
      'i=0; while :; do i=$((i+1)); echo "GET /index.html 200 $((i*37%900+100))us"; [ $((i%7)) = 0 ] && echo "GET /missing 404" >&2; sleep 1; done',
    ),
    ["--health-cmd", "true", "--health-interval", "2s"],
  ],
  [
    "batch",
    bundle(
      "batch",
      "while :; do :; done",
      (c) => (c.linux.resources = { ...c.linux.resources, cpu: { quota: 50_000, period: 100_000 } }),
    ),
    [],
  ],
  [
    "cache",
    bundle(
      "cache",
      "i=0; while [ $i -lt 12 ]; do head -c 4m /dev/zero > /dev/shm/blob$i; i=$((i+1)); sleep 4; done; sleep 100000",
    ),
    [],
  ],
  [
    "flaky",
    bundle("flaky", "sleep 100000"),
    ["--health-cmd", "test -e /dev/shm/ok", "--health-interval", "2s", "--health-retries", "2"],
  ],
];
const config = join(work, "config.yaml");
writeFileSync(
  config,
  "monitor:\n  alerts:\n    - { name: cpu-busy, metric: cpu_percent, above: 15, for: 10s }\n    - { name: unhealthy, metric: unhealthy }\n",
);

let monitor;
let browser;
try {
  for (const [id, dir, flags] of containers) {
    const r = polis("run", "--detach", "--logs", ...flags, "--bundle", dir, id);
    if (r.status !== 0) throw new Error(`run ${id}: ${r.stderr}`);
  }
  monitor = spawn(
    process.execPath,
    [
      join(REPO, "dist", "polis-entry.cjs"),
      "--root",
      root,
      "--config",
      config,
      "monitor",
      "--listen",
      "127.0.0.1:0",
      "--interval",
      "2s",
    ],
    {
      env,
      stdio: ["ignore", "pipe", "ignore"],
    },
  );
  const url = await new Promise((res, rej) => {
    let out = "";
    monitor.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) res(m[1]);
    });
    monitor.on("close", (code) => rej(new Error(`polis monitor exited ${code}`)));
  });
  process.stderr.write(`collecting ${SECONDS} s of history from ${url}\n`);
  await sleep(SECONDS * 1000);

  const puppeteer = (await import("puppeteer-core")).default;
  browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    userDataDir: join(work, "chromium"),
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
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 900 });
  await page.goto(url + "/", { waitUntil: "load" });
  await page.waitForSelector('tr[data-id="web"]', { timeout: 20_000 });
  await page.click('tr[data-id="web"]');
  await page.waitForFunction(() => document.getElementById("detail-log").textContent.includes("GET"), { timeout: 20_000 });
  await sleep(500);
  await page.screenshot({ path: OUT, fullPage: true });
  process.stderr.write(`wrote ${OUT}\n`);
} finally {
  await browser?.close();
  if (monitor && monitor.exitCode === null) {
    monitor.kill("SIGTERM");
    await new Promise((r) => monitor.on("close", r));
  }
  for (const [id] of containers) polis("delete", "--force", id);
  rmSync(work, { recursive: true, force: true });
}

#!/usr/bin/env node
// `polis monitor` while Prometheus scrapes it, at several numbers of running containers: its peak
// RSS (VmHWM) when it listens (first sample taken), after one /metrics scrape and after
// `--scrapes` of them, and its CPU time per scrape. `--base PATH` runs another build too, the two
// alternating round by round (A/B pairs: the machine's load moves both alike). `--heap` adds a
// diagnosis run per build and count: a preload (lib/heap-report.cjs, +~1.5 MiB of its own) gives
// the V8 heap after the scrapes, before and after a full collection (live), by space.
//   node scripts/bench/monitor-rss.mjs [--containers 5,30,100] [--scrapes 60] [--rounds 3]
//                                      [--base OLD/dist/polis] [--polis dist/polis] [--heap]
// Containers are `sleep`s in a private root per count (64-character ids, as containerd's); every
// command runs through the launcher without NODE_EXTRA_CA_CERTS. Root only; prints Markdown.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeBundles } from "./lib/bundle.mjs";
import { withMonitor } from "./lib/monitor.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const opt = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const COUNTS = opt("containers", "5,30,100").split(",").map(Number);
const SCRAPES = Number(opt("scrapes", 60));
const ROUNDS = Number(opt("rounds", 3));
const BUILDS = { new: resolve(opt("polis", join(REPO, "dist", "polis"))) };
if (opt("base")) BUILDS.base = resolve(opt("base"));
const HEAP = process.argv.includes("--heap");
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
delete env.POLIS_TIMING;
const log = (m) => process.stderr.write(`${m}\n`);
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const mib = (pid, field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024;
const ticks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
};
const work = mkdtempSync(join(tmpdir(), "polis-bench-monrss-"));

/** One monitor of `root`: its figures after listening, one scrape and SCRAPES scrapes. */
async function monitor(polis, root, heapReport) {
  const e = heapReport ? { ...env, NODE_OPTIONS: `--require ${join(REPO, "scripts/bench/lib/heap-report.cjs")}` } : env;
  return withMonitor(polis, root, e, async (child, url) => {
    const listening = mib(child.pid, "VmHWM");
    await (await fetch(`${url}/metrics`)).text();
    const one = mib(child.pid, "VmHWM");
    const t0 = ticks(child.pid);
    for (let i = 1; i < SCRAPES; i++) await (await fetch(`${url}/metrics`)).text();
    const cpuMs = ((ticks(child.pid) - t0) * 10) / (SCRAPES - 1);
    const r = { listening, one, after: mib(child.pid, "VmHWM"), cpuMs };
    if (heapReport) {
      const file = join(work, `heap-${child.pid}.json`);
      child.kill("SIGUSR2");
      for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((res) => setTimeout(res, 50));
      await new Promise((res) => setTimeout(res, 100));
      r.heap = JSON.parse(readFileSync(file, "utf8"));
    }
    return r;
  });
}

const roots = [];
try {
  if (process.geteuid() !== 0) throw new Error("run as root");
  const { sleep } = makeBundles(REPO, work, { sleep: ["/bin/sleep", "100000"] });
  const load0 = loadavg();
  const rows = [];
  for (const n of COUNTS) {
    const root = join(work, `root${n}`);
    const ids = Array.from({ length: n }, (_, i) => `monrss${process.pid}-${n}-${i}-`.padEnd(64, "0"));
    roots.push({ root, ids });
    log(`starting ${n} containers`);
    for (const id of ids) {
      // stderr to a file: the container inherits run's stdio, and would hold a pipe open
      const err = openSync(join(work, "run.err"), "w");
      const r = spawnSync(BUILDS.new, ["--root", root, "run", "-d", "--bundle", sleep, id], {
        env,
        stdio: ["ignore", "ignore", err],
      });
      closeSync(err);
      if (r.status !== 0) throw new Error(`run ${id}: ${readFileSync(join(work, "run.err"), "utf8")}`);
    }
    const got = Object.fromEntries(Object.keys(BUILDS).map((b) => [b, []]));
    for (let round = 0; round <= ROUNDS; round++)
      for (const [b, polis] of Object.entries(BUILDS)) {
        const r = await monitor(polis, root, false);
        if (round > 0) got[b].push(r); // the first round warms the page cache
      }
    for (const [b, list] of Object.entries(got)) {
      const m = (k) => median(list.map((x) => x[k]));
      const row = { n, build: b, listening: m("listening"), one: m("one"), after: m("after"), cpuMs: m("cpuMs") };
      if (HEAP) row.heap = (await monitor(BUILDS[b], root, true)).heap;
      rows.push(row);
    }
    for (const id of ids) spawnSync(BUILDS.new, ["--root", root, "delete", "--force", id], { env, stdio: "ignore" });
    roots.pop();
  }
  const f = (x) => x.toFixed(1);
  console.log(`polis monitor, peak RSS (MiB) and CPU per scrape: medians of ${ROUNDS} rounds; loadavg ${load0} → ${loadavg()}\n`);
  console.log(`| containers | build | listening | after 1 scrape | after ${SCRAPES} scrapes | CPU per scrape (ms) |`);
  console.log("|---:|---|---:|---:|---:|---:|");
  for (const r of rows) console.log(`| ${r.n} | ${r.build} | ${f(r.listening)} | ${f(r.one)} | ${f(r.after)} | ${f(r.cpuMs)} |`);
  if (HEAP) {
    console.log(
      `\nV8 heap after ${SCRAPES} scrapes (MiB, with the report's preload): used / physical, then live after a full collection\n`,
    );
    console.log("| containers | build | heap used / physical | old space used / physical | live (after full GC) | external |");
    console.log("|---:|---|---:|---:|---:|---:|");
    for (const { n, build, heap: h } of rows)
      console.log(
        `| ${n} | ${build} | ${f(h.before.used)} / ${f(h.before.physical)} | ${f(h.before.oldUsed)} / ${f(h.before.oldPhysical)} | ${f(h.after.used)} | ${f(h.before.external)} |`,
      );
  }
} finally {
  for (const { root, ids } of roots)
    for (const id of ids) spawnSync(BUILDS.new, ["--root", root, "delete", "--force", id], { env, stdio: "ignore" });
  rmSync(work, { recursive: true, force: true });
}

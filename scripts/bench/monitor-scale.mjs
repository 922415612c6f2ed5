#!/usr/bin/env node
// `polis stats --no-stream` and `polis monitor`'s /metrics over many running containers.
//   node scripts/bench/monitor-scale.mjs [--containers 100] [--scrapes 20] [--polis dist/polis]
// Starts N `sleep` containers (plain `run -d`: no monitor needed to be measured), then times
//   - `polis stats --no-stream --format json` (two samples 1 s apart, as the command takes them;
//     the figure is its wall time minus that second, and its CPU time),
//   - scrapes of /metrics: wall time each, the monitor's CPU time per scrape, and its peak RSS
//     after them (VmHWM).
// Every command runs through the launcher (dist/polis), as clients run it: the monitor with the
// V8 flags the launcher gives it.
// Must run as root; prints a Markdown table.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg("containers", 100);
const POLIS = resolve(
  process.argv.includes("--polis") ? process.argv[process.argv.indexOf("--polis") + 1] : join(REPO, "dist", "polis"),
);
const SCRAPES = arg("scrapes", 20);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const work = mkdtempSync(join(tmpdir(), "polis-bench-scale-"));
const root = join(work, "root");
const polis = (...a) => spawnSync(POLIS, ["--root", root, ...a], { env, encoding: "utf8" });
const log = (m) => process.stderr.write(m + "\n");
const ticks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const bundle = join(work, "bundle");
spawnSync("bash", [join(REPO, "scripts", "make-rootfs.sh"), join(bundle, "rootfs")], { stdio: "ignore" });
const c = JSON.parse(readFileSync(join(REPO, "test", "fixtures", "busybox-config.json"), "utf8"));
c.process.args = ["sleep", "100000"];
writeFileSync(join(bundle, "config.json"), JSON.stringify(c));
const ids = Array.from({ length: N }, (_, i) => `scale-${process.pid}-${i}`);
let server;
try {
  log(`starting ${N} containers`);
  // The containers inherit run's stdio: files, not pipes (a pipe would never see EOF).
  const errFile = join(work, "run.err");
  for (const id of ids) {
    const err = openSync(errFile, "w");
    const r = spawnSync(POLIS, ["--root", root, "run", "-d", "--bundle", bundle, id], {
      env,
      stdio: ["ignore", "ignore", err],
    });
    closeSync(err);
    if (r.status !== 0) throw new Error(`run ${id}: ${readFileSync(errFile, "utf8")}`);
  }
  log("stats --no-stream");
  const statsWall = [];
  const statsCpu = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync("/usr/bin/time", ["-f", "%U %S", POLIS, "--root", root, "stats", "--no-stream", "--format", "json"], {
      env,
      encoding: "utf8",
    });
    statsWall.push(Number(process.hrtime.bigint() - t0) / 1e6 - 1000);
    const [u, s] = r.stderr.trim().split("\n").pop().split(" ").map(Number);
    statsCpu.push((u + s) * 1000);
    if (JSON.parse(r.stdout).length < N) throw new Error("stats did not list every container");
  }
  log("polis monitor scrapes");
  server = spawn(POLIS, ["--root", root, "monitor", "--listen", "127.0.0.1:0", "--interval", "1h"], {
    env,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const url = await new Promise((res) => {
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) res(m[1]);
    });
  });
  await fetch(`${url}/metrics`).then((r) => r.text()); // warm
  const walls = [];
  const t0 = ticks(server.pid);
  for (let i = 0; i < SCRAPES; i++) {
    const s = process.hrtime.bigint();
    const text = await fetch(`${url}/metrics`).then((r) => r.text());
    walls.push(Number(process.hrtime.bigint() - s) / 1e6);
    if ((text.match(/^container_cpu_usage_seconds_total/gm) ?? []).length < N) throw new Error("a scrape missed containers");
  }
  const cpuPerScrape = ((ticks(server.pid) - t0) * 10) / SCRAPES;
  const peakMiB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))[1]) / 1024;
  console.log(`loadavg: ${readFileSync("/proc/loadavg", "utf8").trim()}\n`);
  console.log(`| ${N} running containers | median |\n|---|---|`);
  console.log(`| polis stats --no-stream: wall minus its 1 s sampling gap (ms) | ${median(statsWall).toFixed(0)} |`);
  console.log(`| polis stats --no-stream: CPU (ms) | ${median(statsCpu).toFixed(0)} |`);
  console.log(`| /metrics scrape: wall (ms) | ${median(walls).toFixed(1)} |`);
  console.log(`| /metrics scrape: polis monitor CPU per scrape (ms) | ${cpuPerScrape.toFixed(1)} |`);
  console.log(`| polis monitor: peak RSS after the scrapes (MiB) | ${peakMiB.toFixed(1)} |`);
} finally {
  server?.kill("SIGTERM");
  log("removing the containers");
  for (const id of ids) polis("delete", "--force", id);
  rmSync(work, { recursive: true, force: true });
}

#!/usr/bin/env node
// The per-container monitor's cost, side by side with conmon's, on the same busybox container:
//   idle        RSS (VmRSS) and CPU over --idle-seconds of a `sleep` container
//   throughput  a container writing --mb MB of 100-byte lines as fast as it can: time until the
//               whole output is in the k8s-file log, and the monitor's CPU and peak RSS meanwhile
//   10 MB/s     a container writing about 10 MB/s for --rate-seconds: CPU % and RSS
// polis-monitor runs under `polis run -d --logs`; conmon runs runc, as podman would.
//   node scripts/bench/monitor.mjs [--mb 64] [--idle-seconds 5] [--rate-seconds 10]
// Must run as root; prints a Markdown table. Load on the host skews CPU figures: see loadavg.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const MB = arg("mb", 64);
const IDLE_S = arg("idle-seconds", 5);
const RATE_S = arg("rate-seconds", 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => process.stderr.write(m + "\n");
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

const work = mkdtempSync(join(tmpdir(), "polis-bench-mon-"));
const rootfs = join(work, "rootfs");
execFileSync("bash", [join(REPO, "scripts", "make-rootfs.sh"), rootfs], { stdio: "ignore" });
const LINE = "x".repeat(99);
const SCRIPTS = {
  idle: "sleep 1000",
  flood: `yes ${LINE} | head -c ${MB * 1024 * 1024}; sleep 1000`,
  // ~1 MiB every 100 ms, i.e. at most 10 MiB/s
  rate: `while :; do yes ${LINE} | head -c 1048576; usleep 100000; done`,
};

function bundle(script) {
  const dir = mkdtempSync(join(work, "bundle-"));
  cpSync(rootfs, join(dir, "rootfs"), { recursive: true, verbatimSymlinks: true });
  const c = JSON.parse(readFileSync(join(REPO, "test", "fixtures", "busybox-config.json"), "utf8"));
  c.process.args = ["sh", "-c", script];
  writeFileSync(join(dir, "config.json"), JSON.stringify(c));
  return dir;
}

const status = (pid) => readFileSync(`/proc/${pid}/status`, "utf8");
const kb = (pid, key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status(pid))[1]);
const ticks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
};

let n = 0;
/** Start `script` under one monitor; returns { pid of the monitor, log path, stop() }. */
async function start(kind, script) {
  const id = `bm-${process.pid}-${n++}`;
  const b = bundle(script);
  if (kind === "polis") {
    const root = join(work, "polis-root");
    const polis = (...a) =>
      spawnSync(process.execPath, [join(REPO, "dist", "polis-entry.cjs"), "--root", root, ...a], { env, encoding: "utf8" });
    const r = polis("run", "-d", "--logs", "--bundle", b, id);
    if (r.status !== 0) throw new Error(r.stderr);
    const i = JSON.parse(polis("inspect", id).stdout)[0];
    return { pid: i.Monitor.Pid, log: i.LogPath, stop: () => polis("delete", "--force", id) };
  }
  const dir = join(work, id);
  for (const d of ["exit", "sock", "runc"]) mkdirSync(join(dir, d), { recursive: true });
  const logPath = join(dir, "ctr.log");
  const r = spawnSync(
    "conmon",
    [
      "--api-version",
      "1",
      "-c",
      id,
      "-u",
      id,
      "-r",
      "/usr/bin/runc",
      "-b",
      b,
      "-p",
      join(dir, "pid"),
      "-n",
      id,
      "--exit-dir",
      join(dir, "exit"),
      "-l",
      `k8s-file:${logPath}`,
      "--socket-dir-path",
      join(dir, "sock"),
      "--runtime-arg",
      `--root=${join(dir, "runc")}`,
      "--conmon-pidfile",
      join(dir, "conmon.pid"),
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`conmon: ${r.stderr}`);
  const pid = Number(readFileSync(join(dir, "conmon.pid"), "utf8"));
  // conmon returns before runc's state is written: start once it is
  for (let i = 0; i < 100 && spawnSync("runc", ["--root", join(dir, "runc"), "start", id]).status !== 0; i++) await sleep(50);
  return {
    pid,
    log: logPath,
    stop: () => {
      spawnSync("runc", ["--root", join(dir, "runc"), "delete", "--force", id]);
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    },
  };
}

const logBytes = (path) => (existsSync(path) ? statSync(path).size : 0);

async function idle(kind) {
  const m = await start(kind, SCRIPTS.idle);
  try {
    await sleep(1000);
    const t0 = ticks(m.pid);
    await sleep(IDLE_S * 1000);
    return { rssKiB: kb(m.pid, "VmRSS"), cpuPct: ((ticks(m.pid) - t0) * 10 * 100) / (IDLE_S * 1000) };
  } finally {
    m.stop();
  }
}

async function flood(kind) {
  const t = Date.now();
  const m = await start(kind, SCRIPTS.flood);
  try {
    const t0 = ticks(m.pid);
    const lines = (MB * 1024 * 1024) / 100;
    // Every line costs its text plus a record header of ~40 bytes: wait for the whole payload.
    const want = MB * 1024 * 1024 + lines * 38;
    let last = -1;
    let stable = 0;
    while (Date.now() - t < 300_000) {
      const now = logBytes(m.log);
      if (now >= want) break;
      stable = now === last ? stable + 1 : 0;
      if (stable > 50) break; // stuck: report what arrived
      last = now;
      await sleep(20);
    }
    const secs = (Date.now() - t) / 1000;
    return { mbPerS: logBytes(m.log) / 1e6 / secs, cpuS: ((ticks(m.pid) - t0) * 10) / 1000, peakKiB: kb(m.pid, "VmHWM") };
  } finally {
    m.stop();
  }
}

async function rate(kind) {
  const m = await start(kind, SCRIPTS.rate);
  try {
    await sleep(1000);
    const t0 = ticks(m.pid);
    const b0 = logBytes(m.log);
    await sleep(RATE_S * 1000);
    return {
      mbPerS: (logBytes(m.log) - b0) / 1e6 / RATE_S,
      cpuPct: ((ticks(m.pid) - t0) * 10 * 100) / (RATE_S * 1000),
      rssKiB: kb(m.pid, "VmRSS"),
    };
  } finally {
    m.stop();
  }
}

try {
  const kinds = ["polis", "conmon"].filter((k) => k === "polis" || spawnSync("conmon", ["--version"]).status === 0);
  const res = {};
  for (const k of kinds) {
    log(`${k}: idle`);
    res[k] = { idle: await idle(k) };
    log(`${k}: ${MB} MB flood`);
    res[k].flood = await flood(k);
    log(`${k}: ~10 MB/s`);
    res[k].rate = await rate(k);
  }
  const f = (v, d = 1) => v.toFixed(d);
  const ratio = (a, b) => (b > 0 ? f(a / b, 2) : "–");
  const row = (label, get) =>
    `| ${label} | ${kinds.map((k) => get(res[k])).join(" | ")} |${kinds.length === 2 ? ` ${ratio(Number(get(res.polis)), Number(get(res.conmon)))} |` : ""}`;
  console.log(`loadavg: ${readFileSync("/proc/loadavg", "utf8").trim()}\n`);
  console.log(
    `| | ${kinds.join(" | ")} |${kinds.length === 2 ? " polis/conmon |" : ""}\n|---|${kinds.map(() => "---|").join("")}${kinds.length === 2 ? "---|" : ""}`,
  );
  console.log(row("idle RSS (KiB)", (r) => f(r.idle.rssKiB, 0)));
  console.log(row("idle CPU (%)", (r) => f(r.idle.cpuPct, 2)));
  console.log(row(`log throughput, ${MB} MB flood (MB/s)`, (r) => f(r.flood.mbPerS)));
  console.log(row(`CPU for the ${MB} MB (s)`, (r) => f(r.flood.cpuS, 2)));
  console.log(row("peak RSS during the flood (KiB)", (r) => f(r.flood.peakKiB, 0)));
  console.log(row("~10 MB/s writer: logged (MB/s)", (r) => f(r.rate.mbPerS)));
  console.log(row("~10 MB/s writer: CPU (%)", (r) => f(r.rate.cpuPct)));
  console.log(row("~10 MB/s writer: RSS (KiB)", (r) => f(r.rate.rssKiB, 0)));
} finally {
  rmSync(work, { recursive: true, force: true });
}

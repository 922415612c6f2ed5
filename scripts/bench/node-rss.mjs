#!/usr/bin/env node
// Peak RSS of every command the launcher hands to node, against issue 13's target (50 MiB), in
// one table. Root only.
//
//   node scripts/bench/node-rss.mjs [--runs 5] [--only pull,monitor] [--containers 3] [--requests 200]
//                                   [--scale 30,100] [--scrapes 60]
//
// Each command runs through dist/polis as clients run it, without NODE_EXTRA_CA_CERTS, `--runs`
// times; the table gives the median of its peak RSS (/usr/bin/time -f %M: node's ru_maxrss), the
// smallest and the largest. "(Node path)" rows set POLIS_NATIVE=0 for commands the launcher
// would do itself. `pull` pulls busybox from Debian's docker-registry on 127.0.0.1 into a fresh
// root each time; `pull-https` from the same registry's storage served over HTTPS (a self-signed
// certificate made by openssl) with --tls-verify=false, `pull-https-verified` trusting it through
// a --config file's `registries.<host>.ca`, `pull-https-again` into a root that has it all (only
// the manifest comes). `monitor` is read from /proc/<pid>/status (VmHWM) when it listens (its first
// sample taken), after one /metrics scrape, and after `--requests` requests (/metrics, the
// dashboard and its JSON API in turn) with `--containers` running containers besides the two
// every row shares (a `sleep`, and one under a per-container monitor with --logs). `monitor` also
// gives a row per `--scale` count: a monitor of that many running `sleep` containers (a root of
// their own) after `--scrapes` scrapes of /metrics, the monitor of a Prometheus scraping for a
// while (`--scale ""` leaves them out).
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeBundles } from "./lib/bundle.mjs";
import { withMonitor } from "./lib/monitor.mjs";
import { pushRootfs, startRegistry } from "./lib/registry.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const opt = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const POLIS = resolve(opt("polis", join(REPO, "dist", "polis")));
const RUNS = Number(opt("runs", 5));
const CONTAINERS = Number(opt("containers", 3));
const REQUESTS = Number(opt("requests", 200));
const SCALE = opt("scale", "30,100").split(",").filter(Boolean).map(Number);
const SCRAPES = Number(opt("scrapes", 60));
const ONLY = opt("only", "")?.split(",").filter(Boolean);
const TARGET_MIB = 50;
const log = (m) => process.stderr.write(`${m}\n`);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
delete env.POLIS_TIMING;
delete env.POLIS_NATIVE;
const nodePath = { ...env, POLIS_NATIVE: "0" };
const work = mkdtempSync(join(tmpdir(), "polis-node-rss-"));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** stdout and stderr as files: a created container inherits polis's stdio and would hold a pipe. */
function quiet(cmd, args, e = env) {
  const out = openSync("/dev/null", "w");
  const err = openSync(join(work, "stderr"), "w");
  try {
    return spawnSync(cmd, args, { env: e, stdio: ["ignore", out, err] });
  } finally {
    closeSync(out);
    closeSync(err);
  }
}
const stderrText = () => readFileSync(join(work, "stderr"), "utf8");

function polis(args, e = env) {
  const r = quiet(POLIS, args, e);
  if (r.status !== 0) throw new Error(`polis ${args.join(" ")}: exit ${r.status}: ${stderrText()}`);
}

/** Peak RSS of one call in KiB. */
function peak(args, e) {
  const file = join(work, "rss");
  const r = quiet("/usr/bin/time", ["-f", "%M", "-o", file, POLIS, ...args], e);
  if (r.status !== 0) throw new Error(`polis ${args.join(" ")}: exit ${r.status}: ${stderrText()}`);
  return Number(readFileSync(file, "utf8").trim().split("\n").pop());
}

const REQUEST_PATHS = [
  "/metrics",
  "/",
  "/api/containers",
  "/api/events?limit=50",
  "/api/history?since=0",
  "/api/alerts",
  "/metrics",
];
const hwm = (pid) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmHWM:\s+(\d+)/)[1]);

/** One monitor: VmHWM when listening, after a scrape, after REQUESTS requests (KiB each). */
async function monitorOnce(root, requests = REQUESTS, paths = REQUEST_PATHS) {
  return withMonitor(POLIS, root, env, async (child, url) => {
    const started = hwm(child.pid);
    await (await fetch(`${url}/metrics`)).text();
    const scraped = hwm(child.pid);
    for (let i = 1; i < requests; i++) await (await fetch(`${url}${paths[i % paths.length]}`)).text();
    return { started, scraped, serving: hwm(child.pid) };
  });
}

async function main() {
  if (process.geteuid() !== 0) throw new Error("run as root");
  const {
    true: btrue,
    sleep: bsleep,
    log: blog,
  } = makeBundles(REPO, work, {
    true: ["/bin/true"],
    sleep: ["/bin/sleep", "1000"],
    log: ["/bin/sh", "-c", "echo hello; exec sleep 1000"],
  });
  const root = join(work, "root");
  const root100 = join(work, "root100");
  const tag = `nrss${process.pid}`;
  const sleeper = `${tag}-sleep`;
  const logger = `${tag}-log`;
  const extra = Array.from({ length: CONTAINERS }, (_, i) => `${tag}-x${i}`);
  const list100 = Array.from({ length: 100 }, (_, i) => `${tag}-l${i}-`.padEnd(64, "0"));
  let n = 0;
  // 64 characters, as containerd's ids (an id's length changes what V8 optimises: README)
  const id = () => `${tag}-${n++}-`.padEnd(64, "0");
  const want = (name) => !ONLY?.length || ONLY.includes(name);
  let stopRegistry = () => {};
  const rows = [];
  const scaled = []; // the --scale containers still running (removed after their row, or at the end)
  const row = (name, kibs) => {
    rows.push({ name, mib: median(kibs) / 1024, min: Math.min(...kibs) / 1024, max: Math.max(...kibs) / 1024 });
    log(`node-rss: ${name} done (loadavg ${loadavg()})`);
  };
  const load0 = loadavg();
  try {
    polis(["--root", root, "run", "-d", "--bundle", bsleep, sleeper]);
    polis(["--root", root, "run", "-d", "--logs", "--bundle", blog, logger]);
    for (const x of extra) polis(["--root", root, "run", "-d", "--bundle", bsleep, x]);
    let ref;
    let tlsRef;
    const tlsConfig = join(work, "tls-config.yaml");
    const overTls = ["pull-https", "pull-https-verified", "pull-https-again"].some(want);
    if (overTls || ["pull", "images", "run-image"].some(want)) {
      const { host, child } = await startRegistry(work);
      stopRegistry = () => child.kill();
      ref = pushRootfs(work, host, join(work, "rootfs"));
      polis(["--root", root, "pull", "-q", "--tls-verify=false", ref]);
      if (overTls) {
        // the same storage served over HTTPS (a self-signed certificate), a config that trusts it
        const tls = await startRegistry(work, { tls: true });
        stopRegistry = () => {
          child.kill();
          tls.child.kill();
        };
        tlsRef = ref.replace(host, tls.host);
        writeFileSync(tlsConfig, `registries:\n  "${tls.host}":\n    ca: ${JSON.stringify(tls.cert)}\n`);
      }
    }
    if (want("list100")) for (const i of list100) polis(["--root", root100, "create", "--bundle", btrue, i]);
    const cases = {
      version: { label: "--version", args: () => ["--version"] },
      help: { label: "run --help", args: () => ["run", "--help"] },
      create: {
        label: "create (Node path)",
        env: nodePath,
        args: (i) => ["--root", root, "create", "--bundle", btrue, i],
        after: (i) => quiet(POLIS, ["--root", root, "delete", "--force", i]),
      },
      run: {
        label: "run /bin/true (Node path)",
        env: nodePath,
        args: (i) => ["--root", root, "run", "--bundle", btrue, i],
        after: (i) => quiet(POLIS, ["--root", root, "delete", "--force", i]),
      },
      exec: { label: "exec /bin/true", args: () => ["--root", root, "exec", sleeper, "/bin/true"] },
      ps: { label: "ps", args: () => ["--root", root, "ps", sleeper] },
      state: { label: "state (Node path)", env: nodePath, args: () => ["--root", root, "state", sleeper] },
      list100: { label: "list of 100 (Node path)", env: nodePath, args: () => ["--root", root100, "list"] },
      "delete-force": {
        label: "delete --force (running)",
        before: (i) => polis(["--root", root, "run", "-d", "--bundle", bsleep, i]),
        args: (i) => ["--root", root, "delete", "--force", i],
      },
      spec: {
        label: "spec",
        before: (i) => mkdirSync(join(work, i)),
        args: (i) => ["spec", "--bundle", join(work, i)],
        after: (i) => rmSync(join(work, i), { recursive: true, force: true }),
      },
      features: { label: "features", args: () => ["features"] },
      events: {
        label: "events --all (until now)",
        args: () => ["--root", root, "events", "--all", "--until", new Date().toISOString()],
      },
      inspect: { label: "inspect", args: () => ["--root", root, "inspect", sleeper] },
      stats: { label: "stats --no-stream", args: () => ["--root", root, "stats", "--no-stream", sleeper] },
      logs: { label: "logs", args: () => ["--root", root, "logs", logger] },
      "network-ls": { label: "network ls", args: () => ["--root", root, "network", "ls"] },
      "network-create": {
        label: "network create",
        args: (i) => ["--root", root, "network", "create", i.slice(0, 30)],
        after: (i) => quiet(POLIS, ["--root", root, "network", "rm", i.slice(0, 30)]),
      },
      pull: {
        label: "pull busybox (local registry)",
        args: (i) => ["--root", join(work, `pull-${i}`), "pull", "-q", "--tls-verify=false", ref],
        after: (i) => rmSync(join(work, `pull-${i}`), { recursive: true, force: true }),
      },
      "pull-https": {
        label: "pull busybox (local registry, HTTPS, --tls-verify=false)",
        args: (i) => ["--root", join(work, `pull-${i}`), "pull", "-q", "--tls-verify=false", tlsRef],
        after: (i) => rmSync(join(work, `pull-${i}`), { recursive: true, force: true }),
      },
      "pull-https-verified": {
        label: "pull busybox (local registry, HTTPS, its CA in --config)",
        args: (i) => ["--root", join(work, `pull-${i}`), "--config", tlsConfig, "pull", "-q", tlsRef],
        after: (i) => rmSync(join(work, `pull-${i}`), { recursive: true, force: true }),
      },
      "pull-https-again": {
        label: "pull busybox again (HTTPS, --tls-verify=false, nothing to download)",
        args: () => ["--root", root, "pull", "-q", "--tls-verify=false", tlsRef],
      },
      images: { label: "images", args: () => ["--root", root, "images"] },
      "run-image": {
        label: "run --rm --image busybox true (Node path)",
        env: nodePath,
        args: (i) => ["--root", root, "run", "--rm", "--image", ref, i, "true"],
      },
    };
    for (const [name, c] of Object.entries(cases)) {
      if (!want(name)) continue;
      const kibs = [];
      for (let r = 0; r <= RUNS; r++) {
        const i = id();
        c.before?.(i);
        try {
          const kib = peak(c.args(i), c.env ?? env);
          if (r > 0) kibs.push(kib); // the first run warms the page cache
        } finally {
          c.after?.(i);
        }
      }
      row(c.label, kibs);
    }
    if (want("monitor")) {
      const m = [];
      for (let r = 0; r <= RUNS; r++) {
        const got = await monitorOnce(root);
        if (r > 0) m.push(got);
      }
      const all = 2 + CONTAINERS;
      row(
        "monitor: listening, first sample taken",
        m.map((x) => x.started),
      );
      row(
        "monitor: after one /metrics scrape",
        m.map((x) => x.scraped),
      );
      row(
        `monitor: after ${REQUESTS} requests, ${all} containers`,
        m.map((x) => x.serving),
      );
      for (const n of SCALE) {
        const scaleRoot = join(work, `scale${n}`);
        const ids = Array.from({ length: n }, (_, i) => `${tag}-s${n}-${i}-`.padEnd(64, "0"));
        scaled.push({ root: scaleRoot, ids });
        for (const i of ids) polis(["--root", scaleRoot, "run", "-d", "--bundle", bsleep, i]);
        const kibs = [];
        for (let r = 0; r <= RUNS; r++) {
          const got = await monitorOnce(scaleRoot, SCRAPES, ["/metrics"]); // SCRAPES scrapes in all
          if (r > 0) kibs.push(got.serving);
        }
        row(`monitor: after ${SCRAPES} scrapes, ${n} containers`, kibs);
        for (const i of ids) quiet(POLIS, ["--root", scaleRoot, "delete", "--force", i]);
        scaled.pop();
      }
    }
    console.log(`peak RSS of node commands, MiB: median of ${RUNS} runs (min–max); loadavg ${load0} → ${loadavg()}\n`);
    console.log(`| node command | peak RSS | min–max | ≤ ${TARGET_MIB} MiB |`);
    console.log("|---|---:|---:|:---:|");
    const f = (x) => x.toFixed(1);
    for (const r of rows)
      console.log(`| ${r.name} | ${f(r.mib)} | ${f(r.min)}–${f(r.max)} | ${r.mib <= TARGET_MIB ? "yes" : "**no**"} |`);
  } finally {
    stopRegistry();
    for (const i of [sleeper, logger, ...extra]) quiet(POLIS, ["--root", root, "delete", "--force", i]);
    for (const i of list100) quiet(POLIS, ["--root", root100, "delete", "--force", i]);
    for (const { root: r, ids } of scaled) for (const i of ids) quiet(POLIS, ["--root", r, "delete", "--force", i]);
    rmSync(work, { recursive: true, force: true });
  }
}

await main();

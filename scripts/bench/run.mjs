#!/usr/bin/env node
// Side-by-side benchmark of polis, runc and crun on one busybox bundle: see README.md.
// Re-executes itself in a private mount namespace (pure cgroup v1 there), measures every
// command with the runtimes alternating per iteration, prints Markdown and writes JSON.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, USAGE } from "./lib/args.mjs";
import { makeBundles } from "./lib/bundle.mjs";
import { CASES } from "./lib/cases.mjs";
import { Janitor } from "./lib/janitor.mjs";
import { hideUnifiedCgroup, INNER_ENV, reexecInPrivateMountNs } from "./lib/namespace.mjs";
import { Interrupted, markInterrupted, setScratchDir, TIME_BIN } from "./lib/proc.mjs";
import { markdown, summarizeCase, summarizeThroughput } from "./lib/report.mjs";
import { runCase, yieldToEventLoop } from "./lib/runner.mjs";
import { caCertsValue, cleanEnv, resolveRuntimes } from "./lib/runtimes.mjs";
import { runThroughput } from "./lib/throughput.mjs";
import { median } from "./lib/stats.mjs";

const SCRIPT = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SCRIPT), "..", "..");
const log = (msg) => process.stderr.write(`${msg}\n`);

function loadavg() {
  return readFileSync("/proc/loadavg", "utf8").trim();
}

/** Make sure /usr/bin/time exists (Debian package `time`); false when it cannot be had. */
function ensureTimeBinary() {
  if (existsSync(TIME_BIN)) return true;
  log("bench: /usr/bin/time missing, installing the Debian package `time` for peak RSS");
  const r = spawnSync("apt-get", ["install", "-y", "-qq", "time"], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return r.status === 0 && existsSync(TIME_BIN);
}

function wallMs(cmd, args, env) {
  const t0 = process.hrtime.bigint();
  spawnSync(cmd, args, { env, stdio: "ignore" });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * The constant costs inside every figure: spawning any program at all (fork+exec is slow on some
 * VMs), and node's own start, which is the floor under every polis command.
 */
function calibrate(opts, withNode) {
  const env = cleanEnv();
  const bare = [];
  const node = [];
  const nodeCa = [];
  for (let i = 0; i < 15; i++) {
    bare.push(wallMs("/bin/true", [], env));
    if (withNode) {
      node.push(wallMs(process.execPath, ["-e", "0"], env));
      if (opts.ca) nodeCa.push(wallMs(process.execPath, ["-e", "0"], { ...env, NODE_EXTRA_CA_CERTS: caCertsValue() }));
    }
  }
  return {
    spawnTrueMs: median(bare),
    nodeStartMs: withNode ? median(node) : null,
    nodeStartWithCaMs: withNode && opts.ca ? median(nodeCa) : null,
  };
}

async function inner(opts) {
  const cgroups = hideUnifiedCgroup();
  const workDir = mkdtempSync(join(tmpdir(), "polis-bench-"));
  const idPrefix = `pb${process.pid.toString(36)}`;
  const janitor = new Janitor(idPrefix);
  janitor.addDir(workDir);
  mkdirSync(join(workDir, "io"));
  setScratchDir(join(workDir, "io"));
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return [];
    cleaned = true;
    return janitor.cleanupAll();
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
      if (!cleaned) log(`bench: ${sig}, stopping after the current command and cleaning up`);
      markInterrupted();
    });
  }
  // Crash or process.exit: synchronous cleanup still runs.
  process.on("exit", cleanup);

  try {
    if (opts.rss && !ensureTimeBinary()) {
      log("bench: no /usr/bin/time; peak RSS disabled");
      opts.rss = false;
    }
    const { runtimes, skipped, versions } = resolveRuntimes(opts.runtimes, {
      workDir,
      polisPath: opts.polis,
      withCaVariant: opts.ca,
      withNodeVariant: opts.node,
    });
    for (const s of skipped) log(`bench: skipping ${s.name}: ${s.reason}`);
    if (runtimes.length === 0) throw new Error("no runtime to benchmark");
    log(`bench: runtimes ${runtimes.map((r) => r.name).join(", ")}; ${opts.runs} runs per command; cgroups ${cgroups}`);

    const meta = {
      date: new Date().toISOString(),
      host: {
        kernel: release(),
        nproc: cpus().length,
        loadavgBefore: loadavg(),
        loadavgAfter: null,
        cgroups,
        memTotal: readFileSync("/proc/meminfo", "utf8").split("\n")[0].replace(/\s+/g, " "),
      },
      node: process.version,
      versions,
      skipped,
      options: {
        runs: opts.runs,
        rssRuns: opts.rss ? opts.rssRuns : 0,
        warmup: opts.warmup,
        quick: opts.quick,
        listCount: opts.listCount,
        tpSeconds: opts.tpSeconds,
        workers: opts.workers,
        rss: opts.rss,
        phases: opts.phases,
        ca: opts.ca,
      },
      calibration: calibrate(
        opts,
        runtimes.some((r) => r.name === "polis"),
      ),
      leftovers: [],
    };

    const bundles = makeBundles(REPO, workDir, { true: ["/bin/true"], sleep: ["sleep", "3600"] });
    let seq = 0;
    const ctx = {
      workDir,
      bundles,
      janitor,
      iterations: opts.runs,
      warmup: opts.warmup,
      listCount: opts.listCount,
      keepsAfterRun: {},
      timing: { rss: false, phases: opts.phases },
      rssRuns: opts.rss ? opts.rssRuns : 0,
      newId: (rt, tag) =>
        `${idPrefix}-${rt.name === "polis-ca" ? "pc" : rt.name === "polis-node" ? "pn" : rt.name[0]}${tag}${(seq++).toString(36)}`,
    };

    const wanted = (key) => !opts.only || opts.only.includes(key);
    const result = { meta, cases: [], throughput: [] };
    for (const c of CASES) {
      if (!wanted(c.key)) continue;
      const label = c.label.replace("N created", `${opts.listCount} created`);
      log(`bench: ${label}`);
      const started = Date.now();
      const entry = summarizeCase(c, label, await runCase(ctx, c, runtimes, log));
      result.cases.push(entry);
      log(
        `  ${Object.entries(entry.runtimes)
          .map(([n, r]) => `${n} ${r.ms.median === null ? "fail" : `${r.ms.median.toFixed(1)} ms`}`)
          .join(" · ")}  (${((Date.now() - started) / 1000).toFixed(0)} s)`,
      );
    }
    if (wanted("throughput")) {
      const rounds = 3;
      for (const workers of [1, opts.workers]) {
        const key = workers === 1 ? "throughput-sequential" : `throughput-parallel-${workers}`;
        const label = workers === 1 ? "throughput, sequential" : `throughput, ${workers} parallel workers`;
        log(`bench: ${label} (${opts.tpSeconds} s per runtime, ${rounds} alternating rounds)`);
        const entry = summarizeThroughput(
          key,
          label,
          await runThroughput(ctx, runtimes, { workers, seconds: opts.tpSeconds, rounds }, log),
        );
        result.throughput.push(entry);
        log(
          `  ${Object.entries(entry.runtimes)
            .map(([n, r]) => `${n} ${r.overallPerMin === null ? "fail" : `${r.overallPerMin.toFixed(0)}/min`}`)
            .join(" · ")}`,
        );
        await yieldToEventLoop();
      }
    }
    meta.host.loadavgAfter = loadavg();
    meta.leftovers = cleanup();
    if (meta.leftovers.length) log(`bench: could not remove: ${meta.leftovers.join(", ")}`);

    mkdirSync(dirname(resolve(opts.out)), { recursive: true });
    writeFileSync(resolve(opts.out), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${markdown(result)}\n`);
    log(`bench: wrote ${resolve(opts.out)}`);
    return meta.leftovers.length ? 1 : 0;
  } catch (e) {
    const left = cleanup();
    if (left.length) log(`bench: could not remove: ${left.join(", ")}`);
    // A setup child (make-rootfs, runc spec) killed by the same Ctrl-C counts as an interruption.
    if (e instanceof Interrupted || ["SIGINT", "SIGTERM", "SIGHUP"].includes(e?.signal)) {
      log("bench: interrupted; cleaned up");
      return 130;
    }
    throw e;
  }
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2), REPO);
  } catch (e) {
    log(`bench: ${e.message}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  if (process.env[INNER_ENV] !== "1") {
    if (process.getuid?.() !== 0) {
      log("bench: must run as root (it creates containers and a mount namespace)");
      return 1;
    }
    return reexecInPrivateMountNs(SCRIPT, process.argv.slice(2));
  }
  return inner(opts);
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(`bench: ${e.stack ?? e.message}`);
    process.exit(1);
  },
);

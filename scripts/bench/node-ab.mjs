#!/usr/bin/env node
// Two builds of polis's Node path side by side: wall time and peak RSS of each node command,
// the builds alternating per iteration (which goes first alternates too), so that the load of
// a shared machine falls on both alike. Reports per command the medians and the median of the
// per-pair ratios (new/base), with the load average before and after. Root only.
//
//   node scripts/build.mjs --outdir /tmp/base/dist    # in a checkout of the base commit, or:
//   mkdir /tmp/base && cp -a dist /tmp/base/ && cp package.json /tmp/base/ &&
//     ln -s "$PWD/node_modules" "$PWD/native" /tmp/base/
//   node scripts/bench/node-ab.mjs --base /tmp/base/dist/polis [--runs 15] [--only run,list100]
//
// Every command goes through the launcher with POLIS_NATIVE=0 (list and state then measure the
// Node path) and without NODE_EXTRA_CA_CERTS. `pull` pulls a busybox image from Debian's
// docker-registry on 127.0.0.1 into a fresh root each time (`pull-https`: the same storage served
// over HTTPS with a self-signed certificate, --tls-verify=false; `pull-https-verified`: trusting
// it through a --config file's `registries.<host>.ca`); `monitor` is timed until it prints
// its address, and its peak RSS is read after one scrape of /metrics.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeBundles } from "./lib/bundle.mjs";
import { pushRootfs, startRegistry } from "./lib/registry.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const opt = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const BUILDS = { base: resolve(opt("base", "")), new: resolve(opt("new", join(REPO, "dist", "polis"))) };
const RUNS = Number(opt("runs", 15));
const ONLY = opt("only", "")?.split(",").filter(Boolean);
const log = (m) => process.stderr.write(`${m}\n`);
const env = { ...process.env, POLIS_NATIVE: "0" };
delete env.NODE_EXTRA_CA_CERTS;
delete env.POLIS_TIMING;
const work = mkdtempSync(join(tmpdir(), "polis-node-ab-"));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** One timed call: wall ms (spawn to exit) and peak RSS in KiB (/usr/bin/time -f %M). */
function timed(build, args) {
  const rss = join(work, "rss");
  const t0 = process.hrtime.bigint();
  const r = quiet("/usr/bin/time", ["-f", "%M", "-o", rss, BUILDS[build], ...args]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${build}: polis ${args.join(" ")}: exit ${r.status}: ${stderrText()}`);
  return { ms, kib: Number(readFileSync(rss, "utf8").trim().split("\n").pop()) };
}

/** Untimed clean-up: a foreground `run` may have deleted its container already. */
const forceDelete = (root, i) => quiet(BUILDS.new, ["--root", root, "delete", "--force", i]);

function polis(args) {
  const r = quiet(BUILDS.new, args);
  if (r.status !== 0) throw new Error(`polis ${args.join(" ")}: ${stderrText()}`);
}

/**
 * stdout and stderr as files, not pipes: a created container inherits polis's stdio and would
 * keep a pipe open (spawnSync would wait for it).
 */
function quiet(cmd, args) {
  const out = openSync("/dev/null", "w");
  const err = openSync(join(work, "stderr"), "w");
  try {
    return spawnSync(cmd, args, { env, stdio: ["ignore", out, err] });
  } finally {
    closeSync(out);
    closeSync(err);
  }
}
const stderrText = () => readFileSync(join(work, "stderr"), "utf8");

/** docker-registry on 127.0.0.1 holding busybox as bench/busybox:1; returns [ref, stop]. */
async function registry() {
  const { host, child } = await startRegistry(work);
  return [pushRootfs(work, host, join(work, "rootfs")), () => child.kill()];
}

/** `monitor`: wall ms until it prints its address; peak RSS after one scrape of /metrics. */
async function monitorOnce(build, root) {
  const t0 = process.hrtime.bigint();
  const child = spawn(BUILDS[build], ["--root", root, "monitor", "--listen", "127.0.0.1:0", "--interval", "1h"], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise((res, rej) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (\S+)/);
      if (m) res(m[1]);
    });
    child.on("exit", (code) => rej(new Error(`monitor exited ${code}`)));
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await (await fetch(`${url.replace(/\/$/, "")}/metrics`)).text();
  const kib = Number(readFileSync(`/proc/${child.pid}/status`, "utf8").match(/VmHWM:\s+(\d+)/)[1]);
  child.kill();
  await new Promise((r) => child.once("exit", r));
  return { ms, kib };
}

async function main() {
  if (process.geteuid() !== 0) throw new Error("run as root");
  if (!opt("base")) throw new Error("--base PATH_TO_BASE_DIST/polis is required");
  const { true: btrue, sleep: bsleep } = makeBundles(REPO, work, { true: ["/bin/true"], sleep: ["/bin/sleep", "1000"] });
  const root = join(work, "root");
  const root100 = join(work, "root100");
  const sleeper = `nab${process.pid}`;
  polis(["--root", root, "run", "-d", "--bundle", bsleep, sleeper]);
  let n = 0;
  // 64 characters, as containerd's ids: an id's length changes what V8 optimises (README)
  const id = () => `nab${process.pid}-${n++}-`.padEnd(64, "0");
  const cases = {
    version: { args: () => ["--version"] },
    help: { args: () => ["run", "--help"] },
    create: { args: (i) => ["--root", root, "create", "--bundle", btrue, i], after: (i) => forceDelete(root, i) },
    run: { args: (i) => ["--root", root, "run", "--bundle", btrue, i], after: (i) => forceDelete(root, i) },
    exec: { args: () => ["--root", root, "exec", sleeper, "/bin/true"] },
    ps: { args: () => ["--root", root, "ps", sleeper] },
    state: { args: () => ["--root", root, "state", sleeper] },
    list100: { args: () => ["--root", root100, "list"] },
    "network-ls": { args: () => ["--root", root, "network", "ls"] },
    inspect: { args: () => ["--root", root, "inspect", sleeper] },
    events: { args: () => ["--root", root, "events", "--all", "--until", new Date().toISOString()] },
  };
  const want = (name) => !ONLY?.length || ONLY.includes(name);
  let stopRegistry = () => {};
  try {
    if (want("list100"))
      for (let i = 0; i < 100; i++)
        polis(["--root", root100, "create", "--bundle", btrue, `nab${process.pid}-l${i}-`.padEnd(64, "0")]);
    const overTls = ["pull-https", "pull-https-verified"].some(want);
    if (want("pull") || overTls) {
      const [ref, stop] = await registry();
      stopRegistry = stop;
      const fresh = (i) => join(work, `pull-${i}`);
      const after = (i) => rmSync(fresh(i), { recursive: true, force: true });
      cases.pull = { args: (i) => ["--root", fresh(i), "pull", "-q", "--tls-verify=false", ref], after };
      if (overTls) {
        // the same storage over HTTPS (a self-signed certificate), a config that trusts it
        const tls = await startRegistry(work, { tls: true });
        stopRegistry = () => {
          stop();
          tls.child.kill();
        };
        const tlsRef = ref.replace(/^[^/]+/, tls.host);
        const config = join(work, "tls-config.yaml");
        writeFileSync(config, `registries:\n  "${tls.host}":\n    ca: ${JSON.stringify(tls.cert)}\n`);
        cases["pull-https"] = { args: (i) => ["--root", fresh(i), "pull", "-q", "--tls-verify=false", tlsRef], after };
        cases["pull-https-verified"] = { args: (i) => ["--root", fresh(i), "--config", config, "pull", "-q", tlsRef], after };
      }
    }
    if (want("monitor")) cases.monitor = { monitor: true };
    const load0 = loadavg();
    const rows = [];
    for (const [name, c] of Object.entries(cases)) {
      if (!want(name)) continue;
      const s = { base: [], new: [] };
      for (let r = 0; r <= RUNS; r++) {
        const order = r % 2 ? ["base", "new"] : ["new", "base"];
        for (const b of order) {
          const i = id();
          const m = c.monitor ? await monitorOnce(b, root) : timed(b, c.args(i));
          c.after?.(i);
          if (r > 0) s[b].push(m); // the first pair warms the page cache
        }
      }
      const ratios = s.new.map((m, k) => m.ms / s.base[k].ms);
      rows.push({
        name,
        baseMs: median(s.base.map((m) => m.ms)),
        newMs: median(s.new.map((m) => m.ms)),
        ratio: median(ratios),
        baseMiB: median(s.base.map((m) => m.kib)) / 1024,
        newMiB: median(s.new.map((m) => m.kib)) / 1024,
      });
      log(`node-ab: ${name} done (loadavg ${loadavg()})`);
    }
    console.log(`loadavg before ${load0}, after ${loadavg()}; ${RUNS} pairs per command\n`);
    console.log("| command | base ms | new ms | new/base (median of pairs) | base MiB | new MiB |");
    console.log("|---|---:|---:|---:|---:|---:|");
    for (const r of rows) {
      const f = (x) => x.toFixed(1);
      console.log(`| ${r.name} | ${f(r.baseMs)} | ${f(r.newMs)} | ${r.ratio.toFixed(3)}× | ${f(r.baseMiB)} | ${f(r.newMiB)} |`);
    }
  } finally {
    stopRegistry();
    forceDelete(root, sleeper);
    for (let i = 0; i < 100; i++)
      spawnSync(BUILDS.new, ["--root", root100, "delete", `nab${process.pid}-l${i}-`.padEnd(64, "0")], { stdio: "ignore" });
    rmSync(work, { recursive: true, force: true });
  }
}

await main();

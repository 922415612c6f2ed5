#!/usr/bin/env node
// Two polis builds, alternating in one process: `run` of /bin/true and `create` (+ untimed
// delete), with POLIS_TIMING=1 phases. Prints medians, the median of the per-pair ratios B/A,
// and the load average, so that a change can be judged on a loaded machine.
//
//   node scripts/bench/ab.mjs A_POLIS B_POLIS [--runs N] [--only run,create,lifecycle,state] [--env-a K=V] [--env-b K=V]
//
// Runs in a private mount namespace with cgroup2 unmounted there (as run.mjs does).
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeBundles } from "./lib/bundle.mjs";
import { hideUnifiedCgroup, INNER_ENV, reexecInPrivateMountNs } from "./lib/namespace.mjs";
import { cleanEnv } from "./lib/runtimes.mjs";
import { median, parsePhaseLines } from "./lib/stats.mjs";

const SCRIPT = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SCRIPT), "..", "..");

function parse(argv) {
  const o = { a: null, b: null, runs: 20, only: ["run", "create"], envA: {}, envB: {} };
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i];
    if (t === "--runs") o.runs = Number(argv[++i]);
    else if (t === "--only") o.only = argv[++i].split(",");
    else if (t === "--env-a" || t === "--env-b") {
      const [k, ...v] = argv[++i].split("=");
      o[t === "--env-a" ? "envA" : "envB"][k] = v.join("=");
    } else if (!o.a) o.a = resolve(t);
    else o.b = resolve(t);
  }
  if (!o.a || !o.b)
    throw new Error("usage: ab.mjs A_POLIS B_POLIS [--runs N] [--only run,create,lifecycle,state] [--env-a K=V] [--env-b K=V]");
  return o;
}

// stderr to a file, not a pipe: a created container's init keeps the caller's stdio open.
function timed(cmd, args, env, errFile) {
  const err = openSync(errFile, "w");
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ["ignore", "ignore", err] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  closeSync(err);
  const stderr = readFileSync(errFile, "utf8");
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}: ${stderr}`);
  return { ms, phases: parsePhaseLines(stderr) };
}

/** containerd's calls for one short task (as run.mjs's lifecycle row), summed; phases: create's. */
function lifecycle(cmd, root, env, bundle, id, err) {
  const r = timed(cmd, ["--root", root, "create", "--bundle", bundle, id], env, err);
  let ms = r.ms;
  for (const args of [
    ["start", id],
    ["state", id],
    ["kill", id, "9"],
  ])
    ms += timed(cmd, ["--root", root, ...args], env, err).ms;
  for (let t = 0; t < 500; t++) {
    const s = spawnSync(cmd, ["--root", root, "state", id], { env, encoding: "utf8" });
    if (s.stdout.includes('"stopped"')) break;
  }
  ms += timed(cmd, ["--root", root, "state", id], env, err).ms;
  ms += timed(cmd, ["--root", root, "delete", id], env, err).ms;
  return { ms, phases: r.phases };
}

const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;

function inner(o) {
  hideUnifiedCgroup();
  const dir = mkdtempSync(join(tmpdir(), "polis-ab-"));
  const bundles = makeBundles(REPO, dir, { true: ["/bin/true"], sleep: ["sleep", "3600"] });
  const base = { ...cleanEnv(), POLIS_TIMING: "1" };
  const side = {
    A: { cmd: o.a, root: join(dir, "root-a"), env: { ...base, ...o.envA } },
    B: { cmd: o.b, root: join(dir, "root-b"), env: { ...base, ...o.envB } },
  };
  const load0 = readFileSync("/proc/loadavg", "utf8").trim();
  const res = {};
  let n = 0;
  for (const kase of o.only) {
    res[kase] = { A: [], B: [], phA: [], phB: [] };
    for (let i = -1; i < o.runs; i++) {
      const order = i % 2 === 0 ? ["A", "B"] : ["B", "A"];
      for (const s of order) {
        const { cmd, root, env } = side[s];
        const id = `ab${process.pid.toString(36)}${n++}`;
        let r;
        const err = join(dir, "stderr");
        if (kase === "run") r = timed(cmd, ["--root", root, "run", "--bundle", bundles.true, id], env, err);
        else if (kase === "lifecycle") r = lifecycle(cmd, root, env, bundles.sleep, id, err);
        else if (kase === "state") {
          // `state` of a long-lived container while others come and go (an untimed run each time)
          if (i < 0) timed(cmd, ["--root", root, "create", "--bundle", bundles.sleep, `${root.slice(-1)}keep`], env, err);
          timed(cmd, ["--root", root, "run", "--bundle", bundles.true, id], env, err);
          r = timed(cmd, ["--root", root, "state", `${root.slice(-1)}keep`], env, err);
        } else {
          r = timed(cmd, ["--root", root, "create", "--bundle", bundles.sleep, id], env, join(dir, "stderr"));
          spawnSync(cmd, ["--root", root, "delete", "--force", id], { env: cleanEnv(), stdio: "ignore" });
        }
        if (i < 0) continue; // warm-up
        res[kase][s].push(r.ms);
        res[kase][`ph${s}`].push(r.phases);
      }
    }
  }
  const load1 = readFileSync("/proc/loadavg", "utf8").trim();
  for (const [kase, r] of Object.entries(res)) {
    const ratios = r.A.map((a, i) => r.B[i] / a);
    console.log(
      `${kase}: A ${median(r.A).toFixed(1)} ms, B ${median(r.B).toFixed(1)} ms, B/A median of pair ratios ${median(ratios).toFixed(3)}, ` +
        `of means ${(mean(r.B) / mean(r.A)).toFixed(3)} (n=${r.A.length})`,
    );
    const names = [...new Set([...r.phA, ...r.phB].flatMap((p) => Object.keys(p)))];
    for (const name of names) {
      const a = median(r.phA.map((p) => p[name] ?? 0));
      const b = median(r.phB.map((p) => p[name] ?? 0));
      console.log(`  ${name.padEnd(32)} A ${a.toFixed(2).padStart(7)}  B ${b.toFixed(2).padStart(7)}`);
    }
  }
  console.log(`loadavg before: ${load0}; after: ${load1}`);
  for (const s of Object.values(side)) {
    spawnSync(s.cmd, ["--root", s.root, "delete", "--force", `${s.root.slice(-1)}keep`], { env: cleanEnv(), stdio: "ignore" });
    rmSync(s.root, { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
}

const o = parse(process.argv.slice(2));
if (process.env[INNER_ENV]) inner(o);
else process.exitCode = await reexecInPrivateMountNs(SCRIPT, process.argv.slice(2));

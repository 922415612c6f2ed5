// Running runtime commands: timed (wall clock + peak RSS) and untimed (setup and cleanup).
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parsePhaseLines, parseRssMarker, stripTimeOutput } from "./stats.mjs";

export const TIME_BIN = "/usr/bin/time";
export const RSS_MARKER = "POLIS_BENCH_RSS_KIB=";

/** Thrown when the user interrupts (Ctrl-C) so that the caller's finally blocks clean up. */
export class Interrupted extends Error {
  constructor() {
    super("interrupted");
  }
}

const state = { interrupted: false };
export function markInterrupted() {
  state.interrupted = true;
}
export function checkInterrupted() {
  if (state.interrupted) throw new Interrupted();
}

/** A child that died of SIGINT/SIGTERM means the whole process group was signalled: stop now. */
function checkChildSignal(r) {
  if (r.signal === "SIGINT" || r.signal === "SIGTERM" || r.signal === "SIGHUP") {
    state.interrupted = true;
    throw new Interrupted();
  }
}

/**
 * Run `rt args` once, timed with hrtime around spawnSync. With rss, the command runs under
 * `/usr/bin/time -f <marker>%M` (the wrapper's fork+exec is in the timing, equally for every runtime;
 * run.mjs measures that overhead and reports it). Throws with the runtime's stderr when it fails.
 */
export function timed(rt, args, { rss = true, phases = false } = {}) {
  const argv = rt.argv(args);
  const env = phases && rt.supportsPhases ? { ...rt.env, POLIS_TIMING: "1" } : rt.env;
  const [file, fileArgs] = rss ? [TIME_BIN, ["-f", `${RSS_MARKER}%M`, ...argv]] : [argv[0], argv.slice(1)];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(file, fileArgs, { env, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  checkChildSignal(r);
  const stderr = rss ? stripTimeOutput(r.stderr ?? "", RSS_MARKER) : (r.stderr ?? "").trim();
  if (r.error || r.status !== 0) {
    throw new Error(`${rt.name} ${args.join(" ")}: ${r.error?.message ?? `exit ${r.status ?? r.signal}`}${stderr ? `: ${lastLines(stderr)}` : ""}`);
  }
  return {
    ms,
    rssKiB: rss ? parseRssMarker(r.stderr ?? "", RSS_MARKER) : null,
    phases: phases && rt.supportsPhases ? parsePhaseLines(r.stderr ?? "") : null,
    stdout: r.stdout ?? "",
  };
}

/** Untimed: returns { ok, status, stdout, stderr } and never throws for a non-zero exit. */
export function quiet(rt, args) {
  const argv = rt.argv(args);
  const r = spawnSync(argv[0], argv.slice(1), { env: rt.env, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20, encoding: "utf8" });
  checkChildSignal(r);
  return { ok: !r.error && r.status === 0, status: r.status, stdout: r.stdout ?? "", stderr: (r.stderr ?? "").trim() };
}

/** Untimed and required: throws with the runtime's stderr when it fails. */
export function must(rt, args) {
  const r = quiet(rt, args);
  if (!r.ok) throw new Error(`${rt.name} ${args.join(" ")}: exit ${r.status}${r.stderr ? `: ${lastLines(r.stderr)}` : ""}`);
  return r;
}

/** Async variant for the parallel throughput workers (spawnSync would serialise them). */
export function runAsync(rt, args, { stdout = false } = {}) {
  const argv = rt.argv(args);
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { env: rt.env, stdio: ["ignore", stdout ? "pipe" : "ignore", "pipe"] });
    let out = "";
    let err = "";
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (d) => {
      out += d;
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d) => {
      if (err.length < 65536) err += d;
    });
    child.on("error", (e) => resolve({ ok: false, status: null, stdout: "", stderr: e.message }));
    child.on("close", (status, signal) => {
      if (signal === "SIGINT" || signal === "SIGTERM" || signal === "SIGHUP") state.interrupted = true;
      resolve({ ok: status === 0, status: status ?? signal, stdout: out, stderr: err.trim() });
    });
  });
}

export function lastLines(text, n = 3) {
  return String(text).trim().split("\n").slice(-n).join(" | ");
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Block the thread for ms (setup polling only; the timed paths never sleep). */
export function sleepSync(ms) {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** A pid has exited when it is gone or a zombie (whoever reaps it may be slow). */
export function pidExited(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return true;
  }
}

export function readPid(file) {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** The status field of `<rt> state <id>`, or null when the runtime does not know the container. */
export function containerStatus(rt, id) {
  const r = quiet(rt, ["state", id]);
  if (!r.ok) return null;
  try {
    return JSON.parse(r.stdout).status ?? null;
  } catch {
    return null;
  }
}

/** Poll `state` until the container reaches want (untimed setup); throws after timeoutMs. */
export function waitStatus(rt, id, want, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    checkInterrupted();
    last = containerStatus(rt, id);
    if (last === want) return;
    sleepSync(2);
  }
  throw new Error(`${rt.name}: container ${id} did not become ${want} (last status ${last})`);
}

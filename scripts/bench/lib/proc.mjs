// Running runtime commands: timed (wall clock + peak RSS) and untimed (setup and cleanup).
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

let scratch = null;
let scratchSeq = 0;
/** Where command output is captured; the janitor removes it (run.mjs passes its work dir). */
export function setScratchDir(dir) {
  scratch = dir;
}

/**
 * Files for a command's stdout and stderr. Not pipes: a detached container inherits the runtime's
 * stdio, and a pipe it holds would make spawnSync (and the async 'close') wait for the container.
 * Fresh names each call, so output from an older container cannot land in a newer capture.
 */
function capture() {
  scratch ??= mkdtempSync(join(tmpdir(), "polis-bench-io-"));
  const base = join(scratch, `io-${process.pid}-${scratchSeq++}`);
  const out = openSync(`${base}.out`, "w");
  const err = openSync(`${base}.err`, "w");
  return {
    stdio: ["ignore", out, err],
    read() {
      closeSync(out);
      closeSync(err);
      const res = { stdout: readFileSync(`${base}.out`, "utf8"), stderr: readFileSync(`${base}.err`, "utf8") };
      rmSync(`${base}.out`, { force: true });
      rmSync(`${base}.err`, { force: true });
      return res;
    },
  };
}

/**
 * Run `rt args` once, timed with hrtime around spawnSync. With rss, the command runs under
 * `/usr/bin/time -f <marker>%M` for its peak RSS (then the wall time includes the wrapper and is not
 * used). Throws with the runtime's stderr when it fails.
 */
export function timed(rt, args, { rss = false, phases = false } = {}) {
  const argv = rt.argv(args);
  const env = phases && rt.supportsPhases ? { ...rt.env, POLIS_TIMING: "1" } : rt.env;
  const [file, fileArgs] = rss ? [TIME_BIN, ["-f", `${RSS_MARKER}%M`, ...argv]] : [argv[0], argv.slice(1)];
  const io = capture();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(file, fileArgs, { env, stdio: io.stdio });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const { stdout, stderr: rawErr } = io.read();
  checkChildSignal(r);
  const stderr = rss ? stripTimeOutput(rawErr, RSS_MARKER) : rawErr.trim();
  if (r.error || r.status !== 0) {
    throw new Error(
      `${rt.name} ${args.join(" ")}: ${r.error?.message ?? `exit ${r.status ?? r.signal}`}${stderr ? `: ${lastLines(stderr)}` : ""}`,
    );
  }
  return {
    ms,
    rssKiB: rss ? parseRssMarker(rawErr, RSS_MARKER) : null,
    phases: phases && rt.supportsPhases ? parsePhaseLines(rawErr) : null,
    stdout,
  };
}

/** Untimed: returns { ok, status, stdout, stderr } and never throws for a non-zero exit. */
export function quiet(rt, args) {
  const argv = rt.argv(args);
  const io = capture();
  const r = spawnSync(argv[0], argv.slice(1), { env: rt.env, stdio: io.stdio });
  const { stdout, stderr } = io.read();
  checkChildSignal(r);
  return { ok: !r.error && r.status === 0, status: r.status, stdout, stderr: stderr.trim() };
}

/** Untimed and required: throws with the runtime's stderr when it fails. */
export function must(rt, args) {
  const r = quiet(rt, args);
  if (!r.ok) throw new Error(`${rt.name} ${args.join(" ")}: exit ${r.status}${r.stderr ? `: ${lastLines(r.stderr)}` : ""}`);
  return r;
}

/** Async variant for the parallel throughput workers (spawnSync would serialise them). */
export function runAsync(rt, args) {
  const argv = rt.argv(args);
  return new Promise((resolve) => {
    const io = capture();
    const child = spawn(argv[0], argv.slice(1), { env: rt.env, stdio: io.stdio });
    let settled = false;
    // 'exit', not 'close': the stdio files are ours, nothing to drain.
    child.on("error", (e) => {
      if (settled) return;
      settled = true;
      io.read();
      resolve({ ok: false, status: null, stdout: "", stderr: e.message });
    });
    child.on("exit", (status, signal) => {
      if (settled) return;
      settled = true;
      const { stdout, stderr } = io.read();
      if (signal === "SIGINT" || signal === "SIGTERM" || signal === "SIGHUP") state.interrupted = true;
      resolve({ ok: status === 0, status: status ?? signal, stdout, stderr: stderr.trim() });
    });
  });
}

/** The informative part of a failing command's stderr: its first error-looking line, else its last line. */
export function lastLines(text) {
  const lines = String(text)
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const err = lines.find((l) => /error|denied|not |no such|invalid|fail/i.test(l) && !/^at /.test(l));
  const pick = err ?? lines[lines.length - 1] ?? "";
  return pick.length > 300 ? `${pick.slice(0, 300)}…` : pick;
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

// Containers per minute: loops of create + start + wait for exit + delete of /bin/true,
// with one worker (sequential) and with several in parallel. Asynchronous, so parallel workers
// really overlap; the loop is short and the runtimes dominate it.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { checkInterrupted, Interrupted, lastLines, pidExited, readPid, runAsync } from "./proc.mjs";
import { rotate } from "./stats.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function step(rt, args) {
  const r = await runAsync(rt, args);
  checkInterrupted();
  if (!r.ok) throw new Error(`${rt.name} ${args[0]}: exit ${r.status}${r.stderr ? `: ${lastLines(r.stderr)}` : ""}`);
  return r;
}

/** Wait for the init to exit: by pid when the runtime wrote the pid file, else by polling state. */
async function waitExit(rt, id, pidFile) {
  const deadline = Date.now() + 10_000;
  const pid = readPid(pidFile);
  while (Date.now() < deadline) {
    if (pid !== null) {
      if (pidExited(pid)) return;
    } else {
      const r = await runAsync(rt, ["state", id]);
      try {
        if (r.ok && JSON.parse(r.stdout).status === "stopped") return;
      } catch {
        // unparsable state output: keep polling until the deadline
      }
    }
    checkInterrupted();
    await sleep(1);
  }
  throw new Error(`${rt.name}: container ${id} did not exit`);
}

/** delete, retried briefly: right after the init exits, a runtime may still see it (a zombie) as running. */
async function deleteStopped(rt, id) {
  let last;
  for (let attempt = 0; attempt < 200; attempt++) {
    last = await runAsync(rt, ["delete", id]);
    checkInterrupted();
    if (last.ok) return;
    await sleep(2);
  }
  throw new Error(`${rt.name} delete: exit ${last.status}: ${lastLines(last.stderr)}`);
}

async function cycle(ctx, rt) {
  const id = ctx.newId(rt, "t");
  const pidFile = join(ctx.workDir, `${id}.pid`);
  ctx.janitor.track(rt, id);
  await step(rt, ["create", "--bundle", ctx.bundles.true, "--pid-file", pidFile, id]);
  await step(rt, ["start", id]);
  await waitExit(rt, id, pidFile);
  await deleteStopped(rt, id);
  ctx.janitor.untrack(rt, id);
  rmSync(pidFile, { force: true });
}

/** Run `workers` loops until the deadline; the rate counts only completed cycles. */
async function measure(ctx, rt, workers, seconds) {
  let cycles = 0;
  let failed = false;
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + seconds * 1000;
  const loop = async () => {
    // A failing worker stops the others too, so no loop outlives its measurement window.
    while (!failed && Date.now() < deadline) {
      try {
        await cycle(ctx, rt);
      } catch (e) {
        failed = true;
        throw e;
      }
      cycles++;
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: workers }, loop));
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const rejected = settled.find((s) => s.status === "rejected");
  if (rejected) throw rejected.reason;
  return { cycles, elapsedMs, perMin: (cycles / elapsedMs) * 60_000 };
}

/**
 * Throughput with `workers` parallel loops, `seconds` per runtime in total, split into rounds
 * that alternate the runtimes (rotating the order) so they share the machine's load drift.
 * Returns per runtime: per-round rates (index-aligned), overall rate, error.
 */
export async function runThroughput(ctx, runtimes, { workers, seconds, rounds }, log) {
  const active = runtimes.filter((rt) => !rt.variantOf);
  const results = Object.fromEntries(active.map((rt) => [rt.name, { perMin: [], cycles: 0, elapsedMs: 0, error: null }]));
  for (let r = 0; r < rounds; r++) {
    for (const rt of rotate(active, r)) {
      checkInterrupted();
      const res = results[rt.name];
      if (res.error) {
        res.perMin.push(null);
        continue;
      }
      try {
        const m = await measure(ctx, rt, workers, seconds / rounds);
        res.perMin.push(m.perMin);
        res.cycles += m.cycles;
        res.elapsedMs += m.elapsedMs;
      } catch (e) {
        if (e instanceof Interrupted) throw e;
        res.error = e.message;
        res.perMin.push(null);
        log(`  throughput x${workers}: ${rt.name} failed: ${e.message}`);
      }
    }
  }
  for (const res of Object.values(results)) res.overallPerMin = res.elapsedMs > 0 ? (res.cycles / res.elapsedMs) * 60_000 : null;
  return results;
}

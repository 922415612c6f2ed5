// The measurement loops: every case alternates runtimes within each iteration (rotating the
// order), so the runtimes share the same moment of machine load and can be compared pairwise.
import { checkInterrupted, Interrupted } from "./proc.mjs";
import { rotate } from "./stats.mjs";

/** Let pending signal handlers run (the timed paths are synchronous). */
export function yieldToEventLoop() {
  return new Promise((resolve) => setImmediate(resolve));
}

/** After this many failed iterations a runtime is dropped from the case (one flaky failure is not). */
const MAX_FAILURES = 3;

function emptyResult() {
  return { ms: [], rssKiB: [], phases: [], error: null, failures: 0, dropped: false };
}

function record(res, m) {
  res.ms.push(m ? m.ms : null);
  res.phases.push(m ? m.phases : null);
}

function oneIteration(ctx, c, rt) {
  if (c.perIterationContainer === false) return c.measure(ctx, rt, null);
  const id = ctx.newId(rt, c.key[0]);
  ctx.janitor.track(rt, id);
  let removed = false;
  try {
    c.setup?.(ctx, rt, id);
    const m = c.measure(ctx, rt, id);
    // A case whose timed command removes the container needs no untimed delete after it
    // (for polis each extra command costs a node start).
    removed = Boolean(c.removes);
    return m;
  } finally {
    if (removed) ctx.janitor.untrack(rt, id);
    else ctx.janitor.removeContainer(rt, id);
  }
}

/** One iteration, or null when it fails or the runtime was dropped (the first error is kept). */
async function attempt(ctx, c, rt, res, log) {
  await yieldToEventLoop();
  checkInterrupted();
  if (res.dropped) return null;
  try {
    return oneIteration(ctx, c, rt);
  } catch (e) {
    if (e instanceof Interrupted) throw e;
    res.error ??= e.message;
    res.failures++;
    res.dropped = res.failures >= MAX_FAILURES;
    log(`  ${c.key}: ${rt.name} failed${res.dropped ? " (dropped from this case)" : ""}: ${e.message}`);
    return null;
  }
}

/**
 * Run one case over all applicable runtimes. A runtime that fails is dropped from the rest of
 * the case (its error is kept for the report); the others go on. Samples are index-aligned
 * across runtimes (null where missing) so paired ratios compare the same iteration.
 */
export async function runCase(ctx, c, runtimes, log) {
  const active = runtimes.filter((rt) => c.variants.includes(rt.name));
  const results = Object.fromEntries(active.map((rt) => [rt.name, emptyResult()]));
  const shared = new Map();
  const caseCtx = {
    ...ctx,
    shared(rt) {
      if (!shared.has(rt.name)) throw new Error(`${rt.name}: no shared container (setup failed)`);
      return shared.get(rt.name);
    },
  };
  ctx = caseCtx;
  try {
    for (const rt of active) {
      if (!c.setupAll) continue;
      try {
        shared.set(rt.name, await c.setupAll(ctx, rt));
      } catch (e) {
        if (e instanceof Interrupted) throw e;
        results[rt.name].error = `setup: ${e.message}`;
        results[rt.name].dropped = true;
        log(`  ${c.key}: ${rt.name} setup failed: ${e.message}`);
      }
    }
    const total = ctx.warmup + ctx.iterations;
    for (let i = 0; i < total; i++) {
      for (const rt of rotate(active, i)) {
        const m = await attempt(ctx, c, rt, results[rt.name], log);
        if (i >= ctx.warmup) record(results[rt.name], m);
      }
    }
    // Peak RSS in separate runs under /usr/bin/time: the wrapper is one more fork+exec, which
    // costs milliseconds on a slow VM and would blur the timed figures if it were inside them.
    const rssCtx = { ...ctx, timing: { rss: true, phases: false } };
    for (let i = 0; i < ctx.rssRuns; i++) {
      for (const rt of rotate(active, i)) {
        const m = await attempt(rssCtx, c, rt, results[rt.name], log);
        results[rt.name].rssKiB.push(m ? m.rssKiB : null);
      }
    }
  } finally {
    if (c.teardownAll) for (const rt of active) await c.teardownAll(ctx, rt, shared.get(rt.name));
  }
  return results;
}

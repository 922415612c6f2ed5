// The single-command cases. Each times exactly one runtime command (two for `run` when the
// runtime keeps the container after a foreground run); preconditions are set up untimed.
import { join } from "node:path";
import { checkInterrupted, containerStatus, lastLines, must, pidExited, readPid, runAsync, sleepSync, timed } from "./proc.mjs";

/** Parallel untimed setup/teardown (two cores here; a little more hides the runtimes' waits). */
const SETUP_PARALLELISM = 3;

/** Run fn over items with at most n in flight; the first failure rejects after the others settle. */
async function pool(items, n, fn) {
  let next = 0;
  let failure = null;
  const worker = async () => {
    while (next < items.length && !failure) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure) throw failure;
}

const ALL = ["polis", "runc", "crun"];
const WITH_CA = [...ALL, "polis-ca"];
/** The commands the native launcher does itself: also timed on polis's Node path. */
const HOT = [...ALL, "polis-node"];

function createRunning(ctx, rt, id, bundle = ctx.bundles.sleep) {
  must(rt, ["create", "--bundle", bundle, id]);
  must(rt, ["start", id]);
}

/** One running container for a whole case; the janitor knows it even if setup fails half-way. */
function sharedRunning(ctx, rt) {
  const id = ctx.newId(rt, "s");
  ctx.janitor.track(rt, id);
  createRunning(ctx, rt, id);
  return id;
}

/** Wait until the container's init has exited and the runtime reports it stopped. */
function waitStopped(_ctx, rt, id, pidFile) {
  const deadline = Date.now() + 10_000;
  const pid = readPid(pidFile);
  while (Date.now() < deadline) {
    checkInterrupted();
    if ((pid === null || pidExited(pid)) && containerStatus(rt, id) === "stopped") return;
    sleepSync(2);
  }
  throw new Error(`${rt.name}: container ${id} did not stop`);
}

/** Sum of two measurements (run + delete): times and phases add up, peak RSS is the larger. */
function combine(a, b) {
  const phases = a.phases || b.phases ? { ...(a.phases ?? {}) } : null;
  for (const [k, v] of Object.entries(b.phases ?? {})) phases[k] = (phases[k] ?? 0) + v;
  const rss = [a.rssKiB, b.rssKiB].filter((v) => v !== null);
  return { ms: a.ms + b.ms, rssKiB: rss.length ? Math.max(...rss) : null, phases };
}

export const CASES = [
  {
    key: "run",
    label: "run /bin/true (incl. delete)",
    variants: WITH_CA,
    removes: true,
    measure(ctx, rt, id) {
      const ran = timed(rt, ["run", "--bundle", ctx.bundles.true, id], ctx.timing);
      // runc and crun delete a foreground container themselves; a runtime that keeps it pays
      // for the delete here, so every runtime is timed over the same full lifecycle. Whether it
      // keeps it is checked on the first (warm-up) run only: a state call per run is not free.
      const keeps = (ctx.keepsAfterRun[rt.name] ??= containerStatus(rt, id) !== null);
      if (!keeps) return ran;
      return combine(ran, timed(rt, ["delete", id], ctx.timing));
    },
  },
  {
    key: "create",
    label: "create",
    variants: ALL,
    measure: (ctx, rt, id) => timed(rt, ["create", "--bundle", ctx.bundles.sleep, id], ctx.timing),
  },
  {
    key: "start",
    label: "start",
    variants: HOT,
    setup: (ctx, rt, id) => must(rt, ["create", "--bundle", ctx.bundles.sleep, id]),
    measure: (ctx, rt, id) => timed(rt, ["start", id], ctx.timing),
  },
  {
    key: "state",
    label: "state (running)",
    variants: [...WITH_CA, "polis-node"],
    // state and exec leave the container as it was, so one running container serves all runs.
    setupAll: (ctx, rt) => sharedRunning(ctx, rt),
    teardownAll: (ctx, rt, id) => id && ctx.janitor.removeContainer(rt, id),
    perIterationContainer: false,
    measure: (ctx, rt) => timed(rt, ["state", ctx.shared(rt)], ctx.timing),
  },
  {
    key: "kill",
    label: "kill 9 (running)",
    variants: HOT,
    setup: createRunning,
    measure: (ctx, rt, id) => timed(rt, ["kill", id, "9"], ctx.timing),
  },
  {
    key: "delete",
    label: "delete (stopped)",
    variants: HOT,
    setup(ctx, rt, id) {
      const pidFile = join(ctx.workDir, `${id}.pid`);
      must(rt, ["create", "--bundle", ctx.bundles.true, "--pid-file", pidFile, id]);
      must(rt, ["start", id]);
      waitStopped(ctx, rt, id, pidFile);
    },
    removes: true,
    measure: (ctx, rt, id) => timed(rt, ["delete", id], ctx.timing),
  },
  {
    key: "delete-force",
    label: "delete --force (running)",
    variants: ALL,
    setup: createRunning,
    removes: true,
    measure: (ctx, rt, id) => timed(rt, ["delete", "--force", id], ctx.timing),
  },
  {
    key: "exec",
    label: "exec /bin/true (running)",
    variants: ALL,
    setupAll: (ctx, rt) => sharedRunning(ctx, rt),
    teardownAll: (ctx, rt, id) => id && ctx.janitor.removeContainer(rt, id),
    perIterationContainer: false,
    measure: (ctx, rt) => timed(rt, ["exec", ctx.shared(rt), "/bin/true"], ctx.timing),
  },
  {
    key: "pause",
    label: "pause (running)",
    variants: HOT,
    setup: createRunning,
    measure: (ctx, rt, id) => timed(rt, ["pause", id], ctx.timing),
  },
  {
    key: "resume",
    label: "resume (paused)",
    variants: HOT,
    setup(ctx, rt, id) {
      createRunning(ctx, rt, id);
      must(rt, ["pause", id]);
    },
    measure: (ctx, rt, id) => timed(rt, ["resume", id], ctx.timing),
  },
  {
    // What containerd's shim asks of a runtime for one short task: create, start, state, kill,
    // state (once the init is gone: waited for untimed), delete. Six calls, summed.
    key: "lifecycle",
    label: "lifecycle: create, start, state, kill 9, state, delete",
    variants: HOT,
    removes: true,
    measure(ctx, rt, id) {
      const pidFile = join(ctx.workDir, `${id}.pid`);
      let m = timed(rt, ["create", "--bundle", ctx.bundles.sleep, "--pid-file", pidFile, id], ctx.timing);
      m = combine(m, timed(rt, ["start", id], ctx.timing));
      m = combine(m, timed(rt, ["state", id], ctx.timing));
      m = combine(m, timed(rt, ["kill", id, "9"], ctx.timing));
      const pid = readPid(pidFile);
      const deadline = Date.now() + 10_000;
      while (pid !== null && !pidExited(pid) && Date.now() < deadline) sleepSync(1);
      m = combine(m, timed(rt, ["state", id], ctx.timing));
      return combine(m, timed(rt, ["delete", id], ctx.timing));
    },
  },
  {
    key: "list",
    label: "list (N created)",
    variants: HOT,
    /** N containers in the created state per runtime, made once, shared by all iterations. */
    async setupAll(ctx, rt) {
      const ids = Array.from({ length: ctx.listCount }, () => ctx.newId(rt, "l"));
      for (const id of ids) ctx.janitor.track(rt, id);
      // Untimed, so in parallel: a hundred sequential polis creates would take half a minute.
      await pool(ids, SETUP_PARALLELISM, async (id) => {
        const r = await runAsync(rt, ["create", "--bundle", ctx.bundles.sleep, id]);
        checkInterrupted();
        if (!r.ok) throw new Error(`${rt.name} create ${id}: exit ${r.status}: ${lastLines(r.stderr)}`);
      });
      return ids;
    },
    async teardownAll(ctx, rt, ids) {
      await pool(ids ?? [], SETUP_PARALLELISM, async (id) => {
        await runAsync(rt, ["delete", "--force", id]);
        ctx.janitor.untrack(rt, id);
      });
    },
    /** No per-iteration container: list reads the shared ones. */
    perIterationContainer: false,
    measure(ctx, rt) {
      const m = timed(rt, ["list"], ctx.timing);
      ctx.shared(rt); // the shared containers must exist (setupAll succeeded)
      const rows = m.stdout.trim().split("\n").length - 1;
      if (rows < ctx.listCount) throw new Error(`${rt.name} list showed ${rows} containers, expected at least ${ctx.listCount}`);
      return m;
    },
  },
];

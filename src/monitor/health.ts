// `polis health ID`: run the container's health check once (through `polis exec`), record the
// result and the status it leads to, with docker's semantics:
//   starting -> healthy after one success; -> unhealthy after `retries` failures in a row;
//   failures within the start period (after the container started) do not count;
//   a check running past its timeout is killed (in the container too) and fails.
// A change of status appends a `health_status` event; turning unhealthy runs --health-on-failure.
// The container's monitor runs this every interval (--scheduled); a person may run it any time.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isFrozenAt } from "../cgroups/freezer.js";
import { liveStatus, openStore } from "../container/context.js";
import { statePathFor } from "../container/records.js";
import type { GlobalOptions } from "../container/options.js";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import {
  getMonitor,
  recordHealth,
  recordStarted,
  type HealthConfig,
  type HealthResult,
  type HealthStatus,
} from "../state/monitor.js";
import type { Store } from "../state/store.js";
import { rfc3339Nano } from "../time.js";
import { polisArgv } from "./paths.js";

/** docker keeps the last 5 results and 4 KiB of output each. */
export const KEEP_RESULTS = 5;
export const OUTPUT_MAX = 4096;

/** Health checks fail with a reason: exit 125 (podman's code for "could not run the check"). */
export class HealthCheckError extends PolisError {
  readonly exitCode = 125;
}

export interface HealthOutcome {
  status: HealthStatus;
  result: HealthResult;
  changed: boolean;
}

/** The next status after one result (pure; unit-tested). */
export function nextHealth(
  prev: { status: HealthStatus; failingStreak: number },
  ok: boolean,
  inStartPeriod: boolean,
  retries: number,
): { status: HealthStatus; failingStreak: number } {
  if (ok) return { status: "healthy", failingStreak: 0 };
  if (inStartPeriod) return prev; // does not count
  const failingStreak = prev.failingStreak + 1;
  return { status: failingStreak >= retries ? "unhealthy" : prev.status, failingStreak };
}

/** When the container was started: recorded once, from the core's `start` event. */
function startedAt(store: Store, id: string, recorded: string | null): string | null {
  if (recorded) return recorded;
  const starts = store.listEvents({ id, type: "container", action: "start" });
  const at = starts.length ? starts[starts.length - 1].time : null;
  if (at) recordStarted(store, id, at);
  return at;
}

export async function runHealthCheck(g: GlobalOptions, id: string, scheduled: boolean): Promise<HealthOutcome | undefined> {
  let health: HealthConfig;
  let started: string | null;
  const store = openStore(g);
  try {
    const rec = store.get(id);
    if (!rec) throw new HealthCheckError(`container ${id} does not exist`);
    const m = getMonitor(store, id);
    if (!m?.health) throw new HealthCheckError(`container ${id} has no health check (create it with --health-cmd)`);
    const status = liveStatus(rec, () => isFrozenAt(rec.cgroupPaths));
    if (status !== "running") {
      // The monitor's timer runs from create; a check only means something once the container runs.
      if (scheduled) return undefined;
      throw new HealthCheckError(`container ${id} is not running (${status})`);
    }
    health = m.health;
    started = startedAt(store, id, m.startedAt);
  } finally {
    store.close();
  }
  const result = await execCheck(g, id, health);
  const ok = result.exitCode === 0;
  const inStartPeriod = started !== null && Date.parse(result.start) - Date.parse(started) < health.startPeriodMs;
  const done = openStore(g);
  let outcome: HealthOutcome | undefined;
  try {
    outcome = done.transaction(() => {
      const m = getMonitor(done, id);
      if (!m) return undefined; // deleted while the check ran
      const prev = { status: m.healthStatus ?? "starting", failingStreak: m.failingStreak };
      const next = nextHealth(prev, ok, inStartPeriod, health.retries);
      recordHealth(done, id, result, next.status, next.failingStreak, KEEP_RESULTS);
      const changed = next.status !== prev.status;
      if (changed)
        done.appendEvent({
          type: "container",
          action: "health_status",
          id,
          attributes: { status: next.status, failingStreak: next.failingStreak },
        });
      return { status: next.status, result, changed };
    });
  } finally {
    done.close();
  }
  if (outcome?.changed && outcome.status === "unhealthy") await onFailure(g, id, health);
  return outcome;
}

/** --health-on-failure: kill (SIGKILL), stop (SIGTERM), restart (kill; the monitor's exit hook recreates it). */
async function onFailure(g: GlobalOptions, id: string, health: HealthConfig): Promise<void> {
  if (health.onFailure === "none") return;
  log.info(`container ${id} is unhealthy: ${health.onFailure}`);
  if (health.onFailure === "restart") {
    const { requestRestart } = await import("./restart.js");
    requestRestart(g, id);
  }
  const { killContainer } = await import("../container/kill.js");
  try {
    await killContainer(g, { id, signal: health.onFailure === "stop" ? 15 : 9, all: false });
  } catch (err) {
    log.warn(`container ${id}: --health-on-failure ${health.onFailure}: ${(err as Error).message}`);
  }
}

/** Runs the check with `polis exec`, killing it (and what it runs in the container) at the timeout. */
async function execCheck(g: GlobalOptions, id: string, h: HealthConfig): Promise<HealthResult> {
  const argv = h.test[0] === "CMD-SHELL" ? ["/bin/sh", "-c", h.test.slice(1).join(" ")] : h.test.slice(1);
  // In the container's state directory, not /tmp: a check killed half-way (its container deleted,
  // its monitor stopped) leaves nothing that delete does not remove.
  const tmp = mkdtempSync(join(statePathFor(g.root, id), "health-"));
  const pidFile = join(tmp, "pid");
  const [node, ...pre] = polisArgv(g.root);
  const start = rfc3339Nano();
  try {
    const child = spawn(node, [...pre, "exec", "--pid-file", pidFile, id, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const take = (d: Buffer) => {
      output = (output + d.toString()).slice(-OUTPUT_MAX);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The process in the container first: killing `polis exec` alone would leave it running.
      try {
        process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
      } catch {
        // not started yet, or already gone
      }
      child.kill("SIGKILL");
    }, h.timeoutMs);
    const code = await new Promise<number>((resolve) => {
      child.on("error", () => resolve(-1));
      child.on("close", (c, sig) => resolve(c ?? (sig ? 128 : -1)));
    });
    clearTimeout(timer);
    if (timedOut)
      return { start, end: rfc3339Nano(), exitCode: -1, output: `Health check exceeded timeout (${h.timeoutMs / 1000}s)` };
    return { start, end: rfc3339Nano(), exitCode: code, output };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// POLIS_TIMING=1 prints the wall time of each phase of one invocation on stderr at exit
// (`phase=<name> ms=<float>`, spaces in the name printed as "-" so that it stays one word), for
// scripts/bench. With --debug each phase is also a debug log line. When neither, every call is a
// no-op. A name marked twice (a `run` opens the state twice) is printed twice; scripts/bench adds
// them up.
import { writeSync } from "node:fs";

const reporting = Boolean(process.env.POLIS_TIMING);
/**
 * POLIS_TIMING=cpu: each phase's CPU time (user + system, all of this process's threads) instead
 * of its wall time, same format: on a loaded machine wall phases mostly measure the scheduler.
 */
const clock =
  process.env.POLIS_TIMING === "cpu"
    ? () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      }
    : () => performance.now();
let enabled = reporting;
let trace: ((name: string, ms: number) => void) | undefined;
const phases: [string, number][] = [];
let last = 0; // both clocks count from process start, so the first phase is node's own boot

/** --debug: hand every phase to `fn` as it ends (a debug log line with its duration). */
export function traceEachPhase(fn: (name: string, ms: number) => void): void {
  enabled = true;
  trace = fn;
}

/** Close the phase that ends now. */
export function phase(name: string): void {
  if (!enabled) return;
  const now = clock();
  phases.push([name, now - last]);
  trace?.(name, now - last);
  last = now;
}

export function reportPhases(): void {
  if (!reporting) return;
  phase("exit");
  writeSync(2, phases.map(([n, ms]) => `phase=${n.replace(/\s+/g, "-")} ms=${ms.toFixed(2)}\n`).join(""));
}

/**
 * Wall time since this polis process started, in ms (node's boot included: what the caller
 * waited so far). Recorded as `durationMs` on the engine's lifecycle events, which `polis
 * monitor` turns into polis_operation_duration_seconds; for `run`, start's includes create's.
 * process.uptime(), not performance.now(): the `performance` global loads perf_hooks (a dozen
 * modules) on every create.
 */
export const elapsedMs = (): number => Math.round(process.uptime() * 10_000) / 10;

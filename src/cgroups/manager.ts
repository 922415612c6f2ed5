// The cgroupfs manager: one directory per hierarchy (v1 controllers, plus "unified" for the
// cgroup2 tree in hybrid and pure-v2 layouts). Knows nothing about config.json beyond apply().
import { existsSync, mkdirSync, readdirSync, rmdirSync, type Dirent } from "node:fs";
import { dirname } from "node:path";
import { PolisError } from "../errors.js";
import type { Resources } from "../spec/types.js";
import type { CgroupManager } from "./types.js";
import { errnoOf } from "../linux/errno.js";
import { sleepMs } from "../sleep.js";
import { cgFile, readCg, readCgOptional, writeCg } from "./fs.js";
import { applyResources } from "./apply.js";
import { freezerKind, isFrozenAt } from "./freezer.js";
import { enableAllControllers } from "./v2/controllers.js";
import { readStats, type CgroupStats } from "./stats.js";

const SIGKILL = 9;

export class FsCgroupManager implements CgroupManager {
  readonly paths: Record<string, string>;

  constructor(paths: Record<string, string>) {
    this.paths = { ...paths };
  }

  /** Distinct directories (co-mounted controllers share one). */
  private dirs(): string[] {
    return [...new Set(Object.values(this.paths))];
  }

  /** Pure cgroup v2: only the unified tree. */
  private isV2(): boolean {
    return Object.keys(this.paths).every((k) => k === "unified");
  }

  create(): void {
    for (const dir of this.dirs()) {
      const cpuset = this.paths.cpuset === dir;
      mkdirLevels(dir, cpuset);
    }
    // Pure v2 needs controllers enabled in every ancestor's subtree_control before the leaf
    // has them at all. Hybrid hosts enable only what apply() needs (see v2/controllers.ts).
    if (this.isV2() && this.paths.unified) enableAllControllers(this.paths.unified);
  }

  procsFiles(): string[] {
    return this.dirs().map((d) => cgFile(d, "cgroup.procs"));
  }

  pids(): number[] {
    const all = new Set<number>();
    for (const dir of this.dirs()) collectPids(dir, all);
    return [...all].sort((a, b) => a - b);
  }

  killAll(signal: number): void {
    if (this.pids().length === 0) return; // nothing to signal (also: the cgroup may be gone)
    const uni = this.paths.unified;
    if (signal === SIGKILL && uni && existsSync(cgFile(uni, "cgroup.kill"))) {
      // The kernel kills the whole cgroup2 subtree atomically: forks cannot escape.
      writeCg(uni, "cgroup.kill", "1");
      // Frozen tasks only act on SIGKILL once thawed (a paused container being killed).
      if (this.freezerKind() && this.isFrozen()) this.thaw();
      if (this.isV2()) return;
      // Hybrid: every container process also lives in the unified tree, but something might
      // have joined only the v1 cgroups (an exec'd process); sweep those below.
      waitEmpty(() => this.pids(), 200);
      if (this.pids().length === 0) return;
    }
    const canFreeze = this.freezerKind() !== undefined;
    const wasFrozen = canFreeze && this.isFrozen();
    if (canFreeze && !wasFrozen) this.freeze();
    try {
      // Frozen: nobody can fork while we walk the list, so one pass reaches everyone.
      // Without a freezer, repeat until no new pid shows up.
      const seen = new Set<number>();
      for (let round = 0; round < (canFreeze ? 1 : 10); round++) {
        const fresh = this.pids().filter((p) => !seen.has(p));
        if (fresh.length === 0) break;
        for (const pid of fresh) {
          seen.add(pid);
          signalPid(pid, signal);
        }
      }
    } finally {
      // A frozen process only dies once thawed; other signals leave a paused container paused.
      if (canFreeze && (!wasFrozen || signal === SIGKILL)) this.thaw();
    }
  }

  destroy(): void {
    const failures: string[] = [];
    // One deadline for all hierarchies: a cgroup still in use (shared with another container)
    // is busy in every one of them, and waiting a second per hierarchy made delete take ten.
    const deadline = Date.now() + REMOVE_WAIT_MS;
    for (const dir of this.dirs()) {
      try {
        removeTree(dir, deadline);
      } catch (e) {
        failures.push(`${dir}: ${errnoOf(e)}`);
      }
    }
    if (failures.length) {
      throw new PolisError(`remove cgroup ${failures.join(", ")}`, {
        step: "remove cgroup",
        errno: failures[0].split(": ").pop(),
      });
    }
  }

  apply(resources: Resources): void {
    applyResources(this.paths, resources);
  }

  stats(): CgroupStats {
    return readStats(this.paths);
  }

  private freezerKind(): "v1" | "v2" | undefined {
    return freezerKind(this.paths);
  }

  freeze(): void {
    this.setFrozen(true);
  }

  thaw(): void {
    this.setFrozen(false);
  }

  isFrozen(): boolean {
    return isFrozenAt(this.paths);
  }

  private setFrozen(frozen: boolean): void {
    const kind = this.freezerKind();
    if (!kind) throw new PolisError("freeze: no freezer cgroup (neither v1 freezer nor cgroup.freeze)", { step: "freeze" });
    if (kind === "v1") {
      const dir = this.paths.freezer;
      const want = frozen ? "FROZEN" : "THAWED";
      writeCg(dir, "freezer.state", want);
      // FREEZING means some task has not stopped yet; re-asserting the state retries them.
      for (let i = 0; i < 2000; i++) {
        if (readCg(dir, "freezer.state") === want) return;
        if (i % 50 === 49) writeCg(dir, "freezer.state", want);
        sleepMs(1);
      }
      if (frozen) writeCg(dir, "freezer.state", "THAWED");
      throw new PolisError(`${frozen ? "freeze" : "thaw"} ${dir}: timed out waiting for ${want}`, {
        step: "freeze",
        errno: "EBUSY",
      });
    }
    const dir = this.paths.unified;
    writeCg(dir, "cgroup.freeze", frozen ? "1" : "0");
    const want = `frozen ${frozen ? 1 : 0}`;
    for (let i = 0; i < 2000; i++) {
      const events = readCgOptional(dir, "cgroup.events") ?? want;
      if (events.split("\n").includes(want)) return;
      sleepMs(1);
    }
    throw new PolisError(`${frozen ? "freeze" : "thaw"} ${dir}: timed out waiting for ${want}`, {
      step: "freeze",
      errno: "EBUSY",
    });
  }
}

/**
 * mkdir -p, one level at a time. For v1 cpuset every new level starts with empty cpus/mems and
 * nobody can join it until they are set, so copy them from the parent (already filled, since we
 * walk top-down). Existing levels with empty values (a half-finished earlier attempt) are fixed too.
 */
function mkdirLevels(dir: string, cpuset: boolean): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) {
    if (dirname(d) === d) break;
    missing.unshift(d);
  }
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      if (errnoOf(e) !== "EEXIST") {
        throw new PolisError(`create cgroup ${d}: ${errnoOf(e)}`, { step: `mkdir ${d}`, errno: errnoOf(e) });
      }
    }
  }
  if (cpuset) fillCpuset(dir);
}

function fillCpuset(dir: string): void {
  // Walk up to the hierarchy root (the first ancestor whose parent is not a cpuset cgroup).
  const chain: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    chain.unshift(d);
    const parent = dirname(d);
    if (parent === d || !cpusetFile(parent, "cpus")) break;
  }
  for (let i = 1; i < chain.length; i++) {
    for (const what of ["cpus", "mems"] as const) {
      const file = cpusetFile(chain[i], what);
      const parentFile = cpusetFile(chain[i - 1], what);
      if (!file || !parentFile) continue;
      if (readCg(chain[i], file) !== "") continue;
      writeCg(chain[i], file, readCg(chain[i - 1], parentFile));
    }
  }
}

/** cpuset.cpus, or plain "cpus" when the hierarchy is mounted with noprefix. */
function cpusetFile(dir: string, what: "cpus" | "mems"): string | undefined {
  if (existsSync(cgFile(dir, `cpuset.${what}`))) return `cpuset.${what}`;
  if (existsSync(cgFile(dir, what)) && existsSync(cgFile(dir, "cgroup.procs"))) return what;
  return undefined;
}

/** How long destroy() retries EBUSY while the last tasks exit. */
const REMOVE_WAIT_MS = 1000;

/** rmdir the cgroup and any child cgroups (deepest first), retrying EBUSY while tasks exit. */
function removeTree(dir: string, deadline: number): void {
  let entries: Dirent[];
  try {
    // The entries' types come with the listing (cgroupfs fills d_type; node stats an entry only
    // where a filesystem does not): a stat per control file cost 2-4 ms per delete.
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return;
    throw e;
  }
  for (const entry of entries) {
    if (entry.isDirectory()) removeTree(cgFile(dir, entry.name), deadline);
  }
  for (;;) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const errno = errnoOf(e);
      if (errno === "ENOENT") return;
      if (errno !== "EBUSY" || Date.now() >= deadline) throw e;
      sleepMs(10);
    }
  }
}

/** cgroup.procs of `dir` and of any child cgroups the container made below it. */
function collectPids(dir: string, into: Set<number>): void {
  const text = readCgOptional(dir, "cgroup.procs");
  if (text === undefined) return;
  for (const line of text.split("\n")) {
    const n = Number(line);
    if (line !== "" && Number.isInteger(n) && n > 0) into.add(n);
  }
  let entries: Dirent[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // removed meanwhile
  }
  for (const e of entries) if (e.isDirectory()) collectPids(cgFile(dir, e.name), into);
}

function signalPid(pid: number, signal: number): void {
  try {
    process.kill(pid, signal);
  } catch (e) {
    if (errnoOf(e) !== "ESRCH") {
      throw new PolisError(`kill ${pid}: ${errnoOf(e)}`, { step: `kill ${pid}`, errno: errnoOf(e) });
    }
  }
}

function waitEmpty(list: () => number[], ms: number): void {
  for (let t = 0; t < ms && list().length > 0; t += 5) sleepMs(5);
}

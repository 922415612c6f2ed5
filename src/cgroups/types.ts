// One interface over cgroup v1, v2 and the hybrid layout (v1 controllers + a cgroup2 mount).
import type { Resources } from "../spec/types.js";
import type { CgroupStats } from "./stats.js";

export interface CgroupManager {
  /** controller name (or "unified" for the cgroup2 tree) -> absolute cgroup directory */
  readonly paths: Record<string, string>;
  /** mkdir every directory (v1 cpuset: copy cpus/mems from the parent first). Idempotent. */
  create(): void;
  /** The cgroup.procs files the shim writes its pid to, so the init is born inside. */
  procsFiles(): string[];
  /** Every pid in the container's cgroup (deduplicated, host pid namespace). */
  pids(): number[];
  /** Send `signal` to every process in the cgroup (cgroup.kill for SIGKILL where available). */
  killAll(signal: number): void;
  /** Remove every directory, waiting briefly for exiting processes; missing dirs are fine. */
  destroy(): void;
  /** Apply linux.resources; what this host cannot enforce is an error naming the field. */
  apply(resources: Resources): void;
  freeze(): void;
  thaw(): void;
  isFrozen(): boolean;
  /** Resource usage (cpu, memory, pids, blkio, hugetlb), for `polis events`. */
  stats(): CgroupStats;
}

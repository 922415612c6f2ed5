// Entry points for the rest of polis: a manager for a new container, or one rebuilt from state.
import type { CgroupManager } from "./types.js";
import { hostLayout, type CgroupLayout } from "./layout.js";
import { FsCgroupManager } from "./manager.js";
import { resolvePaths } from "./paths.js";

export interface CgroupManagerOptions {
  /** linux.cgroupsPath (absolute, relative, or absent) */
  cgroupsPath?: string;
  id: string;
  /** --systemd-cgroup */
  systemd?: boolean;
  /** injected host layout (tests); default: this host, parsed once */
  layout?: CgroupLayout;
  /** injected systemd marker dir (tests); default /run/systemd/system */
  systemdRunDir?: string;
}

export function cgroupManager(opts: CgroupManagerOptions): CgroupManager {
  const layout = opts.layout ?? hostLayout();
  return new FsCgroupManager(resolvePaths(layout, opts));
}

/** Rebuild from the paths recorded in the state store (state.cgroupPaths). */
export function cgroupManagerFromPaths(paths: Record<string, string>): CgroupManager {
  return new FsCgroupManager(paths);
}

export type { CgroupManager } from "./types.js";
export type { CgroupLayout, CgroupMode, Hierarchy } from "./layout.js";
export { detectLayout, hostLayout, parseLayout } from "./layout.js";
export { ownProcsFiles } from "./paths.js";

// Where the monitor room keeps its per-container files: <root>/monitors/<id>/ holds the exit
// file the C monitor writes, the init's pid file, the create's log, the monitor's own stderr and
// (unless --log-path says otherwise) the container's log, ctr.log.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../paths.js";

export const monitorDir = (root: string, id: string) => join(root, "monitors", id);
export const defaultLogPath = (root: string, id: string) => join(monitorDir(root, id), "ctr.log");

/** The C monitor built by node-gyp beside the shim; POLIS_MONITOR overrides it. */
export function monitorBinary(): string {
  return process.env.POLIS_MONITOR || join(packageRoot(), "native", "build", "Release", "polis-monitor");
}

/** How the monitor runs polis again (create, health, exited): this node and this bundle. */
export function polisArgv(root: string): string[] {
  const script =
    process.argv[1] && /polis(-entry)?\.(mjs|cjs|js|ts)$/.test(process.argv[1]) && existsSync(process.argv[1])
      ? process.argv[1]
      : join(packageRoot(), "dist", "polis-entry.cjs");
  return [process.execPath, script, "--root", root];
}

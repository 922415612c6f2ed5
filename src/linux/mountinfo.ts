// Reading /proc/self/mountinfo (only where a plan needs a fact about the host's mounts).
import { readFileSync } from "node:fs";

/** Mount points in /proc/self/mountinfo, with octal escapes (\040 for space) decoded. */
export function mountPoints(text = readFileSync("/proc/self/mountinfo", "utf8")): string[] {
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ")[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
}

/** The mount point of the mount that contains `path` (the longest mount point above it). */
export function mountPointOf(path: string, points = mountPoints()): string {
  let best = "/";
  for (const p of points) {
    const within = p === "/" || path === p || path.startsWith(p.endsWith("/") ? p : p + "/");
    if (within && p.length > best.length) best = p;
  }
  return best;
}

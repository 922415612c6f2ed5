// Turning linux.cgroupsPath into one directory per hierarchy, the way runc's cgroupfs driver does.
import { existsSync } from "node:fs";
import { join, posix } from "node:path";
import { PolisError } from "../errors.js";
import type { CgroupLayout, Hierarchy } from "./layout.js";

export interface ResolveOptions {
  cgroupsPath?: string;
  id: string;
  systemd?: boolean;
  /** where systemd leaves its marker (injectable for tests) */
  systemdRunDir?: string;
}

/**
 * controller (or "unified") -> absolute directory.
 * - absolute cgroupsPath: under each hierarchy's mountpoint (runc: "/default/<id>" -> <mnt>/default/<id>);
 * - relative: relative to this process's own cgroup in that hierarchy;
 * - absent: like runc 1.1.5, the container id relative to our own cgroup.
 * In hybrid mode the cgroup2 tree gets the same path (runc puts the container at 0::/<path>).
 */
export function resolvePaths(layout: CgroupLayout, opts: ResolveOptions): Record<string, string> {
  if (opts.systemd) {
    const marker = opts.systemdRunDir ?? "/run/systemd/system";
    if (!existsSync(marker)) {
      throw new PolisError(`--systemd-cgroup: systemd is not running (no ${marker})`, { step: "cgroups" });
    }
    throw new PolisError("--systemd-cgroup: the systemd cgroup driver is not supported yet", { step: "cgroups" });
  }
  const inner = opts.cgroupsPath && opts.cgroupsPath !== "" ? opts.cgroupsPath : opts.id;
  if (inner.includes(":")) {
    // slice:prefix:name is the systemd form; cgroupfs would create a directory with colons in it.
    throw new PolisError(`linux.cgroupsPath: "${inner}" is a systemd path; use --systemd-cgroup or a plain path`, {
      field: "linux.cgroupsPath",
    });
  }
  const clean = posix.normalize(inner);
  if (clean.split("/").includes("..")) {
    throw new PolisError(`linux.cgroupsPath: must not contain ".."`, { field: "linux.cgroupsPath" });
  }
  if (clean === "/" || clean === "." || clean === "./") {
    // The container's cgroup gets killed and removed on delete: never let that be a shared one.
    throw new PolisError(`linux.cgroupsPath: must name a cgroup below the root or our own cgroup, got "${inner}"`, {
      field: "linux.cgroupsPath",
    });
  }
  const paths: Record<string, string> = {};
  for (const h of layout.v1) {
    const dir = place(h, clean);
    for (const c of h.controllers) paths[c] = dir;
  }
  if (layout.unified) paths.unified = place(layout.unified, clean);
  return paths;
}

const procsFilesOf = new WeakMap<CgroupLayout, string[]>();

function place(h: Hierarchy, inner: string): string {
  if (inner.startsWith("/")) return join(h.mountpoint, inner);
  return join(h.mountpoint, relativeToRoot(h.own, h.root), inner);
}

/**
 * The cgroup.procs files of this process's own cgroups: where a shim that waits in the foreground
 * goes back to once the container's process is born inside the container's cgroup, so that it is
 * never counted (pids.max) or OOM-killed as part of the container.
 */
export function ownProcsFiles(layout: CgroupLayout): string[] {
  // Kept per layout: create asks twice, and fewer path.join calls keep V8 from optimising
  // path.normalize (see cgFile in ./fs.ts).
  let files = procsFilesOf.get(layout);
  if (!files) {
    const hs = [...layout.v1, ...(layout.unified ? [layout.unified] : [])];
    files = hs.map((h) => join(h.mountpoint, relativeToRoot(h.own, h.root), "cgroup.procs"));
    procsFilesOf.set(layout, files);
  }
  return [...files];
}

/** Our own cgroup as seen below the mount (a mount of /a shows cgroup /a/b as <mnt>/b). */
function relativeToRoot(own: string, root: string): string {
  if (root === "/" || root === "") return own;
  if (own === root) return "/";
  if (own.startsWith(root + "/")) return own.slice(root.length);
  return own;
}

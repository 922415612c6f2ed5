// Where the cgroup hierarchies are on this host, read from /proc/self/mountinfo and
// /proc/self/cgroup. The file paths are injectable so unit tests can describe a fake host whose
// "mountpoints" are directories in a temp dir.
import { readFileSync } from "node:fs";
import { PolisError } from "../errors.js";

export type CgroupMode = "v1" | "hybrid" | "v2";

export interface Hierarchy {
  /** "cpu", "cpuacct", "name=systemd", …; several when co-mounted ("cpu,cpuacct") */
  controllers: string[];
  /** where the hierarchy is mounted, e.g. /sys/fs/cgroup/cpu */
  mountpoint: string;
  /** the cgroup the mount shows as its root (mountinfo field 4; "/" unless a cgroup namespace or bind mount) */
  root: string;
  /** this process's own cgroup in the hierarchy (from /proc/self/cgroup), "/" if unknown */
  own: string;
}

export interface CgroupLayout {
  mode: CgroupMode;
  /** v1 hierarchies (one entry per mount, co-mounted controllers share an entry) */
  v1: Hierarchy[];
  /** the cgroup2 mount, if any */
  unified?: Hierarchy;
}

export interface LayoutSources {
  mountinfo?: string; // default /proc/self/mountinfo
  selfCgroup?: string; // default /proc/self/cgroup
}

let cached: CgroupLayout | undefined;

/** The host layout, parsed once per process on first use. */
export function hostLayout(): CgroupLayout {
  return (cached ??= detectLayout());
}

export function detectLayout(src: LayoutSources = {}): CgroupLayout {
  const mountinfoPath = src.mountinfo ?? "/proc/self/mountinfo";
  const cgroupPath = src.selfCgroup ?? "/proc/self/cgroup";
  let mountinfo: string;
  let self = "";
  try {
    mountinfo = readFileSync(mountinfoPath, "utf8");
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    throw new PolisError(`read ${mountinfoPath}: ${errno}`, { step: "detect cgroups", errno });
  }
  try {
    self = readFileSync(cgroupPath, "utf8");
  } catch {
    // Without /proc/self/cgroup we can still place absolute paths; relative ones default to "/".
  }
  return parseLayout(mountinfo, self);
}

/** Pure parser (unit-tested directly). */
export function parseLayout(mountinfo: string, selfCgroup: string): CgroupLayout {
  // /proc/self/cgroup: "ID:controllers:path"; v2 is "0::path".
  const ownV1 = new Map<string, string>(); // controller -> path
  let ownV2: string | undefined;
  for (const line of selfCgroup.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") ownV2 = m[3];
    else for (const c of m[2].split(",")) if (c) ownV1.set(c, m[3]);
  }

  const v1: Hierarchy[] = [];
  const seen = new Set<string>();
  let unified: Hierarchy | undefined;
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-");
    if (dash < 6 || f.length < dash + 4) continue;
    const fstype = f[dash + 1];
    const root = unescapeMount(f[3]);
    const mountpoint = unescapeMount(f[4]);
    if (fstype === "cgroup2") {
      // Keep the first cgroup2 mount; later ones are usually bind mounts into containers.
      unified ??= { controllers: [], mountpoint, root, own: ownV2 ?? "/" };
      continue;
    }
    if (fstype !== "cgroup") continue;
    const controllers = f[dash + 3].split(",").filter((o) => isController(o, ownV1));
    if (controllers.length === 0) continue;
    const key = controllers.slice().sort().join(",");
    if (seen.has(key)) continue; // same hierarchy mounted twice: the first mount wins
    seen.add(key);
    v1.push({ controllers, mountpoint, root, own: ownV1.get(controllers[0]) ?? "/" });
  }

  // Named-only v1 hierarchies (name=systemd) next to a cgroup2 mount is still pure v2 for
  // resource control purposes only when no real v1 controller is mounted.
  const realV1 = v1.some((h) => h.controllers.some((c) => !c.startsWith("name=")));
  const mode: CgroupMode = realV1 ? (unified ? "hybrid" : "v1") : unified ? "v2" : "v1";
  if (!realV1 && !unified) {
    throw new PolisError("cgroups: no cgroup v1 controllers and no cgroup2 mount found in mountinfo", {
      step: "detect cgroups",
    });
  }
  return { mode, v1: mode === "v2" ? [] : v1, unified };
}

const KNOWN = new Set([
  "cpuset",
  "cpu",
  "cpuacct",
  "blkio",
  "memory",
  "devices",
  "freezer",
  "net_cls",
  "perf_event",
  "net_prio",
  "hugetlb",
  "pids",
  "rdma",
  "misc",
  "debug",
]);

/** A super option of a v1 mount that names a controller (not rw, xattr, release_agent=…). */
function isController(opt: string, ownV1: Map<string, string>): boolean {
  return KNOWN.has(opt) || opt.startsWith("name=") || ownV1.has(opt);
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

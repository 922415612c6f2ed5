// What a test needs versus what this host has: root, the cgroup layout and its controllers,
// kernel features (blkio weight files, hugetlb), Debian packages, reference files.
//
// A test asks `lacking(...)` for the reason it cannot run here and skips with it; the reason is
// logged for the `npm test` summary. Missing packages are installed up front by scripts/test.mjs
// (root + apt-get), so a reason naming a package means the install was impossible. In CI
// (CI=true) a missing package, command or file is an error instead: nothing may go silently
// untested there. What the kernel cannot do (blkio weight without BFQ, hugetlb without huge
// pages) is never an error: the test asserts what the host can do, or skips.
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { hostLayout, type CgroupLayout, type Hierarchy } from "../../src/cgroups/layout.js";

/** This run's id (set by test/vitest.config.ts): every name a test makes contains it. */
export const RUN = process.env.POLIS_TEST_RUN ?? `r${process.pid}`;
/** Parent cgroup (absolute linux.cgroupsPath) for tests that want a known place: removed at the end. */
export const TEST_CGROUP_PARENT = `/polis-test-${RUN}`;

export const isRoot = (): boolean => process.getuid?.() === 0;
export const inCI = (): boolean => process.env.CI === "true";

export interface Needs {
  root?: boolean;
  /** Debian packages (dpkg status "installed") */
  packages?: string[];
  /** files that must exist (binaries, reference files) */
  files?: string[];
  /** cgroup controllers that must be usable somewhere (v1 hierarchy or the cgroup2 tree) */
  controllers?: string[];
}

/**
 * Why `suite` cannot run on this host, or "" when it can. The reason is logged for the summary.
 * In CI a missing package or file throws instead (the runner installs them: one missing is a bug).
 */
export function lacking(suite: string, needs: Needs): string {
  const reasons: string[] = [];
  let installable = false;
  if (needs.root && !isRoot()) reasons.push("needs root");
  const pkgs = (needs.packages ?? []).filter((p) => !debInstalled(p));
  if (pkgs.length) {
    installable = true;
    reasons.push(`Debian package${pkgs.length > 1 ? "s" : ""} ${pkgs.join(", ")} missing (apt-get install ${pkgs.join(" ")})`);
  }
  const files = (needs.files ?? []).filter((f) => !existsSync(f));
  if (files.length) {
    installable = true;
    reasons.push(`missing ${files.join(", ")}`);
  }
  const ctrls = (needs.controllers ?? []).filter((c) => !controllerDir(c));
  if (ctrls.length) reasons.push(`cgroup controller${ctrls.length > 1 ? "s" : ""} ${ctrls.join(", ")} not available`);
  const why = reasons.join("; ");
  if (why && installable && inCI()) throw new Error(`${suite}: ${why} (CI must run every suite)`);
  if (why) noteSkip(suite, why);
  return why;
}

/** Record a skip for the summary printed at the end of `npm test` (and warn right away). */
export function noteSkip(what: string, why: string): void {
  const line = `${what}: ${why}`;
  console.warn(`skipping ${line}`);
  const log = process.env.POLIS_TEST_SKIP_LOG;
  if (log) appendFileSync(log, `${line}\n`);
}

const dpkgCache = new Map<string, boolean>();
export function debInstalled(pkg: string): boolean {
  let v = dpkgCache.get(pkg);
  if (v === undefined) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
    v = r.status === 0 && r.stdout.endsWith(" installed");
    dpkgCache.set(pkg, v);
  }
  return v;
}

// ---- cgroups ----

export function layout(): CgroupLayout {
  return hostLayout();
}

/** Controllers the cgroup2 mount offers (its root's cgroup.controllers). */
export function v2Controllers(): string[] {
  const uni = layout().unified;
  if (!uni) return [];
  try {
    return readFileSync(join(uni.mountpoint, "cgroup.controllers"), "utf8").trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

export interface ControllerPlace {
  hierarchy: Hierarchy;
  v2: boolean;
}

/** Where `controller` lives on this host: its v1 hierarchy, else the cgroup2 tree if offered there. */
export function controllerDir(controller: string): ControllerPlace | undefined {
  const l = layout();
  const h = l.v1.find((x) => x.controllers.includes(controller));
  if (h) return { hierarchy: h, v2: false };
  if (l.unified && v2Controllers().includes(controller)) return { hierarchy: l.unified, v2: true };
  return undefined;
}

/** Every hierarchy mountpoint (v1 and cgroup2), one per mount. */
export function hierarchyMounts(): string[] {
  const l = layout();
  return [...l.v1.map((h) => h.mountpoint), ...(l.unified ? [l.unified.mountpoint] : [])];
}

/** The directory of `pid`'s cgroup that holds `controller` (v1 hierarchy, or its cgroup2 cgroup). */
export function pidCgroupDir(pid: number, controller: string): string {
  const place = controllerDir(controller);
  if (!place) throw new Error(`cgroup controller ${controller} is not available on this host`);
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n");
  const line = place.v2
    ? lines.find((l) => l.startsWith("0::"))
    : lines.find((l) => l.split(":")[1]?.split(",").includes(controller));
  if (!line) throw new Error(`/proc/${pid}/cgroup has no ${place.v2 ? "cgroup2" : controller} line`);
  return join(
    place.hierarchy.mountpoint,
    belowRoot(line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1), place.hierarchy.root),
  );
}

/** The directory for cgroup path `cgPath` (as in /proc/<pid>/cgroup) in `controller`'s hierarchy. */
export function cgroupPathDir(controller: string, cgPath: string): string {
  const place = controllerDir(controller);
  if (!place) throw new Error(`cgroup controller ${controller} is not available on this host`);
  return join(place.hierarchy.mountpoint, belowRoot(cgPath, place.hierarchy.root));
}

function belowRoot(path: string, root: string): string {
  if (root === "/" || root === "") return path;
  return path.startsWith(root) ? path.slice(root.length) || "/" : path;
}

/** `pid`'s cgroup in the cgroup2 tree (its 0:: line), if there is a cgroup2 mount. */
export function pidUnifiedDir(pid: number): string | undefined {
  const uni = layout().unified;
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("0::"));
  return uni && line ? join(uni.mountpoint, belowRoot(line.slice(3), uni.root)) : undefined;
}

/** Memory limit of `pid`'s cgroup in bytes, "max" as v2 says it (v1: the page-rounded huge value). */
export function memoryLimit(pid: number): string {
  const place = controllerDir("memory")!;
  const dir = pidCgroupDir(pid, "memory");
  return readFileSync(join(dir, place.v2 ? "memory.max" : "memory.limit_in_bytes"), "utf8").trim();
}

/** pids.max of `pid`'s cgroup (the same file in v1 and v2). */
export function pidsMax(pid: number): string {
  return readFileSync(join(pidCgroupDir(pid, "pids"), "pids.max"), "utf8").trim();
}

/** Is `pid`'s cgroup frozen: v1 freezer.state when that controller is mounted, else cgroup.freeze. */
export function frozen(pid: number): boolean {
  if (controllerDir("freezer")) {
    return readFileSync(join(pidCgroupDir(pid, "freezer"), "freezer.state"), "utf8").trim() === "FROZEN";
  }
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n");
  const v2 = lines.find((l) => l.startsWith("0::"))!.slice(3);
  const uni = layout().unified!;
  return readFileSync(join(uni.mountpoint, belowRoot(v2, uni.root), "cgroup.freeze"), "utf8").trim() === "1";
}

/** A blkio/io weight file a new cgroup gets on this host, or undefined (no BFQ/CFQ scheduler). */
export function blkioWeightFile(dir: string): string | undefined {
  return ["blkio.bfq.weight", "blkio.weight", "io.bfq.weight", "io.weight"].find((f) => existsSync(join(dir, f)));
}

/** Huge page sizes the kernel offers ("2MB", "1GB"), from /sys/kernel/mm/hugepages. */
export function hugePageSizes(): string[] {
  try {
    return readdirSync("/sys/kernel/mm/hugepages")
      .map((d) => /^hugepages-(\d+)kB$/.exec(d)?.[1])
      .filter((k): k is string => !!k)
      .map((k) => (Number(k) >= 1 << 20 ? `${Number(k) >> 20}GB` : Number(k) >= 1024 ? `${Number(k) >> 10}MB` : `${k}KB`));
  } catch {
    return [];
  }
}

/**
 * A real block device (major, minor) for blkio throttle rules: the disk holding "/", else the
 * first disk in /sys/block that is not a loop, ram or zram device. blkio refuses partitions and
 * unknown devices, so a guessed number would make the test depend on the machine.
 */
export function blockDevice(): { major: number; minor: number } | undefined {
  const split = (s: string) => {
    const [major, minor] = s.trim().split(":").map(Number);
    return { major, minor };
  };
  try {
    const dev = statSync("/").dev;
    const num = `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
    const sys = `/sys/dev/block/${num}`;
    if (existsSync(sys)) {
      // A partition's parent directory is its disk.
      if (existsSync(join(sys, "partition"))) return split(readFileSync(join(sys, "..", "dev"), "utf8"));
      return split(num);
    }
  } catch {
    // no /sys/dev/block: fall through
  }
  try {
    const disk = readdirSync("/sys/block").find((d) => !/^(loop|ram|zram)/.test(d));
    return disk ? split(readFileSync(join("/sys/block", disk, "dev"), "utf8")) : undefined;
  } catch {
    return undefined;
  }
}

// Once per vitest run: say what is skipped for lack of root, and at the end check that the run
// left nothing behind. Only what THIS run made is considered (its POLIS_TEST_RUN id is in every
// cgroup, temp dir, mount and process environment it creates), so engineers and CI jobs running
// tests side by side on one machine never see each other's work as a leak.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { baseRootfs } from "./helpers/rootfs.js";
import { hierarchyMounts, inCI, isRoot, noteSkip, RUN, TEST_CGROUP_PARENT } from "./helpers/host.js";

export function setup(): void {
  if (!isRoot()) {
    const why = "not root: the integration suites (test/integration) run real containers and were skipped; unit tests ran";
    if (inCI()) throw new Error(`${why} — CI must run as root`);
    noteSkip("integration", why);
    return;
  }
  // The busybox rootfs every integration suite copies: made once here, before the workers start
  // (two workers making it at once would each see the other's half-made tree).
  baseRootfs();
}

export function teardown(): void {
  const leaks = findLeaks();
  if (process.env.POLIS_TEST_OWNS_RUN_DIR === "1") {
    rmSync(runDir(), { recursive: true, force: true });
    if (leaks.length) throw new Error(`the test run left things behind (removed now):\n  ${leaks.join("\n  ")}`);
  } else if (leaks.length) {
    // Under scripts/test.mjs: it prints the list after vitest's summary and fails the run
    // (throwing here would also stop vitest from writing its coverage report).
    writeFileSync(join(runDir(), "leaks.txt"), `${leaks.join("\n")}\n`);
  }
}

const runDir = () => process.env.POLIS_TEST_RUN_DIR ?? "";

/** Everything this run created that is still there, each cleaned up after it is listed. */
export function findLeaks(): string[] {
  return [...leakedProcesses(), ...leakedMounts(), ...leakedCgroups(), ...leakedTempEntries(), ...leakedOutsideTemp()];
}

/** Our ancestors (npm, scripts/test.mjs) and our own vitest workers carry the marker legitimately. */
function exempt(): Set<number> {
  const out = new Set<number>([process.pid]);
  for (let pid = process.ppid; pid > 1; ) {
    out.add(pid);
    const stat = procFile(pid, "stat");
    pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  }
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const stat = procFile(e, "stat");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    // vitest's own helpers (pool workers, vite's esbuild service): tests run in the workers, so
    // whatever a test starts is a grandchild at least
    if (ppid === process.pid) out.add(Number(e));
  }
  return out;
}

function procFile(pid: number | string, f: string): string {
  try {
    return readFileSync(`/proc/${pid}/${f}`, "utf8");
  } catch {
    return "";
  }
}

function leakedProcesses(): string[] {
  const skip = exempt();
  const dir = runDir();
  const found: string[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || skip.has(Number(e))) continue;
    const stat = procFile(e, "stat");
    if (!stat || stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
    const links = ["root", "cwd"].map((l) => {
      try {
        return readlinkSync(`/proc/${e}/${l}`);
      } catch {
        return "";
      }
    });
    const ours =
      procFile(e, "environ").split("\0").includes(`POLIS_TEST_RUN=${RUN}`) ||
      procFile(e, "cgroup").includes(RUN) ||
      (dir !== "" && links.some((l) => l.startsWith(`${dir}/`)));
    if (!ours) continue;
    found.push(`process ${e}: ${procFile(e, "cmdline").split("\0").join(" ").trim()}`);
    try {
      process.kill(Number(e), "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function leakedMounts(): string[] {
  const dir = runDir();
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.includes(RUN) || (dir !== "" && p.startsWith(`${dir}/`)));
  for (const p of [...points].reverse()) spawnSync("umount", ["-l", p]);
  return points.map((p) => `mount ${p}`);
}

/**
 * cgroups named with this run's id, anywhere in any hierarchy. The shared parent
 * TEST_CGROUP_PARENT itself is expected (tests put containers below it) and removed here; what
 * is still inside it is a leak.
 */
function leakedCgroups(): string[] {
  const found: string[] = [];
  const parentName = TEST_CGROUP_PARENT.slice(1);
  const walk = (dir: string, depth: number) => {
    let subdirs: string[] = [];
    try {
      subdirs = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      return;
    }
    for (const name of subdirs) {
      const p = join(dir, name);
      if (name === parentName) {
        for (const child of readdirSync(p, { withFileTypes: true }))
          if (child.isDirectory()) found.push(`cgroup ${join(p, child.name)}`);
        removeTree(p);
      } else if (name.includes(RUN)) {
        found.push(`cgroup ${p}`);
        removeTree(p);
      } else if (depth < 6) walk(p, depth + 1);
    }
  };
  for (const m of hierarchyMounts()) walk(m, 0);
  return found;
}

function removeTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // still populated: its processes were listed and killed above; nothing more to do here
  }
}

/**
 * polis-* entries left in the run's TMPDIR (every helper names its temp dirs so), except the
 * busybox rootfs cache every suite shares. vitest keeps its own scratch files there too.
 */
function leakedTempEntries(): string[] {
  const tmp = join(runDir(), "t");
  if (runDir() === "" || !existsSync(tmp)) return [];
  const left = readdirSync(tmp).filter((e) => e.startsWith("polis") && e !== "polis-test-rootfs");
  for (const e of left) rmSync(join(tmp, e), { recursive: true, force: true });
  return left.map((e) => `temp ${join(tmp, e)}`);
}

/**
 * Directories outside TMPDIR that suites make with the run id in their name: the containerd
 * suites' runtime roots (/run/containerd/runc/<namespace>, one namespace per test).
 */
function leakedOutsideTemp(): string[] {
  const found: string[] = [];
  for (const dir of ["/run/containerd/runc"]) {
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => n.includes(RUN));
    } catch {
      continue; // containerd never ran here
    }
    for (const n of names) {
      found.push(`directory ${join(dir, n)}`);
      rmSync(join(dir, n), { recursive: true, force: true });
    }
  }
  return found;
}

// Run the harness in a private mount namespace where cgroup v2 (/sys/fs/cgroup/unified) is
// unmounted, so all three runtimes see the same pure cgroup v1 host. crun 1.8.1 refuses the
// hybrid layout; hiding the v2 mount only in our namespace leaves the host's mounts untouched.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";

export const INNER_ENV = "POLIS_BENCH_INNER";
/** The mount namespace the harness was started in, so the inner process can prove it left it. */
const OUTER_NS_ENV = "POLIS_BENCH_OUTER_MNTNS";
export const UNIFIED = "/sys/fs/cgroup/unified";

/** Re-exec this script under `unshare -m --propagation private`; resolves to the inner exit code. */
export function reexecInPrivateMountNs(script, argv) {
  return new Promise((resolve) => {
    const child = spawn("unshare", ["-m", "--propagation", "private", process.execPath, script, ...argv], {
      stdio: "inherit",
      env: { ...process.env, [INNER_ENV]: "1", [OUTER_NS_ENV]: mountNs("self") },
    });
    // Ctrl-C reaches the inner harness through the terminal's process group: let it clean up
    // and exit by itself. A signal aimed at this process alone is passed on.
    process.on("SIGINT", () => {});
    for (const sig of ["SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
    child.on("error", (e) => {
      console.error(`bench: cannot run unshare: ${e.message}`);
      resolve(1);
    });
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
  });
}

function mountNs(pid) {
  return readlinkSync(`/proc/${pid}/ns/mnt`);
}

export function isMountPoint(path) {
  const info = readFileSync("/proc/self/mountinfo", "utf8");
  return info.split("\n").some((l) => l.split(" ")[4] === path);
}

/**
 * Unmount the cgroup2 tree, but only after proving we are not in the mount namespace we were
 * started in (pid 1's may not be readable here): an umount there would break the machine for everyone.
 * Returns "v1" when the namespace ends up with pure v1 controllers.
 */
export function hideUnifiedCgroup() {
  const outer = process.env[OUTER_NS_ENV];
  if (!outer || mountNs("self") === outer) throw new Error("refusing to unmount: not in a private mount namespace");
  if (isMountPoint(UNIFIED)) {
    const r = spawnSync("umount", [UNIFIED], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`umount ${UNIFIED}: ${(r.stderr || "").trim()}`);
  }
  return isMountPoint(UNIFIED) ? "hybrid" : "v1";
}

// A container that got its first polis network by `network connect` (made without --network,
// so its config had no hosts mounts) gets its hosts/resolv.conf files bind-mounted over its
// /etc/hosts and /etc/resolv.conf now, in its own mount namespace, as `run --network` does at
// create: names then work the same for it. Node cannot enter a mount namespace (it is
// multi-threaded), so the shim does it: each file is opened as a detached mount (open_tree) in
// ours, the shim enters the container's mount namespace and moves them onto their targets,
// resolved inside its root (like any bind mount of the plan).
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import { OpCode, Plan } from "../linux/plan.js";
import { hostsPath, resolvPath } from "./names.js";

/**
 * Mounts the files; false (with a warning) when the container's root is read-only and lacks
 * /etc/hosts or /etc/resolv.conf: there is nothing to mount that one on (its network works without).
 */
export async function mountNamesInto(root: string, id: string, pid: number): Promise<boolean> {
  const mnt = `/proc/${pid}/ns/mnt`;
  let theirs: string;
  try {
    theirs = readlinkSync(mnt);
  } catch {
    throw new PolisError(`container ${id}: its process ${pid} is gone`);
  }
  if (theirs === readlinkSync("/proc/self/ns/mnt")) {
    // Its mounts are ours: a bind over "/etc/hosts" would cover the host's own file.
    log.warn(`container ${id} shares the runtime's mount namespace: it keeps its own /etc/hosts and /etc/resolv.conf`);
    return false;
  }
  // A read-only root has no room for a missing file: only the files it has get polis's.
  const readOnly = rootIsReadOnly(pid);
  const files = (
    [
      ["/etc/hosts", hostsPath(root, id)],
      ["/etc/resolv.conf", resolvPath(root, id)],
    ] as const
  ).filter(([target]) => !readOnly || existsSync(`/proc/${pid}/root${target}`));
  const skipped = ["/etc/hosts", "/etc/resolv.conf"].filter((t) => !files.some(([target]) => target === t));
  if (skipped.length) {
    log.warn(
      `container ${id}: its root is read-only and has no ${skipped.join(" or ")} to mount polis's over (create it with --network to have ${skipped.length > 1 ? "them" : "it"})`,
    );
  }
  if (!files.length) return false;
  const plan = new Plan();
  for (const [, source] of files) plan.add(OpCode.OPEN_TREE, "network", `open ${source} as a detached mount`, source, 0);
  plan.add(OpCode.SETNS, "network", `enter container ${id}'s mount namespace`, "mount", mnt);
  files.forEach(([target], i) => {
    plan.add(OpCode.MKDIRS, "network", `make ${target} in container ${id}`, target, "/", "file");
    plan.add(OpCode.MOVE_MOUNT, "network", `mount polis's ${target} over container ${id}'s`, i, target, "/");
  });
  const { ShimSession } = await import("../linux/shim.js");
  const session = ShimSession.start(plan, { stdio: ["ignore", "ignore", "inherit"] });
  try {
    const exit = await session.waitExit();
    if (exit.code !== 0) await session.next(); // rejects with the failure the shim reported
    return skipped.length === 0;
  } finally {
    session.close();
  }
}

/** Whether the container's root mount (the last mount on "/" in its mountinfo) is read-only. */
function rootIsReadOnly(pid: number): boolean {
  let text = "";
  try {
    text = readFileSync(`/proc/${pid}/mountinfo`, "utf8");
  } catch {
    return false;
  }
  const roots = text.split("\n").filter((l) => l.split(" ")[4] === "/");
  return roots.length > 0 && roots[roots.length - 1].split(" ")[5].split(",").includes("ro");
}

// A container without a mount namespace of its own shares the runtime's (runtime-spec: a namespace
// that is not listed is inherited; runc then mounts in the host's namespace and chroots). What its
// plan mounted under the rootfs is therefore in our mount namespace too, and outlives the
// container: `delete` detaches it, so that nothing is left behind (runc leaves it mounted).
import { mountPoints } from "../linux/mountinfo.js";
import { OpCode, Plan } from "../linux/plan.js";
import type { Spec } from "../spec/types.js";

/** The config lists no mount namespace: the container's mounts are in ours. */
export function sharesMountNamespace(spec: Spec): boolean {
  return !(spec.linux?.namespaces ?? []).some((n) => n.type === "mount");
}

/** Mount points strictly below `rootfs`, the most recent (the top of any stack) first. */
export function mountsBelow(rootfs: string, points: readonly string[] = mountPoints()): string[] {
  const prefix = rootfs.endsWith("/") ? rootfs : rootfs + "/";
  return points.filter((p) => p.startsWith(prefix)).reverse();
}

/** Detach every mount below `rootfs` (the rootfs itself, maybe a mount of the caller's, stays). */
export async function detachMountsBelow(rootfs: string): Promise<void> {
  const below = mountsBelow(rootfs);
  if (!below.length) return;
  const plan = new Plan();
  for (const p of below) plan.add(OpCode.UMOUNT, "linux.namespaces", `unmount ${p} (no mount namespace: it is the runtime's)`, p);
  const { ShimSession } = await import("../linux/shim.js");
  const session = ShimSession.start(plan, { stdio: ["ignore", "ignore", "inherit"] });
  try {
    const exit = await session.waitExit();
    if (exit.code !== 0) await session.next(); // rejects with the failure the shim reported
  } finally {
    session.close();
  }
}

// How `run --image` makes a container's rootfs on this host, for `polis features`: an overlay over
// the shared layers when the kernel has overlayfs (the mount itself can still fail, e.g. on an
// overlay root; then the bundle falls back to a copy and says so in a warning).
import { readFileSync } from "node:fs";

export const ROOTFS_ANNOTATION = "org.polis.image.rootfs";

export function imageRootfsMode(): "overlay" | "copy" {
  try {
    return /\toverlay$/m.test(readFileSync("/proc/filesystems", "utf8")) ? "overlay" : "copy";
  } catch {
    return "copy";
  }
}

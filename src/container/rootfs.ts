import { statSync } from "node:fs";
import { resolve } from "node:path";
import { fieldError } from "../errors.js";
import type { Spec } from "../spec/types.js";

/** The absolute rootfs directory; root.path is relative to the bundle when not absolute. */
export function rootfsOf(bundle: string, spec: Spec): string {
  if (!spec.root?.path) throw fieldError("root.path", "is required");
  const rootfs = resolve(bundle, spec.root.path);
  let isDir = false;
  try {
    isDir = statSync(rootfs).isDirectory();
  } catch {
    throw fieldError("root.path", `rootfs ${rootfs} does not exist`);
  }
  if (!isDir) throw fieldError("root.path", `rootfs ${rootfs} is not a directory`);
  return rootfs;
}

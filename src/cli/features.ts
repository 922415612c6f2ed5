// `polis features`: what this build supports, as JSON (indented like runc's). The annotations say
// what runc has no field for: how `run --image` makes a rootfs here.
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { features } = await import("../spec/features.js");
  const { imageRootfsMode, ROOTFS_ANNOTATION } = await import("../image/rootfs-mode.js");
  ctx.io.stdout(JSON.stringify(await features({ [ROOTFS_ANNOTATION]: imageRootfsMode() }), null, 4) + "\n");
}

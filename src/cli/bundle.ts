// `polis bundle REF DIR`: write an OCI bundle (rootfs + config.json) from a pulled image.
import { absPath, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { withStore } = await import("../image/api.js");
  const { makeBundle } = await import("../image/bundle.js");
  const dir = absPath(ctx, ctx.args[1]);
  await withStore(ctx.global, (store) => makeBundle(store, ctx.global.root, ctx.args[0], { dir, mode: "copy" }));
}

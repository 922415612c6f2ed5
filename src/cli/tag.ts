// `polis tag SRC DST`
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { withStore } = await import("../image/api.js");
  const { tagImage } = await import("../image/catalog.js");
  await withStore(ctx.global, (store) => tagImage(store, ctx.args[0], ctx.args[1]));
}

// `polis rmi [--force] REF...`: docker's Untagged:/Deleted: lines.
import { bool, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { withStore } = await import("../image/api.js");
  const { removeImages } = await import("../image/catalog.js");
  const r = await withStore(ctx.global, (store) => removeImages(store, ctx.global.root, ctx.args, bool(ctx, "force")));
  ctx.io.stdout([...r.untagged.map((n) => `Untagged: ${n}\n`), ...r.deleted.map((d) => `Deleted: ${d}\n`)].join(""));
}

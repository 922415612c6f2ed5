// `polis image inspect REF...`, `polis image prune`, `polis image ls`, `polis image rm`.
import { PolisError } from "../errors.js";
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  const { withStore } = await import("../image/api.js");
  switch (sub) {
    case "inspect": {
      if (rest.length === 0) throw new PolisError("image inspect: requires at least one image");
      const { inspectImage } = await import("../image/catalog.js");
      const out = await withStore(ctx.global, (store) => rest.map((r) => inspectImage(store, r)));
      ctx.io.stdout(JSON.stringify(out, null, 2) + "\n");
      return;
    }
    case "prune": {
      const { pruneImages } = await import("../image/catalog.js");
      const { mb } = await import("../image/pull.js");
      const r = await withStore(ctx.global, (store) => pruneImages(store, ctx.global.root));
      ctx.io.stdout(
        r.images.map((i) => `Deleted: ${i}\n`).join("") +
          `Total reclaimed space: ${mb(r.bytes)} (${r.blobs} blobs, ${r.layers} unpacked layers)\n`,
      );
      return;
    }
    case "ls":
    case "list":
      return (await import("./images.js")).run({ ...ctx, args: rest });
    case "rm":
      return (await import("./rmi.js")).run({ ...ctx, args: rest });
    default:
      throw new PolisError(`image: unknown subcommand "${sub ?? ""}" (inspect, prune, ls, rm)`);
  }
}

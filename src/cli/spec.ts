// `polis spec [--bundle DIR] [--rootless]`: write a starter config.json (refuses to overwrite one).
import { absPath, bool, str, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { writeDefaultSpec } = await import("../spec/default.js");
  const bundle = str(ctx, "bundle");
  writeDefaultSpec(bundle ? absPath(ctx, bundle) : ctx.io.cwd(), { rootless: bool(ctx, "rootless") });
}

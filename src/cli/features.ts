// `polis features`: what this build supports, as JSON (indented like runc's).
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { features } = await import("../spec/features.js");
  ctx.io.stdout(JSON.stringify(await features(), null, 4) + "\n");
}

// `polis pause <id>`
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { pauseContainer } = await import("../container/pause.js");
  await pauseContainer(ctx.global, ctx.args[0]);
}

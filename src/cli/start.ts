// `polis start <id>`
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { startContainer } = await import("../container/start.js");
  await startContainer(ctx.global, ctx.args[0]);
}

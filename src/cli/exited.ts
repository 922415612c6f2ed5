// `polis exited ID` (hidden): the container's monitor reports that the init has exited.
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { recordExited } = await import("../monitor/exited.js");
  await recordExited(ctx.global, ctx.args[0]);
}

// `polis inspect ID`: podman-like JSON, an array with one object.
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { inspectContainer } = await import("../monitor/inspect.js");
  ctx.io.stdout(JSON.stringify([inspectContainer(ctx.global, ctx.args[0])], null, 4) + "\n");
}

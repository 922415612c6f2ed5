// `polis run [--detach] [--keep] ... <id>`: exits with the container's exit code.
import { bool, type CliContext } from "./context.js";
import { createOptions } from "./create.js";

export async function run(ctx: CliContext): Promise<number> {
  const { runContainer } = await import("../container/run.js");
  return runContainer(ctx.global, { ...createOptions(ctx), detach: bool(ctx, "detach"), keep: bool(ctx, "keep") });
}

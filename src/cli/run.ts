// `polis run [--detach] [--keep] ... <id>`: exits with the container's exit code.
import { ENGINE_FLAGS } from "../engine/flags.js";
import { bool, type CliContext } from "./context.js";
import { createOptions } from "./create.js";

export async function run(ctx: CliContext): Promise<number> {
  const o = { ...createOptions(ctx), detach: bool(ctx, "detach"), keep: bool(ctx, "keep") };
  if (ENGINE_FLAGS.some((f) => ctx.given.has(f))) {
    const { engineRun } = await import("../engine/run.js");
    return engineRun(ctx.global, { ...o, args: ctx.args.slice(1) }, ctx);
  }
  const { runContainer } = await import("../container/run.js");
  return runContainer(ctx.global, o);
}

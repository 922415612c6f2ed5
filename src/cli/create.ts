// `polis create [--bundle DIR] [--pid-file F] [--console-socket S] <id>`
import type { CreateOptions } from "../container/options.js";
import { ENGINE_FLAGS } from "../engine/flags.js";
import { absPath, bool, num, pathOpt, str, type CliContext } from "./context.js";

export function createOptions(ctx: CliContext): CreateOptions {
  const bundle = str(ctx, "bundle");
  return {
    id: ctx.args[0],
    bundle: bundle ? absPath(ctx, bundle) : ctx.io.cwd(),
    pidFile: pathOpt(ctx, "pid-file"),
    consoleSocket: pathOpt(ctx, "console-socket"),
    noPivot: bool(ctx, "no-pivot"),
    noNewKeyring: bool(ctx, "no-new-keyring"),
    preserveFds: num(ctx, "preserve-fds"),
  };
}

export async function run(ctx: CliContext): Promise<void> {
  if (ENGINE_FLAGS.some((f) => ctx.given.has(f))) {
    const { engineCreate } = await import("../engine/run.js");
    return engineCreate(ctx.global, { ...createOptions(ctx), detach: true, keep: false, args: ctx.args.slice(1) }, ctx);
  }
  const { createContainer } = await import("../container/create.js");
  await createContainer(ctx.global, createOptions(ctx));
}

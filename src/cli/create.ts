// `polis create [--bundle DIR] [--pid-file F] [--console-socket S] <id>`
import type { CreateOptions } from "../container/options.js";
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
  const { createContainer } = await import("../container/create.js");
  await createContainer(ctx.global, createOptions(ctx));
}

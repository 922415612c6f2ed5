// `polis kill [--all] <id> [signal]`
import { parseSignal } from "../linux/signals.js";
import { bool, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const signal = parseSignal(ctx.args[1]);
  const { killContainer } = await import("../container/kill.js");
  await killContainer(ctx.global, { id: ctx.args[0], signal, all: bool(ctx, "all") });
}

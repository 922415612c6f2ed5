// `polis state <id>`: the state document, indented like runc's and, like runc's, without a
// trailing newline.
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { containerState } = await import("../container/state.js");
  const state = await containerState(ctx.global, ctx.args[0]);
  ctx.io.stdout(JSON.stringify(state, null, 2));
}

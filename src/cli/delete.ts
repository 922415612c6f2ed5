// `polis delete [--force] <id>`
import { bool, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { deleteContainer } = await import("../container/delete.js");
  await deleteContainer(ctx.global, { id: ctx.args[0], force: bool(ctx, "force") });
}

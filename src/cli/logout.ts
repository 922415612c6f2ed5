// `polis logout REGISTRY`
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  await (await import("./login.js")).logout(ctx);
}

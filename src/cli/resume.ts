// `polis resume <id>`
import type { CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { resumeContainer } = await import("../container/resume.js");
  await resumeContainer(ctx.global, ctx.args[0]);
}

// `polis health [--scheduled] ID`: exit 0 healthy, 1 unhealthy, 125 when the check cannot run.
import { bool, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<number> {
  const scheduled = bool(ctx, "scheduled");
  const { runHealthCheck } = await import("../monitor/health.js");
  const outcome = await runHealthCheck(ctx.global, ctx.args[0], scheduled);
  if (!outcome) return 0;
  if (!scheduled) ctx.io.stdout(`${outcome.status}\n`);
  return outcome.result.exitCode === 0 ? 0 : 1;
}

// `polis monitor [--listen 127.0.0.1:9323] [--interval 10s] [--token T]`: runs until SIGINT/SIGTERM.
import { PolisError } from "../errors.js";
import { str, type CliContext } from "./context.js";
import { parseDuration } from "./events.js";

export async function run(ctx: CliContext): Promise<void> {
  const { loadConfig } = await import("../config/load.js");
  const { monitorConfig } = await import("../monitor/config.js");
  const config = monitorConfig(loadConfig(ctx.global, ctx.io.env as NodeJS.ProcessEnv));
  const rawInterval = str(ctx, "interval");
  let intervalMs = config.intervalMs ?? 10_000;
  if (rawInterval !== undefined) {
    const ms = parseDuration(rawInterval);
    if (ms === undefined || ms <= 0)
      throw new PolisError(`invalid value "${rawInterval}" for flag --interval: a duration above 0 (10s)`);
    intervalMs = ms;
  }
  const token = str(ctx, "token") ?? config.token ?? (ctx.io.env.POLIS_MONITOR_TOKEN || undefined);
  const { serveMonitor } = await import("../monitor/server.js");
  const stop = new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await serveMonitor(
    ctx.global,
    {
      listen: str(ctx, "listen") ?? config.listen ?? "127.0.0.1:9323",
      intervalMs,
      token,
      config,
      onListening: (url) => ctx.io.stdout(`listening on ${url}\n`),
    },
    stop,
  );
}

// `polis stats [--no-stream] [--format table|json] [--interval 2s] [ID...]`
import { isatty } from "node:tty";
import { PolisError } from "../errors.js";
import { bool, str, type CliContext } from "./context.js";
import { parseDuration } from "./events.js";

export async function run(ctx: CliContext): Promise<void> {
  const format = str(ctx, "format") ?? "table";
  if (format !== "table" && format !== "json") throw new PolisError(`invalid value "${format}" for flag --format: table or json`);
  const raw = str(ctx, "interval") ?? "2s";
  const intervalMs = parseDuration(raw);
  if (intervalMs === undefined || intervalMs <= 0)
    throw new PolisError(`invalid value "${raw}" for flag --interval: a duration above 0 (2s, 500ms)`);
  const noStream = bool(ctx, "no-stream");
  const { containerStats } = await import("../monitor/stats.js");
  const { statsJson, statsTable } = await import("../monitor/usage.js");
  // A live table on a terminal redraws in place (as docker and podman do); elsewhere rounds follow each other.
  const live = !noStream && format === "table" && isatty(1);
  await containerStats(ctx.global, { ids: ctx.args, intervalMs, noStream }, (rows) => {
    const text = format === "json" ? statsJson(rows) : statsTable(rows);
    ctx.io.stdout(live ? `\x1b[2J\x1b[H${text}` : text);
  });
}

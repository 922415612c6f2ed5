// `polis logs [-f] [--tail N] [--since TIME] [--until TIME] [-t] ID`
import { PolisError } from "../errors.js";
import { bool, str, type CliContext } from "./context.js";
import { parseDuration } from "./events.js";

export async function run(ctx: CliContext): Promise<void> {
  const tailRaw = str(ctx, "tail");
  let tail: number | undefined;
  if (tailRaw !== undefined && tailRaw !== "all") {
    tail = Number(tailRaw);
    if (!Number.isInteger(tail) || tail < 0)
      throw new PolisError(`invalid value "${tailRaw}" for flag --tail: a number of lines, or all`);
  }
  const { containerLogs } = await import("../monitor/logs.js");
  const { comparableTime } = await import("../monitor/logfile.js");
  const time = (flag: string) => {
    const raw = str(ctx, flag);
    if (raw === undefined) return undefined;
    const d = parseTime(raw);
    if (!d) throw new PolisError(`invalid value "${raw}" for flag --${flag}: an RFC 3339 time or a duration (10m)`);
    return comparableTime(d);
  };
  await containerLogs(
    ctx.global,
    {
      id: ctx.args[0],
      follow: bool(ctx, "follow"),
      tail,
      timestamps: bool(ctx, "timestamps"),
      since: time("since"),
      until: time("until"),
    },
    { stdout: ctx.io.stdout, stderr: ctx.io.stderr },
  );
}

/** An RFC 3339 time, a Unix time in seconds, or a duration before now ("10m", as docker). */
export function parseTime(raw: string, now = Date.now()): Date | undefined {
  const ms = parseDuration(raw);
  if (ms !== undefined) return new Date(now - ms);
  if (/^\d+(\.\d+)?$/.test(raw)) return new Date(Number(raw) * 1000);
  const t = Date.parse(raw);
  return Number.isNaN(t) ? undefined : new Date(t);
}

// `polis events [--stats] [--interval 5s] <id>`: one JSON object per line, as runc.
import { PolisError } from "../errors.js";
import { bool, str, type CliContext } from "./context.js";
import type { ContainerEvent } from "../container/options.js";

export async function run(ctx: CliContext): Promise<void> {
  if (bool(ctx, "all")) {
    const { run: engineEvents } = await import("./events-all.js");
    return engineEvents(ctx);
  }
  const raw = str(ctx, "interval") ?? "5s";
  const intervalMs = parseDuration(raw);
  if (intervalMs === undefined) throw new PolisError(`invalid value "${raw}" for flag -interval: parse error`);
  if (intervalMs <= 0) throw new PolisError("duration interval must be greater than 0");
  const { containerEvents } = await import("../container/events.js");
  await containerEvents(ctx.global, { id: ctx.args[0], stats: bool(ctx, "stats"), intervalMs }, (e: ContainerEvent) =>
    ctx.io.stdout(JSON.stringify(e) + "\n"),
  );
}

// "\u00b5s" is Go's micro sign and "s", escaped: node reads an ASCII bundle faster (the entry in
// scripts/build.mjs).
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "\u00b5s": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration ("1m30s", "500ms", "1.5h"), in milliseconds; undefined if malformed. */
export function parseDuration(s: string): number | undefined {
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)/y;
  let i = 0;
  let total = 0;
  const sign = s.startsWith("-") ? -1 : 1;
  if (s[0] === "-" || s[0] === "+") i = 1;
  if (i >= s.length) return undefined;
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
    i = re.lastIndex;
  }
  return sign * total;
}

// `polis events --all [--since T] [--until T] [--filter k=v]... [--format json] [--follow]`
import { PolisError } from "../errors.js";
import type { EngineEvent } from "../state/types.js";
import { bool, list, str, type CliContext } from "./context.js";
import { parseTime } from "./logs.js";

const FILTER_KEYS: Record<string, "type" | "action" | "id"> = {
  type: "type",
  action: "action",
  event: "action",
  id: "id",
  container: "id",
};

export async function run(ctx: CliContext): Promise<void> {
  const format = str(ctx, "format") ?? "text";
  if (format !== "text" && format !== "json") throw new PolisError(`invalid value "${format}" for flag --format: text or json`);
  const filter: Partial<Record<"type" | "action" | "id", string>> = {};
  for (const f of list(ctx, "filter")) {
    const eq = f.indexOf("=");
    const key = FILTER_KEYS[f.slice(0, eq)];
    if (eq < 0 || !key) throw new PolisError(`invalid value "${f}" for flag --filter: type=, action=, event=, id= or container=`);
    filter[key] = f.slice(eq + 1);
  }
  const { comparableTime } = await import("../monitor/logfile.js");
  const time = (flag: string) => {
    const raw = str(ctx, flag);
    if (raw === undefined) return undefined;
    const d = parseTime(raw);
    if (!d) throw new PolisError(`invalid value "${raw}" for flag --${flag}: an RFC 3339 time or a duration (10m)`);
    return comparableTime(d);
  };
  const { engineEvents } = await import("../monitor/events.js");
  const line = (e: EngineEvent): string => {
    if (format === "json") return JSON.stringify(e) + "\n";
    const attrs = Object.entries(e.attributes).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
    return `${e.time} ${e.type} ${e.action} ${e.id}${attrs.length ? ` (${attrs.join(", ")})` : ""}\n`;
  };
  const query = { ...filter, since: time("since"), until: time("until"), follow: bool(ctx, "follow") };
  await engineEvents(ctx.global, query, (batch) => ctx.io.stdout(batch.map(line).join("")));
}

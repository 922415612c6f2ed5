// `polis list [--format table|json] [--quiet]`: runc's exact output, because scripts parse it.
import { PolisError } from "../errors.js";
import type { ListEntry } from "../container/options.js";
import { OCI_VERSION } from "../spec/types.js";
import { bool, str, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const format = str(ctx, "format") ?? "table";
  const quiet = bool(ctx, "quiet");
  if (!quiet && format !== "table" && format !== "json") throw new PolisError("invalid format option");
  const { listContainers } = await import("../container/list.js");
  const entries = [...(await listContainers(ctx.global))].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  ctx.io.stdout(quiet ? quietList(entries) : format === "json" ? jsonList(entries) : tableList(entries));
}

export function quietList(entries: ListEntry[]): string {
  return entries.map((e) => `${e.id}\n`).join("");
}

/** runc's containerState objects, one line; `null` when empty, as Go encodes a nil slice. */
export function jsonList(entries: (ListEntry & { rootfs?: string })[]): string {
  if (entries.length === 0) return "null\n";
  const rows = entries.map((e) => {
    const row: Record<string, unknown> = {
      ociVersion: OCI_VERSION,
      id: e.id,
      pid: e.pid,
      status: e.status,
      bundle: e.bundle,
      rootfs: e.rootfs ?? `${e.bundle}/rootfs`,
      created: e.created,
      owner: e.owner,
    };
    if (e.annotations && Object.keys(e.annotations).length > 0) row.annotations = e.annotations;
    return row;
  });
  return JSON.stringify(rows) + "\n";
}

export function tableList(entries: ListEntry[]): string {
  const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]];
  for (const e of entries) rows.push([e.id, String(e.pid), e.status, e.bundle, e.created, e.owner]);
  return tabwriter(rows);
}

/**
 * Go's text/tabwriter as runc configures it (minwidth 12, padding 3, spaces): every column but
 * the last is as wide as its widest cell plus 3, and at least 12; the last is not padded.
 */
export function tabwriter(rows: string[][], minWidth = 12, padding = 3): string {
  const cols = Math.max(...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < cols - 1; c++) {
    widths[c] = Math.max(minWidth, ...rows.map((r) => (r[c] ?? "").length + padding));
  }
  return rows.map((r) => r.map((cell, c) => (c < r.length - 1 ? cell.padEnd(widths[c]) : cell)).join("") + "\n").join("");
}

// The Prometheus text format (version 0.0.4) for the per-container families of `polis monitor`,
// written straight from a snapshot: the same lines prom-client prints, without its per-series
// objects (label maps, hashes, sorted label lists), which made a scrape of 30 containers cost
// ~2 MiB of garbage and the long-running monitor tens of MiB of heap (README, Performance).

/** One family: its HELP and TYPE lines, then `series(out)` appends its sample lines. */
export interface TextFamily {
  name: string;
  help: string;
  type: "counter" | "gauge";
  series(out: string[]): void;
}

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function escapeLabel(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"') : v;
}

const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** A sample value as prom-client writes it (NaN, +Inf, -Inf, else JavaScript's shortest form). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v < 0 ? "-Inf" : "+Inf";
  return `${v}`;
}

/**
 * Each family as one block of text, its lines and then an empty line (prom-client's layout): the
 * body of /metrics is these blocks and then prom-client's text. Written block by block, never
 * joined into one string: the text of 30 containers (~150 KB) would be a large object on V8's heap,
 * and the HELP of polis_events_total ("…") would make all of it two-byte (~300 KB) once joined
 * with prom-client's part; each scrape then allocated half a MiB in three copies of its text.
 */
export function renderFamilies(families: TextFamily[]): string[] {
  const blocks: string[] = [];
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    f.series(lines);
    lines.push("", ""); // the block's last newline and the empty line after it
    blocks.push(lines.join("\n"));
    lines.length = 0;
  }
  return blocks;
}

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

/** The families, each a block, blocks separated by an empty line (prom-client's layout). */
export function renderFamilies(families: TextFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (out.length) out.push("");
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    f.series(out);
  }
  return out.join("\n");
}

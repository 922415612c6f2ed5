// Turn raw samples into the JSON result and the Markdown tables.
import { pairedRatios, summarize } from "./stats.mjs";

const COLUMNS = ["polis", "runc", "crun"];
const BASELINES = ["runc", "crun"];
/** Rows printed for polis: the executable as shipped, with NODE_EXTRA_CA_CERTS, on its Node path. */
const VARIANTS = ["polis", "polis-ca", "polis-node"];
const VARIANT_SUFFIX = { "polis-ca": ", NODE_EXTRA_CA_CERTS set", "polis-node": ", Node path (POLIS_NATIVE=0)" };

function ratioSummary(a, b) {
  const per = pairedRatios(a, b);
  return { perIteration: per, ...summarize(per) };
}

/** Median of each phase over the iterations that reported it. */
function phaseSummary(phaseSamples) {
  const byPhase = {};
  for (const p of phaseSamples) {
    if (!p) continue;
    for (const [k, v] of Object.entries(p)) (byPhase[k] ??= []).push(v);
  }
  return Object.fromEntries(Object.entries(byPhase).map(([k, vs]) => [k, summarize(vs)]));
}

/** One case's results → JSON entry with summaries, peak RSS and paired ratios for polis and polis-ca. */
export function summarizeCase(c, label, results) {
  const runtimes = {};
  for (const [name, r] of Object.entries(results)) {
    runtimes[name] = {
      ms: { samples: r.ms, ...summarize(r.ms) },
      rssKiB: { samples: r.rssKiB, ...summarize(r.rssKiB) },
      error: r.error,
      failures: r.failures,
    };
    const phases = phaseSummary(r.phases);
    if (Object.keys(phases).length) runtimes[name].phases = phases;
  }
  const ratios = {};
  for (const p of VARIANTS) {
    if (!results[p]) continue;
    for (const b of BASELINES) {
      if (!results[b]) continue;
      ratios[`${p}/${b}`] = {
        ms: ratioSummary(results[p].ms, results[b].ms),
        rssKiB: ratioSummary(results[p].rssKiB, results[b].rssKiB),
      };
    }
  }
  return { key: c.key, label, unit: "ms", runtimes, ratios };
}

export function summarizeThroughput(key, label, results) {
  const runtimes = {};
  for (const [name, r] of Object.entries(results)) {
    runtimes[name] = {
      perRound: r.perMin,
      overallPerMin: r.overallPerMin,
      cycles: r.cycles,
      ...summarize(r.perMin),
      error: r.error,
    };
  }
  const ratios = {};
  if (results.polis)
    for (const b of BASELINES) if (results[b]) ratios[`polis/${b}`] = ratioSummary(results.polis.perMin, results[b].perMin);
  return { key, label, unit: "containers/min", runtimes, ratios };
}

const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : v.toFixed(digits));
const fmtRatio = (r) => (r && r.median !== null ? `${r.median.toFixed(2)}×` : "–");

function cell(rt, value) {
  if (!rt) return "–";
  if (rt.error && value === null) return "fail";
  return value;
}

function tableRows(entry, variant, pick, digits) {
  const p = entry.runtimes[variant];
  const row = [`${entry.label}${VARIANT_SUFFIX[variant] ?? ""}`];
  for (const col of COLUMNS) {
    const rt = col === "polis" ? p : variant !== "polis" ? null : entry.runtimes[col];
    const v = rt ? pick(rt) : null;
    row.push(cell(rt, v === null ? null : fmt(v, digits)) ?? "–");
  }
  for (const b of BASELINES) row.push(fmtRatio(pick(entry.ratios[`${variant}/${b}`] ?? {}, true)));
  return row;
}

/** leftCols: how many leading (text) columns are left-aligned; the numeric rest are right-aligned. */
function mdTable(header, rows, leftCols = 1) {
  const lines = [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i < leftCols ? "---" : "---:")).join("|")}|`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}

/** The three Markdown tables: times (+ throughput), peak RSS, polis phases. */
export function markdown(result) {
  const out = [];
  const header = ["command", "polis", "runc", "crun", "polis/runc", "polis/crun"];
  const timeRows = [];
  const rssRows = [];
  const pickMs = (x, isRatio) => (isRatio ? x.ms : (x.ms?.median ?? null));
  const pickRss = (x, isRatio) => (isRatio ? x.rssKiB : x.rssKiB?.median != null ? x.rssKiB.median / 1024 : null);
  for (const entry of result.cases) {
    for (const variant of VARIANTS) {
      if (variant !== "polis" && !entry.runtimes[variant]) continue;
      if (variant === "polis" && !entry.runtimes.polis && !Object.keys(entry.runtimes).length) continue;
      timeRows.push(tableRows(entry, variant, pickMs, 1));
      if (variant !== "polis-ca") rssRows.push(tableRows(entry, variant, pickRss, 1));
    }
  }
  for (const t of result.throughput) {
    const row = [`${t.label} (containers/min, higher is better)`];
    for (const col of COLUMNS) {
      const rt = t.runtimes[col];
      row.push(rt ? cell(rt, rt.overallPerMin === null ? null : fmt(rt.overallPerMin, 0)) : "–");
    }
    for (const b of BASELINES) row.push(fmtRatio(t.ratios[`polis/${b}`]));
    timeRows.push(row);
  }
  const m = result.meta;
  out.push(
    `### Wall time, median of ${m.options.runs} runs (ms; ratio = median of per-iteration polis/X, < 1 means polis is faster)`,
  );
  out.push("");
  out.push(mdTable(header, timeRows));
  if (m.options.rss) {
    out.push("");
    out.push(`### Peak RSS of the runtime command (MiB, median of ${m.options.rssRuns} separate runs under /usr/bin/time -f %M)`);
    out.push("");
    out.push(mdTable(header, rssRows));
  }
  const phaseRows = [];
  for (const entry of result.cases) {
    for (const variant of VARIANTS) {
      const phases = entry.runtimes[variant]?.phases;
      if (!phases) continue;
      const total = entry.runtimes[variant].ms.median;
      for (const [name, s] of Object.entries(phases)) {
        phaseRows.push([
          `${entry.label}${VARIANT_SUFFIX[variant] ?? ""}`,
          name,
          fmt(s.median, 2),
          total ? `${((s.median / total) * 100).toFixed(0)}%` : "–",
          String(s.n),
        ]);
      }
    }
  }
  if (m.options.phases) {
    out.push("");
    out.push("### polis phases (POLIS_TIMING=1; median ms per phase)");
    out.push("");
    out.push(
      phaseRows.length
        ? mdTable(["command", "phase", "median ms", "share of wall", "n"], phaseRows, 2)
        : "polis printed no `phase=<name> ms=<float>` lines (POLIS_TIMING not supported yet, or polis not run).",
    );
  }
  out.push("");
  out.push(footer(result));
  return out.join("\n");
}

function footer(result) {
  const m = result.meta;
  const lines = [
    `${m.date} · kernel ${m.host.kernel} · ${m.host.nproc} CPUs · ${m.host.cgroups} cgroups (private mount namespace) · node ${m.node}`,
    `loadavg before: ${m.host.loadavgBefore} · after: ${m.host.loadavgAfter}`,
  ];
  for (const [name, v] of Object.entries(m.versions)) lines.push(`${name}: ${v}`);
  if (m.calibration) {
    const c = m.calibration;
    lines.push(
      `floors: spawning /bin/true takes ${fmt(c.spawnTrueMs)} ms · node -e 0: ${fmt(c.nodeStartMs)} ms` +
        (c.nodeStartWithCaMs != null ? ` (${fmt(c.nodeStartWithCaMs)} ms with NODE_EXTRA_CA_CERTS)` : ""),
    );
  }
  for (const s of m.skipped) lines.push(`skipped ${s.name}: ${s.reason}`);
  for (const e of errorsOf(result)) lines.push(`failed: ${e}`);
  if (m.leftovers?.length) lines.push(`LEFT BEHIND: ${m.leftovers.join(", ")}`);
  return lines.map((l) => `- ${l}`).join("\n");
}

function errorsOf(result) {
  const errs = [];
  for (const e of [...result.cases, ...result.throughput]) {
    for (const [name, r] of Object.entries(e.runtimes)) {
      if (!r.error) continue;
      const times = r.failures > 1 ? ` (${r.failures} failures)` : r.failures === 1 ? " (1 failure)" : "";
      errs.push(`${e.label} / ${name}${times}: ${r.error}`);
    }
  }
  return errs;
}

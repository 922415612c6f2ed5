// Line and branch coverage of src/ across unit and integration tests together, for `npm test`.
//
// Two sources, merged into one istanbul map:
// - vitest's own v8 coverage (@vitest/coverage-v8): src/ modules the tests import directly;
// - every polis process the tests spawn (integration tests run dist/polis.mjs, as clients do):
//   NODE_V8_COVERAGE makes each node process write raw V8 coverage on exit. Only the entries for
//   the bundle dist/polis.cjs are kept, merged across processes (@bcoe/v8-coverage), and mapped
//   back to src/ through the bundle's source map (v8-to-istanbul). dist/polis.mjs compiles the
//   bundle inside node's CommonJS wrapper (vm.Script), so offsets are shifted by the wrapper.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import Module from "node:module";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { mergeProcessCovs } from "@bcoe/v8-coverage";
import libCoverage from "istanbul-lib-coverage";
import libReport from "istanbul-lib-report";
import reports from "istanbul-reports";
import v8toIstanbul from "v8-to-istanbul";

/** Raw V8 coverage files in `dir` → one merged ScriptCov for `bundle` (or undefined). */
export function mergeBundleCoverage(dir, bundle) {
  const url = pathToFileURL(bundle).href;
  let merged;
  let batch = [];
  const flush = () => {
    if (batch.length === 0) return;
    merged = mergeProcessCovs(merged ? [merged, ...batch] : batch);
    batch = [];
  };
  let files = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  } catch {
    return undefined;
  }
  for (const f of files) {
    const path = join(dir, f);
    try {
      const { result } = JSON.parse(readFileSync(path, "utf8"));
      const mine = result.filter((s) => s.url === url || s.url === bundle);
      for (const s of mine) s.url = url;
      if (mine.length) batch.push({ result: mine });
    } catch {
      // a process killed while writing its file: nothing to count
    }
    rmSync(path, { force: true });
    if (batch.length >= 50) flush();
  }
  flush();
  return merged?.result.find((s) => s.url === url);
}

/** The bundle's coverage as an istanbul map of src/ files. */
async function bundleToIstanbul(root, script) {
  const bundle = join(root, "dist", "polis.cjs");
  const conv = v8toIstanbul(bundle, Module.wrapper[0].length);
  await conv.load();
  conv.applyCoverage(script.functions);
  const data = conv.toIstanbul();
  const out = {};
  for (const [file, cov] of Object.entries(data)) if (relative(root, file).startsWith("src/")) out[file] = cov;
  return out;
}

/**
 * Merge vitest's coverage-final.json with the spawned processes' coverage, print a per-file table
 * and the totals, and return the totals ({lines, branches} in percent) and the weakest files.
 */
export async function reportCoverage({ root, v8Dir, vitestJson }) {
  const map = libCoverage.createCoverageMap({});
  try {
    map.merge(JSON.parse(readFileSync(vitestJson, "utf8")));
  } catch {
    // no vitest coverage (the run failed early): report the processes alone
  }
  const script = mergeBundleCoverage(v8Dir, join(root, "dist", "polis.cjs"));
  if (script) map.merge(await bundleToIstanbul(root, script));
  map.filter((f) => relative(root, f).startsWith("src/") && !f.includes("/generated/"));

  const context = libReport.createContext({ dir: join(root, "coverage"), coverageMap: map, defaultSummarizer: "flat" });
  reports.create("text", { skipFull: true, maxCols: 130 }).execute(context);
  const total = map.getCoverageSummary();
  const files = map.files().map((f) => ({ file: relative(root, f), lines: map.fileCoverageFor(f).toSummary().lines.pct }));
  return {
    lines: total.lines.pct,
    branches: total.branches.pct,
    below60: files.filter((f) => f.lines < 60).map((f) => `${f.file} ${f.lines}%`),
  };
}

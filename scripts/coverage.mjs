// Line and branch coverage of src/ across unit and integration tests together, for `npm test`.
//
// Two sources, merged into one istanbul map:
// - vitest's own v8 coverage (@vitest/coverage-v8): src/ modules the tests import directly;
// - every polis process the tests spawn (through the launcher, which execs node with dist/polis-entry.cjs):
//   NODE_V8_COVERAGE makes each node process write raw V8 coverage on exit. Only the entries for
//   the bundles (dist/polis.cjs, and dist/polis-<command>.cjs that pull and monitor run) are kept,
//   merged across processes (@bcoe/v8-coverage), and mapped back to src/ through each bundle's
//   source map (v8-to-istanbul). A bundle is node's CommonJS wrapper function itself
//   (scripts/build.mjs), compiled as it is by dist/polis-entry.cjs (vm.Script).
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { mergeProcessCovs } from "@bcoe/v8-coverage";
import libCoverage from "istanbul-lib-coverage";
import libReport from "istanbul-lib-report";
import reports from "istanbul-reports";
import v8toIstanbul from "v8-to-istanbul";

/**
 * Raw V8 coverage files in `dir` → one merged ScriptCov per bundle of `bundles` that ran (a Map
 * from the bundle's path), and how many processes wrote coverage.
 */
export function mergeBundleCoverage(dir, bundles) {
  const urls = new Map(bundles.map((b) => [pathToFileURL(b).href, b]));
  const merged = new Map();
  const batches = new Map(bundles.map((b) => [b, []]));
  const flush = (bundle) => {
    const batch = batches.get(bundle);
    if (batch.length === 0) return;
    const before = merged.get(bundle);
    merged.set(bundle, mergeProcessCovs(before ? [before, ...batch] : batch));
    batches.set(bundle, []);
  };
  let files = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  } catch {
    return { scripts: new Map(), processes: 0 };
  }
  for (const f of files) {
    const path = join(dir, f);
    try {
      const { result } = JSON.parse(readFileSync(path, "utf8"));
      for (const [url, bundle] of urls) {
        const mine = result.filter((s) => s.url === url || s.url === bundle);
        for (const s of mine) s.url = url;
        if (mine.length) batches.get(bundle).push({ result: mine });
        if (batches.get(bundle).length >= 50) flush(bundle);
      }
    } catch {
      // a process killed while writing its file: nothing to count
    }
    rmSync(path, { force: true });
  }
  const scripts = new Map();
  for (const [url, bundle] of urls) {
    flush(bundle);
    const script = merged.get(bundle)?.result.find((s) => s.url === url);
    if (script) scripts.set(bundle, script);
  }
  return { scripts, processes: files.length };
}

/** A bundle's coverage as an istanbul map of src/ files. */
async function bundleToIstanbul(root, bundle, script) {
  const conv = v8toIstanbul(bundle, 0); // the file is the wrapper function itself (scripts/build.mjs)
  await conv.load();
  conv.applyCoverage(script.functions);
  const data = conv.toIstanbul();
  const out = {};
  for (const [file, cov] of Object.entries(data)) if (relative(root, file).startsWith("src/")) out[file] = cov;
  return out;
}

/**
 * The bundles' coverage together: polis.cjs and the commands' own (dist/polis-<command>.cjs,
 * which `pull` and `monitor` run), each mapped through its own source map; a src/ file in
 * several counts the hits of all.
 */
async function bundlesToIstanbul(root, v8Dir) {
  const dist = join(root, "dist");
  const bundles = readdirSync(dist)
    .filter((f) => /^polis(-[\w-]+)?\.cjs$/.test(f) && f !== "polis-entry.cjs")
    .map((f) => join(dist, f));
  const { scripts, processes } = mergeBundleCoverage(v8Dir, bundles);
  const map = libCoverage.createCoverageMap({});
  for (const [bundle, script] of scripts) map.merge(await bundleToIstanbul(root, bundle, script));
  return { data: map.toJSON(), processes };
}

/**
 * Merge vitest's coverage of one source file (`a`) with the bundle's (`b`). Both come from
 * v8-to-istanbul, but through different source maps (vite's transform, esbuild's bundle), so
 * their maps do not match exactly, and istanbul's own merge (by identical location; "all: true"
 * placeholders replaced wholesale) miscounts. vitest's side decides what counts (it leaves out
 * comments, blank lines and types); the bundle's adds hits:
 * - lines: one statement per line vitest counts, covered if either side ran it;
 * - branches: vitest's, keyed by where they start, plus the bundle's on lines vitest has none.
 */
function mergeFile(a, b) {
  const out = { path: a.path, statementMap: {}, s: {}, fnMap: {}, f: {}, branchMap: {}, b: {} };
  const aLines = libCoverage.createFileCoverage(a).getLineCoverage();
  const bLines = b ? libCoverage.createFileCoverage(b).getLineCoverage() : {};
  let i = 0;
  for (const [line, hits] of Object.entries(aLines)) {
    out.statementMap[i] = { start: { line: Number(line), column: 0 }, end: { line: Number(line), column: 1e6 } };
    out.s[i++] = Math.max(hits, bLines[line] ?? 0);
  }
  i = 0;
  const fns = new Map();
  for (const fc of b ? [a, b] : [a]) {
    for (const [k, fn] of Object.entries(fc.fnMap)) {
      const key = `${fn.name}@${fn.decl?.start.line ?? fn.loc.start.line}`;
      fns.set(key, { fn, hits: (fns.get(key)?.hits ?? 0) + fc.f[k] });
    }
  }
  for (const { fn, hits } of fns.values()) {
    out.fnMap[i] = fn;
    out.f[i++] = hits;
  }
  const start = (br) => (br.locations?.[0] ?? br.loc).start;
  const branches = new Map();
  for (const [k, br] of Object.entries(a.branchMap))
    branches.set(`${start(br).line}:${start(br).column}`, { br, hits: [...a.b[k]] });
  const aBranchLines = new Set([...branches.values()].map(({ br }) => start(br).line));
  for (const [k, br] of Object.entries(b?.branchMap ?? {})) {
    const key = `${start(br).line}:${start(br).column}`;
    const mine = branches.get(key);
    if (mine && mine.hits.length === b.b[k].length) mine.hits = mine.hits.map((h, j) => h + b.b[k][j]);
    else if (!aBranchLines.has(start(br).line) && aLines[start(br).line] !== undefined)
      branches.set(key, { br, hits: [...b.b[k]] });
  }
  i = 0;
  for (const { br, hits } of branches.values()) {
    out.branchMap[i] = br;
    out.b[i++] = hits;
  }
  return out;
}

/**
 * Merge vitest's coverage-final.json with the spawned processes' coverage, print a per-file table
 * and the totals, and return the totals ({lines, branches} in percent) and the weakest files.
 */
export async function reportCoverage({ root, v8Dir, vitestJson }) {
  let vitest = {};
  try {
    vitest = JSON.parse(readFileSync(vitestJson, "utf8"));
  } catch {
    // no vitest coverage (the run failed early): report the processes alone
  }
  const { data: bundle, processes } = await bundlesToIstanbul(root, v8Dir);
  const merged = {};
  for (const file of new Set([...Object.keys(vitest), ...Object.keys(bundle)])) {
    if (!relative(root, file).startsWith("src/") || file.includes("/generated/")) continue;
    const [a, b] = [vitest[file], bundle[file]];
    merged[file] = a ? mergeFile(a, b) : mergeFile(b);
  }
  const map = libCoverage.createCoverageMap(merged);

  const context = libReport.createContext({ dir: join(root, "coverage"), coverageMap: map, defaultSummarizer: "flat" });
  reports.create("text", { skipFull: true, maxCols: 130 }).execute(context);
  const total = map.getCoverageSummary();
  const files = map.files().map((f) => ({ file: relative(root, f), lines: map.fileCoverageFor(f).toSummary().lines.pct }));
  return {
    processes,
    lines: total.lines.pct,
    branches: total.branches.pct,
    below60: files.filter((f) => f.lines < 60).map((f) => `${f.file} ${f.lines}%`),
  };
}

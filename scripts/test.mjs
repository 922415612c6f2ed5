// `npm test`: build, install the Debian packages the tests need (root + apt-get, once, up front),
// lint, run every vitest suite (unit and integration), and end with the plain "N passed, N failed" line
// that CI reads, preceded by what was skipped and why.
//
// Every run gets an id (POLIS_TEST_RUN) and a directory of its own; test/global-setup.ts checks
// at the end that nothing this run made (cgroups, mounts, processes, temp dirs) is left behind.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// Coverage of src/ (unit + integration) is measured unless POLIS_TEST_COVERAGE=0. The bundle is
// then built unminified so that V8's ranges map back to src/ line by line (scripts/coverage.mjs).
const coverage = process.env.POLIS_TEST_COVERAGE !== "0";
const build = (minify) =>
  execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, POLIS_BUILD_MINIFY: minify ? "1" : "0" },
  });
build(!coverage);

installMissingPackages();

// Lint and format check first (biome check, see biome.json): a failure is reported but the suites still run.
const lint = spawnSync(join(root, "node_modules", ".bin", "biome"), ["check"], { cwd: root, stdio: "inherit" });
const lintFailed = lint.status !== 0;

const run = `r${randomBytes(4).toString("hex")}`;
const runDir = join("/tmp", `polis-${run}`);
mkdirSync(runDir, { recursive: true });
const report = join(runDir, "report.json");
const skipLog = join(runDir, "skipped.txt");
const env = { ...process.env, POLIS_TEST_RUN: run, POLIS_TEST_RUN_DIR: runDir, POLIS_TEST_SKIP_LOG: skipLog };
const v8Dir = join(runDir, "v8");
const covDir = join(runDir, "vitest-coverage");
const coverageArgs = [];
if (coverage) {
  env.NODE_V8_COVERAGE = v8Dir; // every polis process the tests spawn writes its coverage here
  coverageArgs.push(
    "--coverage.enabled=true",
    "--coverage.provider=v8",
    "--coverage.include=src/**",
    "--coverage.exclude=src/spec/generated/**",
    "--coverage.reporter=json",
    "--coverage.reportOnFailure=true", // the numbers are wanted most when something broke
    `--coverage.reportsDirectory=${covDir}`,
  );
}

const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
const res = spawnSync(
  process.execPath,
  [
    vitest,
    "run",
    "--config",
    "test/vitest.config.ts",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
    ...coverageArgs,
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: "inherit", env },
);

let summary = "";
let failedTests = [];
try {
  const r = JSON.parse(readFileSync(report, "utf8"));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`;
  if (r.numTotalTests === 0) summary = "0 passed, 0 failed";
  failedTests = failuresOf(r);
} catch {
  summary = "0 passed, 1 failed";
}
if (existsSync(skipLog)) {
  const lines = [...new Set(readFileSync(skipLog, "utf8").split("\n").filter(Boolean))];
  console.log(`\nskipped on this host (${lines.length}):\n  ${lines.join("\n  ")}`);
}
let coverageLine = "";
let coverageFailed = false;
if (coverage) {
  try {
    const { reportCoverage } = await import("./coverage.mjs");
    const c = await reportCoverage({ root, v8Dir, vitestJson: join(covDir, "coverage-final.json") });
    coverageLine = `coverage of src/ (unit + integration, ${c.processes} node processes): ${c.lines}% lines, ${c.branches}% branches`;
    if (c.below60.length) coverageLine += `; under 60% lines: ${c.below60.join(", ")}`;
    // The floor (issue 9): a full run under 85% of lines or 80% of branches fails; files under
    // 60% are listed (not yet fatal: a newly merged room may still be growing its tests). A partial
    // run (`npm test -- FILE`) cannot reach it; POLIS_COVERAGE_FLOOR=0 only reports.
    const full = process.argv.length <= 2 && process.env.POLIS_COVERAGE_FLOOR !== "0";
    coverageFailed = full && (c.lines < 85 || c.branches < 80);
    if (coverageFailed) coverageLine += " — under the floor of 85% lines, 80% branches";
  } catch (e) {
    coverageLine = `coverage: not measured (${e.message})`; // a report problem never fails the tests
  }
  build(true); // leave the usual minified dist/ behind
}
const leaksFile = join(runDir, "leaks.txt");
const leaks = existsSync(leaksFile) ? readFileSync(leaksFile, "utf8").trim() : "";
rmSync(runDir, { recursive: true, force: true });
if (leaks) console.log(`\nleft behind by the tests (removed now):\n  ${leaks.split("\n").join("\n  ")}`);
if (coverageLine) console.log(`\n${coverageLine}`);
if (lintFailed) console.log("\nlint: failed (npm run lint)");
// The failures again, last: CI keeps only the tail of the output, where the reporter's own
// account of them (above the coverage table) is cut off.
if (failedTests.length) console.log(`\nfailed:\n  ${failedTests.join("\n  ")}`);
console.log(`\ntests: ${summary}`);
// POLIS_TEST_LEAKS=warn lists leaks without failing (while a newly merged suite is fixed).
const leaksFail = leaks !== "" && process.env.POLIS_TEST_LEAKS !== "warn";
process.exit(lintFailed || leaksFail || coverageFailed ? 1 : (res.status ?? 1));

/**
 * The packages of scripts/ci-packages.txt that are missing, installed with apt-get when we are
 * root and it exists (as `npm run demo` installs busybox-static). Otherwise the suites that need
 * them skip with the reason (and fail in CI, see test/helpers/host.ts).
 */
function installMissingPackages() {
  const wanted = readFileSync(join(root, "scripts", "ci-packages.txt"), "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);
  const installed = (p) => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", p], { encoding: "utf8" });
    return r.status === 0 && r.stdout.endsWith(" installed");
  };
  const missing = wanted.filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status !== 0) {
    console.warn(`test: missing Debian packages ${missing.join(" ")} (not root or no apt-get): their suites will skip`);
    return;
  }
  console.log(`test: installing ${missing.join(" ")}`);
  const aptEnv = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  let r = spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], {
    stdio: "inherit",
    env: aptEnv,
  });
  if (r.status !== 0) {
    // A fresh machine may have no package lists yet.
    spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env: aptEnv });
    r = spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { stdio: "inherit", env: aptEnv });
  }
  if (r.status !== 0) console.warn(`test: apt-get could not install ${missing.join(" ")}: their suites will skip`);
}

/** "file > suite > test: first line of the error" for each failed test (and each file that failed to load). */
function failuresOf(report) {
  const out = [];
  for (const file of report.testResults ?? []) {
    const rel = file.name?.startsWith(root) ? file.name.slice(root.length + 1) : file.name;
    const failed = (file.assertionResults ?? []).filter((t) => t.status === "failed");
    for (const t of failed) {
      out.push(`${rel} > ${[...(t.ancestorTitles ?? []), t.title].join(" > ")}: ${firstLine(t.failureMessages?.[0])}`);
    }
    if (failed.length === 0 && file.status === "failed") out.push(`${rel}: ${firstLine(file.message)}`);
  }
  return out;
}

function firstLine(text) {
  return String(text ?? "")
    .split("\n")[0]
    .slice(0, 300);
}

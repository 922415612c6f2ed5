// Build polis: precompile the JSON schemas, then bundle the TypeScript into dist/ with esbuild.
//
// Every polis call is a fresh node process, so the layout is chosen for start-up time (measured
// on this VM; see the README's Performance section):
//
//   dist/polis-entry.cjs  node's entry: a few lines that load polis.cjs with V8's code cache
//   dist/polis.mjs        the same entry as an ES module, for callers that run it directly
//   dist/polis.cjs        all of polis in one CommonJS file, better-sqlite3's JavaScript included
//   dist/polis.cjs.*.cache V8 code caches for polis.cjs, made here by warm-up runs
//   dist/polis-pull.cjs   pull alone, and dist/polis-monitor.cjs the monitor alone: the same
//                         entry with one command module (less for these two to hold); pull's
//                         with a code cache of its own (polis-pull.cjs.cache)
//   dist/state-template.db an empty state database a fresh root starts from (src/state/store.ts)
//   dist/lib/*.cjs        big leaves loaded only when needed (yargs for --help)
//   dist/polis            the native launcher (native/launcher/, built by node-gyp), copied here:
//                         the package's bin; it runs the hot commands itself and execs node with
//                         polis-entry.cjs beside it for everything else
//
// Why not ES modules with one chunk per command: node 20 loads each ES module asynchronously
// (resolve, realpath, read and link each take a trip through the event loop), ~0.7 ms per file;
// `state` loaded 12 of them. One CommonJS file is read and compiled synchronously, and with the
// code cache most of its functions are not even compiled. Importing node's built-ins through
// ESM also builds a facade of every export (node:fs then loads the streams), which `require`
// does not. For the same reason node's entry is a .cjs: an .mjs entry starts node's ES module
// loader (~1.5 MiB, ~4 ms). package.json's bin is the launcher; dist/polis.mjs stays for scripts.
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startWarmRegistry, WARM_REPOSITORY, WARM_TAG } from "./warm-registry.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// `--outdir DIR` builds elsewhere (benchmarking one build while the tree changes); default dist/.
const outArg = process.argv.indexOf("--outdir");
const outdir = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(root, "dist");
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });

if (existsSync(join(root, "scripts", "compile-schemas.mjs"))) {
  run(process.execPath, [join(root, "scripts", "compile-schemas.mjs")]);
}

let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "HEAD"], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  }).trim();
} catch {
  // not a git checkout (a packed tarball): the version still prints
}

// Packages bundled into their own file under dist/lib/, required only when used. The bundle
// refers to them as `require("./lib/<name>.cjs")`. `pick` selects the export polis imports;
// `contents`, when given, is the leaf's whole source instead.
const LEAVES = {
  yargs: { pick: ".default" }, // --help only: 250 KB that `state` must never parse
  // `polis monitor` only, and only the classes it uses: prom-client's index also loads its
  // Pushgateway (http, https and with it TLS and crypto, zlib) and cluster support, ~2 MiB of
  // the monitor's RSS. Not its default metrics either (src/monitor/process-metrics.ts).
  "prom-client": {
    contents: `module.exports = {
      Registry: require("prom-client/lib/registry"),
      Counter: require("prom-client/lib/counter"),
      Gauge: require("prom-client/lib/gauge"),
      Histogram: require("prom-client/lib/histogram"),
    };`,
  },
  yaml: { pick: "" }, // polis's config file, read only by the standalone commands: ~200 KB
};

/** Resolve each leaf import to a stub that requires its separate file at first use. */
const leavesPlugin = {
  name: "polis-leaves",
  setup(build) {
    const filter = new RegExp(`^(${Object.keys(LEAVES).join("|")})$`);
    build.onResolve({ filter }, (args) => ({ path: args.path, namespace: "polis-leaf" }));
    build.onLoad({ filter: /.*/, namespace: "polis-leaf" }, (args) => ({
      contents: `module.exports = require("./lib/${args.path}.cjs");`,
      loader: "js",
    }));
  },
};

/**
 * yargs lays out --help with cliui and wrap-ansi, which measure every string with string-width.
 * Its general path segments graphemes with an Intl.Segmenter, created when the module loads:
 * ICU's break-iterator data, ~7 MiB of `--help`'s peak RSS, and its loop got optimised by
 * TurboFan. Help texts are printable ASCII, whose width is their length: this stand-in answers
 * those itself and loads the real string-width (bundled as before) only for anything else.
 */
const asciiWidthPlugin = {
  name: "polis-ascii-width",
  setup(build) {
    build.onResolve({ filter: /^string-width$/ }, async (args) => {
      if (args.pluginData?.real) return undefined;
      const real = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: { real: true } });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: relative(root, real.path), namespace: "polis-ascii-width" }; // no absolute path in dist
    });
    build.onLoad({ filter: /.*/, namespace: "polis-ascii-width" }, (args) => ({
      contents: `const ascii = /^[\\x20-\\x7e]*$/;
export default function stringWidth(string, options) {
  if (typeof string === "string" && ascii.test(string)) return string.length;
  return require(${JSON.stringify(join(root, args.path))}).default(string, options);
}`,
      loader: "js",
      resolveDir: dirname(join(root, args.path)),
    }));
  },
};

/** The commands with a bundle of their own, dist/polis-<command>.cjs (see below). */
const COMMAND_BUNDLES = ["pull", "monitor"];

/** main.ts's dynamic imports that `command`'s bundle leaves out (src/main.ts COMMAND_MODULES, warmUp). */
function oneCommandPlugin(command) {
  const kept = new Set(["./cli/argv.js", "./cli/context.js", "./cli/help.js", "./cli/version.js", `./cli/${command}.js`]);
  return {
    name: "polis-one-command",
    setup(build) {
      build.onResolve({ filter: /^\.\/(cli|resources|spec|network)\/[\w-]+\.js$/ }, (args) => {
        if (args.importer !== join(root, "src", "main.ts") || kept.has(args.path)) return undefined;
        return { path: args.path, namespace: "polis-elsewhere" };
      });
      build.onLoad({ filter: /.*/, namespace: "polis-elsewhere" }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`internal error: ${args.path} is in polis.cjs, not polis-${command}.cjs`)});`,
        loader: "js",
      }));
    },
  };
}

const esbuild = await import("esbuild");
rmSync(outdir, { recursive: true, force: true });
mkdirSync(join(outdir, "lib"), { recursive: true });

const common = {
  absWorkingDir: root,
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  // Less to read and parse at every start; identifiers are kept, so --debug stacks still read.
  // POLIS_BUILD_MINIFY=0 (npm test with coverage): one source line per bundle line, so V8's
  // coverage ranges map back to src/ exactly; behaviour is the same either way.
  minifyWhitespace: process.env.POLIS_BUILD_MINIFY !== "0",
  minifySyntax: process.env.POLIS_BUILD_MINIFY !== "0",
  // A linked map (polis.cjs.map, never read at run time): test coverage maps the bundle back to src/.
  sourcemap: "linked",
  sourcesContent: false,
  logLevel: "warning",
  // The sources are ES modules: import.meta.url becomes the bundle file's own URL.
  define: { __POLIS_COMMIT__: JSON.stringify(commit), "import.meta.url": "__polis_import_meta_url" },
  banner: { js: `const __polis_import_meta_url = require("node:url").pathToFileURL(__filename).href;` },
};

await esbuild.build({
  ...common,
  entryPoints: ["src/main.ts"],
  outfile: join(outdir, "polis.cjs"),
  // The file is node's CommonJS wrapper function itself, so that the entry compiles it as it is
  // read: wrapping it there made a second 650 KB copy of the source (~0.9 MiB of peak RSS).
  banner: { js: `(function (exports, require, module, __filename, __dirname) {${common.banner.js}` },
  footer: { js: "})" },
  // better-sqlite3's JavaScript is bundled (its dozen CommonJS files cost ~3 ms to resolve and
  // load); its .node addon is loaded by src/state/store.ts, so `bindings` is never needed. koffi
  // is a native addon; pino is loaded only when a log line is written.
  external: ["bindings", "koffi", "pino", "./lib/*"],
  plugins: [leavesPlugin],
});
// dist/polis-<command>.cjs: the same entry (src/main.ts) for one command alone. The two commands
// that hold their memory longest (a pull's download, the serving monitor) otherwise keep all of
// polis.cjs: its 660 KB source string, which V8 keeps for lazy compilation, and every closure
// of every module's top level (README, Performance). main.ts's imports of the other commands'
// modules (and of what only their paths and the build's warm-ups use) resolve here to a stub
// that throws: the entry runs a command's bundle only for the arguments its `runsCommand` says
// are that command's (its help and usage errors included), polis.cjs for everything else.
for (const command of COMMAND_BUNDLES) {
  await esbuild.build({
    ...common,
    entryPoints: ["src/main.ts"],
    outfile: join(outdir, `polis-${command}.cjs`),
    banner: { js: `(function (exports, require, module, __filename, __dirname) {${common.banner.js}` },
    footer: { js: "})" },
    external: ["bindings", "koffi", "pino", "./lib/*"],
    plugins: [leavesPlugin, oneCommandPlugin(command)],
  });
}
for (const [name, { pick, contents }] of Object.entries(LEAVES)) {
  await esbuild.build({
    ...common,
    stdin: {
      contents: contents ?? `module.exports = require(${JSON.stringify(name)})${pick};`,
      resolveDir: root,
      sourcefile: `${name}-leaf.js`,
    },
    outfile: join(outdir, "lib", `${name}.cjs`),
    plugins: name === "yargs" ? [asciiWidthPlugin] : [],
  });
}

// dist/state-template.db: an empty state database at the current schema version, which a fresh
// root's state.db is copied from instead of running the migrations (src/state/store.ts). Written
// by the store's own code (its migrate), bundled into a throw-away script here.
{
  const script = join(outdir, "state-template.build.cjs");
  try {
    await esbuild.build({
      ...common,
      sourcemap: false,
      stdin: {
        contents: `require("./src/state/store.ts").writeStateTemplate(process.argv[2]);`,
        resolveDir: root,
        sourcefile: "state-template.js",
      },
      outfile: script,
      external: ["bindings"],
    });
    const template = join(outdir, "state-template.db");
    execFileSync(process.execPath, [script, template], { stdio: "inherit", env: { ...process.env, NODE_OPTIONS: "" } });
    if (!existsSync(template) || existsSync(`${template}-wal`))
      throw new Error("build: dist/state-template.db was not written whole");
  } finally {
    rmSync(script, { force: true });
  }
}

// The entry. It runs polis.cjs as node's CommonJS loader would (polis.cjs is the wrapper function),
// but compiles it through vm.Script so that V8 can take a code cache. A cache made by another
// node version or with other V8 flags is rejected by V8 and the file is simply compiled.
// There are several caches: reading and deserialising costs ~10 ms per 100 KB on this VM, so the
// hot commands (state, kill, start, delete, list) get a small one without create's functions.
// Picking the wrong one (an id that happens to be "create") only costs time, never behaviour.
// `pull` and `monitor` run their own bundle (dist/polis-<command>.cjs, above) when the first
// of the arguments' words that names one of them is the command: the bundle's runsCommand says
// so (it parses the arguments as polis does); else polis.cjs runs them, e.g. `polis state pull`.
// pull's bundle has a cache of its own; the monitor's V8 flags (native/launcher/main.c) would
// reject any, so it has none.
const HEAVY = ["create", "run", "exec", "update", "events", "ps", "spec", "features"];
const NETWORK = networkCacheWords();
// The entry is CommonJS: node starts an .mjs through its ES module loader, which costs ~1.5 MiB
// of RSS and ~4 ms before the first line runs (measured: README, "The Node path").
const entry = join(outdir, "polis-entry.cjs");
writeFileSync(
  entry,
  `#!${process.execPath}
// polis: see scripts/build.mjs. Loads polis.cjs (or the command's own bundle) with a V8 code
// cache, then runs the command.
"use strict";
const { readFileSync } = require("node:fs");
const { Script } = require("node:vm");
const building = process.env.POLIS_BUILD_CODE_CACHE;
const heavy = ${JSON.stringify(HEAVY)};
const network = ${JSON.stringify(NETWORK)};
const own = ${JSON.stringify(COMMAND_BUNDLES)};
const argv = process.argv.slice(2);
const kind = building
  ? process.env.POLIS_BUILD_CODE_CACHE_SET
  : argv.some((a) => network.includes(a.split("=")[0]))
    ? "net"
    : argv.some((a) => heavy.includes(a))
      ? "all"
      : "hot";
const command = building ? process.env.POLIS_BUILD_CODE_CACHE_BUNDLE : argv.find((a) => own.includes(a));
function load(file, cache) {
  let cachedData;
  try {
    if (!building) cachedData = readFileSync(cache);
  } catch {
    // no cache (a build that could not make one, the monitor): compile as usual
  }
  // utf8: node 20 reads it straight into a string (latin1 goes through a Buffer: +0.7 MiB). An
  // ASCII file takes its fast path: one "\u00b5" left in src/ made this read 3.2 ms instead of 1.8.
  const script = new Script(readFileSync(file, "utf8"), { filename: file, cachedData });
  const bundle = { exports: {}, filename: file };
  // This file's require resolves from dist/, as the bundle's own would.
  script.runInThisContext()(bundle.exports, require, bundle, file, __dirname);
  return { script, polis: bundle.exports };
}
let loaded = command ? load(\`\${__dirname}/polis-\${command}.cjs\`, \`\${__dirname}/polis-\${command}.cjs.cache\`) : undefined;
if (!loaded || (!building && !loaded.polis.runsCommand(argv, command))) {
  loaded = load(\`\${__dirname}/polis.cjs\`, \`\${__dirname}/polis.cjs.\${kind}.cache\`);
}
if (building) {
  loaded.polis.warmUp(building, kind).then(() => process.stdout.write(loaded.script.createCachedData()));
} else {
  loaded.polis.runCli();
}
`,
);
chmodSync(entry, 0o755);
// dist/polis.mjs: the same entry for whoever runs the .mjs directly (scripts, older configs).
writeFileSync(
  join(outdir, "polis.mjs"),
  `#!${process.execPath}
// polis: dist/polis-entry.cjs does the work (a CommonJS entry starts faster; scripts/build.mjs).
import { createRequire } from "node:module";
createRequire(import.meta.url)("./polis-entry.cjs");
`,
);
chmodSync(join(outdir, "polis.mjs"), 0o755);

// A code cache holds the functions V8 compiled while it was made, so each is made after running
// the paths its commands take, in one process (src/main.ts warmUp, against a throw-away root).
// "pull" (the `pull` command alone, 4-5 ms less CPU per pull, README "Images") is made with pull's
// own bundle (dist/polis-pull.cjs.cache); it pulls from a registry this script serves meanwhile
// (scripts/warm-registry.mjs), so the warm-up runs asynchronously.
const execFileAsync = promisify(execFile);
for (const [set, bundle] of [["hot"], ["all"], ["net"], ["pull", "pull"]]) {
  const scratch = mkdtempSync(join(tmpdir(), "polis-build-"));
  let registry;
  try {
    if (set === "pull") registry = await startWarmRegistry();
    const { stdout: cache } = await execFileAsync(process.execPath, [entry], {
      env: {
        ...process.env,
        POLIS_BUILD_CODE_CACHE: scratch,
        POLIS_BUILD_CODE_CACHE_SET: set,
        POLIS_BUILD_CODE_CACHE_BUNDLE: bundle ?? "",
        POLIS_BUILD_REGISTRY: registry ? `${registry.host}/${WARM_REPOSITORY}:${WARM_TAG}` : "",
        NODE_OPTIONS: "",
        POLIS_TIMING: "",
      },
      encoding: "buffer",
      maxBuffer: 64 << 20,
    });
    writeFileSync(join(outdir, bundle ? `polis-${bundle}.cjs.cache` : `polis.cjs.${set}.cache`), cache);
  } catch (e) {
    const why = `${e.message}${e.stderr ? `\n${e.stderr}` : ""}`;
    // pull's needs a loopback port and tar: without its cache a pull only compiles more (and
    // test/integration/node-entry.test.ts fails, so CI still sees it)
    if (set === "pull") {
      console.warn(`build: no code cache for pull (its warm-up pull failed): ${why}`);
      continue;
    }
    // The warm-up runs polis through its entry: when it fails, so would every node command.
    throw new Error(`build: the ${set} code cache could not be made (dist/polis-entry.cjs is broken?): ${why}`);
  } finally {
    await registry?.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

// The native launcher, beside polis.mjs (it finds the script there). Missing only when the C
// part was not built (`npm run install`): dist/polis.mjs still works on its own then.
const launcher = join(root, "native", "build", "Release", "polis");
// Bring it up to date first (incremental, ~0.2 s): its schema version and column checks are
// generated from src/state/migrations.ts, which may have changed since `npm run install`.
if (existsSync(join(root, "native", "build", "Makefile"))) {
  execFileSync("make", ["-s", "-C", join(root, "native", "build"), "BUILDTYPE=Release", "polis"], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
}
if (existsSync(launcher)) {
  copyFileSync(launcher, join(outdir, "polis"));
  chmodSync(join(outdir, "polis"), 0o755);
  checkHandOff(join(outdir, "polis"));
} else {
  console.warn("build: no native launcher (run `npm run install`): dist/polis is missing, dist/polis.mjs works alone");
}

/**
 * The words that pick the third code cache, "net" (create's paths plus the network room's:
 * src/network/warmup.ts): the `network` command and run/create's network flags. Its own cache,
 * so that `create` and the hot commands read no more than before.
 */
function networkCacheWords() {
  return ["network", "--network", "-p", "--publish", "--ip", "--alias"];
}

/**
 * The launcher hands `--version` to node with the entry beside it: prove that this build's pair
 * works (a launcher looking for another entry file, an entry that cannot load the bundle).
 */
function checkHandOff(polis) {
  const env = { ...process.env, NODE_OPTIONS: "", POLIS_NODE: process.execPath };
  delete env.NODE_EXTRA_CA_CERTS;
  const out = execFileSync(polis, ["--version"], { env, encoding: "utf8" });
  if (!out.startsWith("polis version ")) throw new Error(`build: ${polis} --version printed ${JSON.stringify(out)}`);
}

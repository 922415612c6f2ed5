// Build polis: precompile the JSON schemas, then bundle the TypeScript into dist/ with esbuild.
// One entry file plus lazily loaded chunks: each subcommand's code is loaded only when it runs.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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
  commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
} catch {
  // not a git checkout (a packed tarball): the version still prints
}

const esbuild = await import("esbuild");
rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: { polis: "src/main.ts" },
  outdir,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // better-sqlite3's JavaScript is bundled (its dozen CommonJS files cost ~3 ms to resolve and
  // load); its .node addon is loaded by src/state/store.ts, so `bindings` is never needed. koffi
  // stays outside the bundle; pino is loaded only when a log line is written.
  external: ["bindings", "koffi", "pino"],
  define: { __POLIS_COMMIT__: JSON.stringify(commit) },
  banner: {
    // An absolute interpreter path: podman calls kill/delete/pause with no PATH at all.
    js: `#!${process.execPath}\nimport { createRequire as __polisCreateRequire } from 'node:module'; const require = __polisCreateRequire(import.meta.url);`,
  },
  sourcemap: false,
  minify: false,
  logLevel: "warning",
});
chmodSync(join(outdir, "polis.mjs"), 0o755);

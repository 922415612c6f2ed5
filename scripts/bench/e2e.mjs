#!/usr/bin/env node
// End to end under the real clients: `ctr run --rm` (containerd 1.6, runc-v2 shim) and
// `podman run --rm` (podman 4.3 + conmon) of busybox `true`, with polis and with runc as the
// runtime, alternating per iteration, in one run. Prints a Markdown table of medians and ratios.
//
// It reuses the integration tests' private containerd and podman set-ups (test/helpers/),
// bundled here with esbuild: a private containerd (own root, state, sockets, namespace), a
// private podman storage, and for podman a runtime wrapper per runtime that passes a private
// --root (podman itself passes none). Everything is removed at the end.
//
// usage: node scripts/bench/e2e.mjs [--runs N] [--polis PATH]   (root; never a timed test)
import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { median } from "./lib/stats.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const RUNS = Number(opt("--runs", "10"));
const POLIS = resolve(opt("--polis", join(REPO, "dist", "polis")));
const log = (m) => process.stderr.write(`${m}\n`);

async function loadHelpers(work) {
  const entry = join(work, "helpers-entry.ts");
  const h = join(REPO, "test", "helpers");
  writeFileSync(
    entry,
    `export { startContainerd } from ${JSON.stringify(join(h, "containerd.ts"))};
export { setupPodman, teardownPodman, IMAGE } from ${JSON.stringify(join(h, "podman.ts"))};
export { buildBusyboxImage } from ${JSON.stringify(join(h, "image.ts"))};`,
  );
  const out = join(work, "helpers.mjs");
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: out,
    logLevel: "error",
    // the helpers find the repository from their own location
    define: { "import.meta.url": JSON.stringify(pathToFileURL(join(h, "rootfs.ts")).href) },
  });
  return import(pathToFileURL(out).href);
}

function which(cmd) {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** A runtime named `name` (conmon looks at the name) that passes a private --root. */
function wrapper(dir, name, binary) {
  const bin = join(dir, `bin-${name}`);
  mkdirSync(bin, { recursive: true });
  const path = join(bin, name);
  writeFileSync(path, `#!/bin/sh\nexec ${binary} --root ${join(dir, `root-${name}`)} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

async function timedAsync(fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.slice(-400)}`);
  return ms;
}

async function main() {
  if (process.getuid() !== 0) throw new Error("needs root");
  const runc = which("runc");
  if (!runc || !which("ctr") || !which("podman")) throw new Error("needs runc, containerd (ctr) and podman");
  const work = mkdtempSync(join(tmpdir(), "polis-bench-e2e-"));
  chmodSync(work, 0o755);
  const h = await loadHelpers(work);
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const results = { ctr: { polis: [], runc: [] }, podman: { polis: [], runc: [] } };
  let ctrd;
  let podman;
  try {
    log("e2e: starting a private containerd and podman");
    const image = h.buildBusyboxImage(join(work, "image"));
    ctrd = await h.startContainerd();
    const imp = await ctrd.ctr(["images", "import", image.tarball]);
    if (imp.code !== 0) throw new Error(`ctr images import: ${imp.stderr}`);
    podman = await h.setupPodman();
    const bins = { polis: wrapper(work, "polis", POLIS), runc: wrapper(work, "runc", runc) };
    const podmanArgs = (rt) => {
      const g = [...podman.globalArgs];
      g[g.indexOf("--runtime") + 1] = bins[rt];
      return g;
    };
    // stderr to a file, not a pipe: conmon may inherit it and outlive podman for a moment
    const errFile = join(work, "podman.err");
    const podmanRun = async (rt, args) => {
      const fd = openSync(errFile, "w");
      try {
        const r = spawnSync("podman", [...podmanArgs(rt), ...args], { env: podman.env, stdio: ["ignore", "ignore", fd] });
        return { code: r.status ?? -1, stderr: readFileSync(errFile, "utf8") };
      } finally {
        closeSync(fd);
      }
    };
    let n = 0;
    for (let i = 0; i < RUNS + 1; i++) {
      for (const rt of i % 2 ? ["runc", "polis"] : ["polis", "runc"]) {
        const id = `e2e-${process.pid}-${n++}`;
        // ctr: the runtime binary itself (the shim passes its own --root)
        const binary = rt === "polis" ? POLIS : runc;
        const c = await timedAsync(() => ctrd.ctr(["run", "--rm", "--runc-binary", binary, image.ref, id, "true"]));
        const p = await timedAsync(() => podmanRun(rt, ["run", "--rm", "--cgroup-parent", podman.cgroupParent, h.IMAGE, "true"]));
        if (i > 0) {
          results.ctr[rt].push(c);
          results.podman[rt].push(p);
        }
      }
      log(`e2e: iteration ${i + 1}/${RUNS + 1}`);
    }
  } finally {
    if (podman) await h.teardownPodman(podman);
    if (ctrd) await ctrd.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const rows = [];
  for (const [client, label] of [
    ["ctr", "`ctr run --rm` busybox `true`"],
    ["podman", "`podman run --rm` busybox `true`"],
  ]) {
    const p = median(results[client].polis);
    const r = median(results[client].runc);
    const ratios = results[client].polis.map((v, i) => v / results[client].runc[i]);
    rows.push(`| ${label} | ${p.toFixed(0)} ms | ${r.toFixed(0)} ms | ${median(ratios).toFixed(2)}× |`);
  }
  const env0 = `${new Date().toISOString().slice(0, 10)} · loadavg ${spawnSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).stdout.trim()}`;
  process.stdout.write(
    `| end to end, median of ${RUNS} | polis | runc | polis/runc |\n|---|---:|---:|---:|\n${rows.join("\n")}\n\n- ${env0}\n`,
  );
}

main().catch((e) => {
  log(`e2e: ${e.stack ?? e}`);
  process.exit(1);
});

#!/usr/bin/env node
// Image pull + unpack, side by side, in one run (see README.md, "Images"):
//   polis pull (+ layers unpacked for overlayfs) and polis bundle (a full copy); for busybox also
//   through the launcher with NODE_EXTRA_CA_CERTS set (it moves the variable for the registry client)
//   skopeo copy registry -> OCI layout, then umoci unpack
//   podman pull (private --root)
//   GNU tar -x of the large image's uncompressed layer, vs polis bundle of it
//   run --image vs run --bundle of an already pulled busybox, all through the launcher (dist/polis):
//   both native (as users get them) and both with POLIS_NATIVE=0 (node's paths)
// against Debian's docker-registry on 127.0.0.1 with a temp storage dir. Root only.
//
//   node scripts/bench/images.mjs [--runs 3] [--large-mb 200] [--large-files 10000] [--tmpfs] [--only unpack]
//                                 [--baseline DIR/polis.mjs] [--tools "polis pull,skopeo copy + umoci unpack"] [--phases] [--cpu]
//
// The ratio column is the median of the per-round ratios to the row's first tool (each round
// runs every tool once, alternating the order), steadier on a loaded machine than a ratio of
// medians. --tools keeps the tools named (comma-separated). --baseline adds "polis pull (baseline)" rows: another build (e.g. main's dist/ copied
// aside) in the same rounds, for an A/B of a change; for run --image, DIR/polis (its launcher) when
// it is there. --only small skips making the large image; --only run measures only the run row.
// --phases: POLIS_TIMING=1 phases, median per tool. --cpu: CPU time too (pull rows and the run row)
// (each run wrapped in a small wait4 timer, see cpuTimer), steadier than wall time on a loaded machine.
//
// --tmpfs puts every store, layout and unpacked tree on a private tmpfs (as the anchors' figures
// were taken): disk contention from other work on the machine then stops dominating the figures.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startRegistry } from "./lib/registry.mjs";
import { parsePhaseLines } from "./lib/stats.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
// node's entry as the launcher runs it (the CommonJS one; older builds had only polis.mjs)
const POLIS = [join(REPO, "dist", "polis-entry.cjs"), join(REPO, "dist", "polis.mjs")].find((f) => existsSync(f));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg("runs", 3);
const LARGE_MB = arg("large-mb", 200);
const LARGE_FILES = arg("large-files", 10000);
const log = (m) => process.stderr.write(`${m}\n`);
const TMPFS = process.argv.includes("--tmpfs");
const PHASES = process.argv.includes("--phases");
// CPU time (user + sys of each command and the children it waited for, cpuTimer):
// steadier than wall time when other work competes for the 2 cores
const CPU = process.argv.includes("--cpu");
const ONLY = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const BASELINE = process.argv.includes("--baseline") ? resolve(process.argv[process.argv.indexOf("--baseline") + 1]) : undefined;
const ROW_NAMES = ["small: pull + unpack", "large: pull + unpack", "large layer: unpack only", "run true (pulled image)"];
const wanted = (name) => !ONLY || name.includes(ONLY);
const TOOLS = process.argv.includes("--tools") ? process.argv[process.argv.indexOf("--tools") + 1].split(",") : undefined;
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const env = { ...process.env };
// ~50-90 ms per node start on these machines: not polis's cost (one row shows it as users have it)
const CA_CERTS = env.NODE_EXTRA_CA_CERTS || "/etc/ssl/certs/ca-certificates.crt";
delete env.NODE_EXTRA_CA_CERTS;
const work = mkdtempSync(join(tmpdir(), "polis-bench-images-"));
if (TMPFS) execFileSync("mount", ["-t", "tmpfs", "-o", "size=8g", "polis-bench", work]);
const sha = (b) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** POLIS_TIMING=1 phases of the last sample's commands ({} when they printed none). */
let lastPhases = {};
/** --cpu: the last sample's CPU ms (null when it was not wrapped). */
let lastCpu = null;
/**
 * Set while a pull row's sample runs: with --cpu each command is wrapped in the CPU timer, with
 * --phases polis gets POLIS_TIMING=1 (the run row wraps its own commands, runTimed).
 */
let measuring = false;

/**
 * --cpu: the command that runs another and reports its CPU time on stderr as
 * "polis-bench-cpu <user s> <sys s>". A 10-line C program compiled here (wait4's rusage, in µs),
 * else GNU time, whose %U and %S are cut to 10 ms: -5 ms on average per figure, so a two-command
 * tool (skopeo + umoci) would lose ~10 ms more than a one-command one.
 */
function cpuTimer() {
  const src = join(work, "cpu-timer.c");
  const bin = join(work, "cpu-timer");
  writeFileSync(
    src,
    `#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  pid_t pid = fork();
  if (pid == 0) { execvp(argv[1], argv + 1); _exit(127); }
  int st; struct rusage ru;
  if (pid < 0 || wait4(pid, &st, 0, &ru) < 0) return 125;
  fprintf(stderr, "polis-bench-cpu %ld.%06ld %ld.%06ld\\n", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
`,
  );
  if (spawnSync("cc", ["-O2", "-o", bin, src], { stdio: "ignore" }).status === 0) return { cmd: bin, args: [], label: "wait4" };
  log("bench: no C compiler: CPU times from GNU time (10 ms ticks)");
  return { cmd: "/usr/bin/time", args: ["-f", "polis-bench-cpu %U %S"], label: "GNU time, 10 ms ticks" };
}
const TIMER = CPU ? cpuTimer() : undefined;

function time(cmd, args, opts = {}) {
  const wrap = measuring && CPU;
  const runEnv = measuring && PHASES ? { ...(opts.env ?? env), POLIS_TIMING: "1" } : (opts.env ?? env);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(wrap ? TIMER.cmd : cmd, wrap ? [...TIMER.args, cmd, ...args] : args, {
    stdio: ["ignore", "ignore", "pipe"],
    ...opts,
    env: runEnv,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
  // a sample of several commands (skopeo + umoci, pull + bundle) adds theirs up
  for (const [p, v] of Object.entries(parsePhaseLines(String(r.stderr ?? "")))) lastPhases[p] = (lastPhases[p] ?? 0) + v;
  const cpu = /^polis-bench-cpu (\S+) (\S+)$/m.exec(String(r.stderr ?? ""));
  if (cpu) lastCpu = (lastCpu ?? 0) + (Number(cpu[1]) + Number(cpu[2])) * 1000;
  return ms;
}

/**
 * A containers.conf that keeps podman's network files in the sample's own dir: with netavark
 * installed, podman would otherwise pick it for a fresh root and write /run/containers/networks
 * on the host, even for a pull.
 */
function podmanConf(d) {
  const conf = join(d, "containers.conf");
  writeFileSync(conf, `[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${join(d, "cni")}"\n`);
  return conf;
}

/** An OCI layout with one image of `layers` (each an uncompressed tar file, gzipped here). */
function layout(dir, tag, tars, cmd) {
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  const put = (data, mediaType) => {
    const digest = sha(data);
    writeFileSync(join(dir, "blobs", "sha256", digest.slice(7)), data);
    return { mediaType, digest, size: data.length };
  };
  const layers = tars.map((t) => ({
    raw: readFileSync(t),
    gz: execFileSync("gzip", ["-c", "-n", "-1", t], { maxBuffer: 2 ** 31 }),
  }));
  const config = put(
    Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Cmd: cmd, Env: ["PATH=/bin:/usr/bin"] },
        rootfs: { type: "layers", diff_ids: layers.map((l) => sha(l.raw)) },
      }),
    ),
    "application/vnd.oci.image.config.v1+json",
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config,
    layers: layers.map((l) => put(l.gz, "application/vnd.oci.image.layer.v1.tar+gzip")),
  };
  const m = put(Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...m, annotations: { "org.opencontainers.image.ref.name": tag } }] }),
  );
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function main() {
  if (process.geteuid() !== 0) throw new Error("run as root");
  // the registry
  const { host, child: registry } = await startRegistry(work);
  try {
    // the images: busybox (1 MB) and a large one (LARGE_FILES files, LARGE_MB MB)
    const rootfs = join(work, "busybox");
    execFileSync("bash", [join(REPO, "scripts", "make-rootfs.sh"), rootfs], { stdio: "ignore" });
    execFileSync("tar", ["--numeric-owner", "-C", rootfs, "-cf", join(work, "busybox.tar"), "."]);
    const needLarge = ROW_NAMES.filter(wanted).some((n) => n.startsWith("large"));
    if (needLarge) log(`bench: making the large image (${LARGE_FILES} files, ${LARGE_MB} MB)`);
    const large = join(work, "large");
    const per = Math.floor((LARGE_MB << 20) / LARGE_FILES);
    if (needLarge)
      execFileSync("python3", [
        "-c",
        `
import os, sys
root, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(size // 2) + bytes(size - size // 2))
`,
        large,
        String(LARGE_FILES),
        String(per),
      ]);
    if (needLarge) {
      execFileSync("tar", ["--numeric-owner", "-C", large, "-cf", join(work, "large.tar"), "."]);
      rmSync(large, { recursive: true });
    }
    layout(join(work, "oci-small"), "small", [join(work, "busybox.tar")], ["true"]);
    if (needLarge) layout(join(work, "oci-large"), "large", [join(work, "busybox.tar"), join(work, "large.tar")], ["true"]);
    for (const [l, t] of needLarge
      ? [
          ["oci-small", "small"],
          ["oci-large", "large"],
        ]
      : [["oci-small", "small"]]) {
      execFileSync("skopeo", [
        "copy",
        "-q",
        "--dest-tls-verify=false",
        `oci:${join(work, l)}:${t}`,
        `docker://${host}/bench/${t}:1`,
      ]);
    }

    const rows = [];
    const row = (name, fn) => {
      if (!wanted(name)) return;
      const tools = Object.entries(fn).filter(([t]) => !TOOLS || TOOLS.includes(t));
      if (tools.length) rows.push({ name, fn: Object.fromEntries(tools), samples: {}, phases: {}, cpu: {} });
    };
    if (needLarge) execFileSync("gzip", ["-k", "-1", join(work, "large.tar")]);
    for (const t of ["small", "large"]) {
      const ref = `${host}/bench/${t}:1`;
      row(`${t}: pull + unpack`, {
        "polis pull": (d) => time(process.execPath, [POLIS, "--root", d, "pull", "-q", "--tls-verify=false", ref]),
        ...(BASELINE && {
          "polis pull (baseline)": (d) =>
            time(process.execPath, [BASELINE, "--root", d, "pull", "-q", "--tls-verify=false", ref]),
        }),
        // what users get: the launcher (dist/polis), NODE_EXTRA_CA_CERTS set as on these machines
        ...(t === "small" && {
          "polis pull (dist/polis, NODE_EXTRA_CA_CERTS set)": (d) =>
            time(join(REPO, "dist", "polis"), ["--root", d, "pull", "-q", "--tls-verify=false", ref], {
              env: { ...env, NODE_EXTRA_CA_CERTS: CA_CERTS },
            }),
        }),
        "polis pull + bundle": (d) =>
          time(process.execPath, [POLIS, "--root", d, "pull", "-q", "--tls-verify=false", ref]) +
          time(process.execPath, [POLIS, "--root", d, "bundle", ref, join(d, "b")]),
        "skopeo copy + umoci unpack": (d) =>
          time("skopeo", ["copy", "-q", "--src-tls-verify=false", `docker://${ref}`, `oci:${d}/oci:x`]) +
          time("umoci", ["unpack", "--image", `${d}/oci:x`, join(d, "u")]),
        "podman pull": (d) =>
          time(
            "podman",
            [
              "--root",
              join(d, "ps"),
              "--runroot",
              join(d, "pr"),
              "--storage-driver",
              "overlay",
              "pull",
              "-q",
              "--tls-verify=false",
              ref,
            ],
            { env: { ...env, CONTAINERS_CONF: podmanConf(d) } },
          ),
      });
    }
    row("large layer: unpack only", {
      "GNU tar -x": (d) => (
        mkdirSync(join(d, "t")), time("tar", ["--numeric-owner", "-xf", join(work, "large.tar"), "-C", join(d, "t")])
      ),
      "GNU tar -xz": (d) => (
        mkdirSync(join(d, "t")), time("tar", ["--numeric-owner", "-xzf", join(work, "large.tar.gz"), "-C", join(d, "t")])
      ),
      "polis bundle (2 layers, gz)": (d) => {
        spawnSync(process.execPath, [POLIS, "--root", d, "pull", "-q", "--tls-verify=false", `${host}/bench/large:1`], {
          env,
          stdio: "ignore",
        });
        return time(process.execPath, [POLIS, "--root", d, "bundle", `${host}/bench/large:1`, join(d, "b")]);
      },
    });
    // run --image vs run --bundle, already pulled
    const runRoot = mkdtempSync(join(work, "run-"));
    spawnSync(process.execPath, [POLIS, "--root", runRoot, "pull", "-q", "--tls-verify=false", `${host}/bench/small:1`], {
      env,
      stdio: "ignore",
    });
    spawnSync(process.execPath, [POLIS, "--root", runRoot, "bundle", `${host}/bench/small:1`, join(runRoot, "bundle")], {
      env,
      stdio: "ignore",
    });
    // what users get: the launcher (dist/polis). run --bundle of this plain config and run
    // --image of the pulled image are native there (C, no node); POLIS_NATIVE=0 hands the same
    // calls to node. So image - bundle (native) is what a user waits more; image - bundle (both
    // node's) is the image's own cost on node's path, node's start cancelled out.
    const LAUNCHER = join(REPO, "dist", "polis");
    const baseLauncher = BASELINE && join(dirname(BASELINE), "polis");
    let n = 0;
    const runTimed = (cmd, args, extraEnv) => {
      const argv = ["--root", runRoot, ...args];
      // the timer's own fork+exec is in every tool's wall time alike: paired differences cancel it
      const t = time(CPU ? TIMER.cmd : cmd, CPU ? [...TIMER.args, cmd, ...argv] : argv, {
        env: { ...env, ...extraEnv, ...(PHASES && { POLIS_TIMING: "1" }) },
      });
      return t;
    };
    row("run true (pulled image)", {
      "polis run --bundle": () => runTimed(LAUNCHER, ["run", "--bundle", join(runRoot, "bundle"), `b${n++}`]),
      "polis run --bundle (POLIS_NATIVE=0)": () =>
        runTimed(LAUNCHER, ["run", "--bundle", join(runRoot, "bundle"), `n${n++}`], { POLIS_NATIVE: "0" }),
      "polis run --image": () => runTimed(LAUNCHER, ["run", "--image", `${host}/bench/small:1`, `i${n++}`]),
      "polis run --image (POLIS_NATIVE=0)": () =>
        runTimed(LAUNCHER, ["run", "--image", `${host}/bench/small:1`, `m${n++}`], { POLIS_NATIVE: "0" }),
      ...(BASELINE && {
        "polis run --image (baseline)": () =>
          existsSync(baseLauncher)
            ? runTimed(baseLauncher, ["run", "--image", `${host}/bench/small:1`, `a${n++}`])
            : runTimed(process.execPath, [BASELINE, "run", "--image", `${host}/bench/small:1`, `a${n++}`]),
      }),
    });

    // a container kept past the command (create, run -d): the overlay mounted on the host, and
    // delete's unmount (the container's `true` never started: delete --force of a created one)
    const createDelete = (id, extraEnv) => {
      const env2 = { ...env, ...extraEnv };
      // the created init keeps create's stdio until it is killed: no pipe to wait on
      const ms = time(LAUNCHER, ["--root", runRoot, "create", "--image", `${host}/bench/small:1`, id], {
        env: env2,
        stdio: "ignore",
      });
      return ms + time(LAUNCHER, ["--root", runRoot, "delete", "--force", id], { env: env2 });
    };
    row("run true's image, kept: create --image + delete --force", {
      "polis create --image + delete": () => createDelete(`c${n++}`),
      "polis create --image + delete (POLIS_NATIVE=0)": () => createDelete(`d${n++}`, { POLIS_NATIVE: "0" }),
    });

    const loadBefore = loadavg();
    for (let i = 0; i < RUNS; i++) {
      log(`bench: round ${i + 1}/${RUNS}`);
      for (const r of rows) {
        // every other round the other way round: a machine that gets busier (or quieter) during a
        // round then favours neither tool
        const tools = Object.entries(r.fn);
        if (i % 2) tools.reverse();
        for (const [tool, fn] of tools) {
          const d = mkdtempSync(join(work, "x-"));
          try {
            lastPhases = {};
            lastCpu = null;
            measuring = r.name.endsWith("pull + unpack");
            (r.samples[tool] ??= []).push(fn(d));
            (r.phases[tool] ??= []).push(lastPhases);
            (r.cpu[tool] ??= []).push(lastCpu);
          } finally {
            spawnSync("sh", ["-c", `grep -o " ${d}[^ ]*" /proc/mounts | xargs -r -n1 umount -l`]);
            rmSync(d, { recursive: true, force: true });
          }
        }
      }
    }
    console.log(`| what (median of ${RUNS}, ms) | tool | time | ratio to the first (median per round) |\n|---|---|---|---|`);
    for (const r of rows) {
      const tools = Object.keys(r.samples);
      const first = r.samples[tools[0]];
      for (const t of tools) {
        const ratio = median(r.samples[t].map((x, k) => x / first[k]));
        console.log(`| ${r.name} | ${t} | ${median(r.samples[t]).toFixed(0)} | ${ratio.toFixed(2)} |`);
      }
    }
    console.log(`\nloadavg before ${loadBefore}, after ${loadavg()}`);
    // the pull rows' CPU time and phases (--cpu, --phases)
    for (const r of rows.filter((x) => x.name.endsWith("pull + unpack"))) {
      const tools = Object.keys(r.cpu).filter((t) => r.cpu[t].every((x) => x !== null));
      if (CPU && tools.length) {
        const first = r.cpu[tools[0]];
        const mean = (xs) => (xs.reduce((x, y) => x + y, 0) / xs.length).toFixed(1);
        console.log(
          `\n${r.name}: CPU time (user + sys, ${TIMER.label}), median / mean of ${RUNS}, ratio to the first (median per round):`,
        );
        for (const t of tools) {
          const ratio = median(r.cpu[t].map((x, k) => x / first[k]));
          console.log(`- ${t}: ${median(r.cpu[t]).toFixed(0)} / ${mean(r.cpu[t])} ms (${ratio.toFixed(2)})`);
        }
      }
      if (PHASES) {
        for (const [tool, list] of Object.entries(r.phases)) {
          const names = [...new Set(list.flatMap((p) => Object.keys(p)))];
          if (!names.length) continue;
          console.log(`\n${r.name}: phases of ${tool} (POLIS_TIMING=1, median ms):`);
          console.log(names.map((p) => `${p} ${median(list.map((x) => x[p] ?? 0)).toFixed(1)}`).join(", "));
        }
      }
    }
    // run --image over run --bundle as the issue states it (a difference): the median of the
    // per-round differences, steadier than the difference of medians on a loaded machine
    const runRow = rows.find((r) => r.name.startsWith("run true"));
    if (runRow) {
      const s = runRow.samples;
      const paired = (a, b) => (s[a] && s[b] ? median(s[a].map((x, k) => x - s[b][k])).toFixed(1) : "–");
      console.log(`\nmedian of ${RUNS} paired differences (ms):`);
      console.log(`- run --image − run --bundle (native, as users get it): ${paired("polis run --image", "polis run --bundle")}`);
      console.log(
        `- run --image − run --bundle, both POLIS_NATIVE=0 (node's paths: the image's own cost there): ${paired("polis run --image (POLIS_NATIVE=0)", "polis run --bundle (POLIS_NATIVE=0)")}`,
      );
      if (BASELINE) {
        console.log(
          `- run --image (baseline) − run --bundle (native): ${paired("polis run --image (baseline)", "polis run --bundle")}`,
        );
        console.log(`- run --image − run --image (baseline): ${paired("polis run --image", "polis run --image (baseline)")}`);
      }
      if (CPU) {
        const c = runRow.cpu;
        const cpuPaired = (a, b) => (c[a] && c[b] ? median(c[a].map((x, k) => x - c[b][k])).toFixed(0) : "–");
        const mean = (xs) => (xs.reduce((x, y) => x + y, 0) / xs.length).toFixed(1);
        console.log(`\nCPU time (user + sys, ${TIMER.label}), median / mean of ${RUNS}:`);
        for (const [tool, xs] of Object.entries(c)) console.log(`- ${tool}: ${median(xs).toFixed(0)} / ${mean(xs)} ms`);
        console.log(
          `- paired, run --image − run --bundle (native): median ${cpuPaired("polis run --image", "polis run --bundle")}, mean ${mean(c["polis run --image"].map((x, k) => x - c["polis run --bundle"][k]))} ms`,
        );
      }
      if (PHASES) {
        for (const [tool, list] of Object.entries(runRow.phases)) {
          const names = [...new Set(list.flatMap((p) => Object.keys(p)))];
          if (!names.length) continue;
          console.log(`\nphases of ${tool} (POLIS_TIMING=1, median ms):`);
          console.log(names.map((p) => `${p} ${median(list.map((x) => x[p] ?? 0)).toFixed(1)}`).join(", "));
        }
      }
    }
  } finally {
    registry.kill("SIGTERM");
    await new Promise((r) => registry.once("exit", r));
    if (TMPFS) spawnSync("umount", [work]);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  log(`bench: ${e.message}`);
  process.exit(1);
});

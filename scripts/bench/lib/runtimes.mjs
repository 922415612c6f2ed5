// The runtimes under test, each with its own --root and the same (cleaned) environment.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

export const KNOWN = ["polis", "runc", "crun"];
/** Default value of the CA variable when the harness was started without it (what this host's shell sets). */
const DEFAULT_CA = "/etc/ssl/certs/ca-certificates.crt";

/**
 * The environment every benchmarked command gets: the harness's own, minus NODE_EXTRA_CA_CERTS
 * (node re-reads the bundle at every start: ~90 ms here, which would swamp polis's own cost)
 * and minus anything of ours that could change a runtime's behaviour.
 */
export function cleanEnv(base = process.env) {
  const env = { ...base };
  for (const k of ["NODE_EXTRA_CA_CERTS", "POLIS_TIMING", "POLIS_BENCH_INNER", "NODE_OPTIONS"]) delete env[k];
  return env;
}

/** The CA file to use for the "with NODE_EXTRA_CA_CERTS" rows: the caller's, else the host default. */
export function caCertsValue(base = process.env) {
  return base.NODE_EXTRA_CA_CERTS || DEFAULT_CA;
}

function makeRuntime({ name, label, cmd, root, env, supportsPhases = false, variantOf = null }) {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  return {
    name,
    label: label ?? name,
    cmd,
    root,
    env,
    supportsPhases,
    /** The runtime whose column this variant is printed in (polis-ca is shown as a polis row). */
    variantOf,
    argv: (args) => [...cmd, "--root", root, ...args],
  };
}

/** The first line of `<cmd> --version`, or null when the command does not work. */
export function versionOf(cmd, env) {
  const r = spawnSync(cmd[0], [...cmd.slice(1), "--version"], {
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 20_000,
  });
  if (r.error || r.status !== 0) return null;
  return (r.stdout || r.stderr).trim().split("\n").slice(0, 2).join("; ") || null;
}

/**
 * Build the runtime descriptors that exist and work; the ones that do not are returned in
 * `skipped` with a reason (polis may be only partly built while the harness is used).
 */
export function resolveRuntimes(names, { workDir, polisPath, withCaVariant, withNodeVariant = false }) {
  const env = cleanEnv();
  const runtimes = [];
  const skipped = [];
  const versions = {};
  for (const name of names) {
    let cmd;
    if (name === "polis") {
      if (!existsSync(polisPath)) {
        skipped.push({ name, reason: `${polisPath} does not exist (run node scripts/build.mjs)` });
        continue;
      }
      cmd = polisPath.endsWith(".mjs") || polisPath.endsWith(".js") ? [process.execPath, polisPath] : [polisPath];
    } else {
      cmd = [name];
    }
    const version = versionOf(cmd, env);
    if (version === null) {
      skipped.push({ name, reason: `${cmd.join(" ")} --version failed` });
      continue;
    }
    versions[name] = version;
    runtimes.push(makeRuntime({ name, cmd, root: join(workDir, `root-${name}`), env, supportsPhases: name === "polis" }));
    if (name === "polis" && withNodeVariant) {
      // The same executable forced onto the Node path: what the native launcher saves, in one run.
      runtimes.push(
        makeRuntime({
          name: "polis-node",
          label: "polis, Node path (POLIS_NATIVE=0)",
          cmd,
          root: join(workDir, "root-polis-node"),
          env: { ...env, POLIS_NATIVE: "0" },
          supportsPhases: true,
          variantOf: "polis",
        }),
      );
    }
    if (name === "polis" && withCaVariant) {
      runtimes.push(
        makeRuntime({
          name: "polis-ca",
          label: "polis (NODE_EXTRA_CA_CERTS set)",
          cmd,
          root: join(workDir, "root-polis-ca"),
          env: { ...env, NODE_EXTRA_CA_CERTS: caCertsValue() },
          supportsPhases: true,
          variantOf: "polis",
        }),
      );
    }
  }
  return { runtimes, skipped, versions };
}

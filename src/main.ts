// The polis entry point: parse argv, set up logging, load the one command module needed, run it,
// and turn the outcome into runc's exit codes and messages. Everything heavy is imported lazily:
// every polis call is a fresh process and `state`/`kill`/`start` must finish in tens of ms.
import { mkdirSync, realpathSync, writeFileSync, writeSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { GlobalOptions } from "./container/options.js";
import { PolisError } from "./errors.js";
import { parseArgv, UsageError, type Parsed, type ParsedOptions } from "./cli/argv.js";
import type { CliContext, CliIo, CommandRun } from "./cli/context.js";
import { setResourceReleaser } from "./container/resources.js";
import { configureLog, log, logsToFile } from "./log.js";
import { DEFAULT_ROOT } from "./paths.js";
import { phase, reportPhases, traceEachPhase } from "./timing.js";
import { shareConnectionsUntilExit } from "./state/store.js";

export interface MainIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  env?: Record<string, string | undefined>;
  cwd?: () => string;
}

// One literal import() per command so that the bundler splits each into its own chunk.
const COMMAND_MODULES: Record<string, () => Promise<{ run: CommandRun }>> = {
  create: () => import("./cli/create.js"),
  delete: () => import("./cli/delete.js"),
  features: () => import("./cli/features.js"),
  kill: () => import("./cli/kill.js"),
  list: () => import("./cli/list.js"),
  network: () => import("./cli/network.js"),
  run: () => import("./cli/run.js"),
  spec: () => import("./cli/spec.js"),
  start: () => import("./cli/start.js"),
  state: () => import("./cli/state.js"),
  events: () => import("./cli/events.js"),
  exec: () => import("./cli/exec.js"),
  pause: () => import("./cli/pause.js"),
  ps: () => import("./cli/ps.js"),
  resume: () => import("./cli/resume.js"),
  update: () => import("./cli/update.js"),
  // images (src/image/)
  pull: () => import("./cli/pull.js"),
  images: () => import("./cli/images.js"),
  rmi: () => import("./cli/rmi.js"),
  tag: () => import("./cli/tag.js"),
  image: () => import("./cli/image.js"),
  bundle: () => import("./cli/bundle.js"),
  login: () => import("./cli/login.js"),
  logout: () => import("./cli/logout.js"),
  stats: () => import("./cli/stats.js"),
  logs: () => import("./cli/logs.js"),
  inspect: () => import("./cli/inspect.js"),
  health: () => import("./cli/health.js"),
  exited: () => import("./cli/exited.js"),
  monitor: () => import("./cli/monitor.js"),
};

/** Run polis with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: readonly string[], mainIo: MainIo = {}): Promise<number> {
  const io: CliIo = {
    stdout: mainIo.stdout ?? fdWriter(1),
    stderr: mainIo.stderr ?? fdWriter(2),
    env: mainIo.env ?? process.env,
    cwd: mainIo.cwd ?? (() => process.cwd()),
  };
  const injectedStderr = mainIo.stderr;
  let debug = false;
  try {
    let parsed: Parsed;
    try {
      parsed = parseArgv(argv);
      phase("argument parsing");
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      setUpLog(e.global, io, injectedStderr);
      return usageFailure(e, io);
    }
    debug = setUpLog(parsed.global, io, injectedStderr);
    // --debug: every phase of the command as it ends, with its wall time
    if (debug) traceEachPhase((name, ms) => log.debug("phase", { name, ms: Number(ms.toFixed(1)) }));
    if (parsed.kind === "help") {
      const { renderHelp } = await import("./cli/help.js");
      io.stdout(await renderHelp(parsed.topic));
      return 0;
    }
    if (parsed.kind === "version") {
      const { versionText } = await import("./cli/version.js");
      io.stdout(versionText());
      return 0;
    }
    const ctx: CliContext = {
      global: globalOptions(parsed.global, io),
      options: parsed.options.values,
      given: parsed.options.given,
      args: parsed.args,
      io,
    };
    log.debug("polis command", { command: parsed.command.name, args: parsed.args.join(" ") });
    // The seam through which delete gives back what images, networks and monitors attached;
    // their code loads only if a container holds such a resource.
    setResourceReleaser(async (g, store, row) => (await import("./resources/release.js")).releaseResource(g, store, row));
    const { run } = await COMMAND_MODULES[parsed.command.name]();
    phase("command module load");
    const code = (await run(ctx)) ?? 0;
    if (debug) log.debug("polis finished", { exitCode: code, ms: Number(performance.now().toFixed(1)) });
    return code;
  } catch (e) {
    return fatal(e, io, debug);
  }
}

/** Configure the log from the global flags (stderr text when they did not parse); returns --debug. */
function setUpLog(global: ParsedOptions | undefined, io: CliIo, stderr?: (t: string) => void): boolean {
  const v = global?.values ?? {};
  const format = v["log-format"] === "json" ? "json" : "text";
  const debug = v.debug === true;
  configureLog({ file: typeof v.log === "string" && v.log !== "" ? absolute(v.log, io) : undefined, format, debug, stderr });
  if (v["log-format"] !== undefined && v["log-format"] !== "text" && v["log-format"] !== "json") {
    throw new PolisError(`invalid log-format: ${String(v["log-format"])}`);
  }
  return debug;
}

function globalOptions(global: ParsedOptions, io: CliIo): GlobalOptions {
  const v = global.values;
  const rootless = typeof v.rootless === "string" ? v.rootless : "auto";
  if (!["true", "false", "auto"].includes(rootless)) {
    throw new PolisError(`invalid value "${rootless}" for flag -rootless: must be true, false or auto`);
  }
  if (rootless === "true") {
    // Accepting it would promise what polis does not do (no user-namespaced cgroup handling yet).
    throw new PolisError("--rootless true: rootless mode is not supported yet; polis runs as root (use auto or false)");
  }
  return {
    root: typeof v.root === "string" && v.root !== "" ? absolute(v.root, io) : defaultRoot(io.env),
    log: typeof v.log === "string" && v.log !== "" ? absolute(v.log, io) : undefined,
    logFormat: v["log-format"] === "json" ? "json" : "text",
    debug: v.debug === true,
    systemdCgroup: v["systemd-cgroup"] === true,
    rootless,
    config: typeof v.config === "string" && v.config !== "" ? absolute(v.config, io) : undefined,
  };
}

/**
 * Like runc: $XDG_RUNTIME_DIR only for a non-root caller, and only when non-empty (podman and
 * conmon set it to ''). Root always gets the one shared default, whoever calls.
 */
export function defaultRoot(env: Record<string, string | undefined>, euid = process.geteuid?.() ?? 0): string {
  const xdg = env.XDG_RUNTIME_DIR;
  if (euid !== 0 && xdg) return join(xdg, "polis");
  return DEFAULT_ROOT;
}

function absolute(p: string, io: CliIo): string {
  return isAbsolute(p) ? p : resolve(io.cwd(), p);
}

/** runc's shape: "Incorrect Usage" and the usage on stdout, the error itself through the log. */
async function usageFailure(e: UsageError, io: CliIo): Promise<number> {
  if (e.exitCode === 1) {
    const { usageHint } = await import("./cli/help.js");
    const head = e.flagProblem
      ? e.command
        ? `Incorrect Usage: ${e.flagProblem}`
        : `Incorrect Usage. ${e.flagProblem}`
      : "Incorrect Usage.";
    io.stdout(`${head}\n\n${usageHint(e.command)}`);
  }
  report(e.message, io);
  return e.exitCode;
}

/** The top-level error handler: the message (no stack) for polis's own errors, exit 1. */
export function fatal(e: unknown, io: CliIo, debug: boolean): number {
  const message = e instanceof Error ? e.message : String(e);
  report(message, io);
  if (debug && !(e instanceof PolisError) && e instanceof Error && e.stack) io.stderr(e.stack + "\n");
  const original = (e as { original?: unknown }).original;
  if (debug && original instanceof Error && !(original instanceof PolisError) && original.stack) io.stderr(original.stack + "\n");
  const code = (e as { exitCode?: unknown }).exitCode;
  return typeof code === "number" ? code : 1;
}

/** Log the error; when the log is a file, also tell whoever reads stderr (runc does both). */
function report(message: string, io: CliIo): void {
  log.error(message);
  if (logsToFile()) io.stderr(message + "\n");
}

/** Synchronous writes: the text is out before process.exit, and no stream is set up for it. */
function fdWriter(fd: number): (text: string) => void {
  return (text) => {
    const buf = Buffer.from(text);
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(fd, buf, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") continue; // a non-blocking pipe inherited from the caller
        return; // EPIPE and friends: the reader is gone, nothing more to say
      }
    }
  };
}

/** True when this module is the program (node dist/polis.mjs, a symlinked bin), not an import. */
function isEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    // .native: one realpath(3) each instead of node's lstat walk (this runs in every node command)
    return realpathSync.native(script) === realpathSync.native(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** Run polis as the program: argv from the process, exit with the command's code. */
export function runCli(): void {
  phase("node boot and entry load");
  // One state connection per process, dropped by process.exit without a checkpoint (store.ts).
  shareConnectionsUntilExit();
  // A command whose promise never settles would otherwise let node drain its event loop and exit
  // 0 with nothing said; every settled command leaves through process.exit before this can fire.
  process.once("beforeExit", () => {
    writeSync(2, "polis: internal error: the command ended without a result\n");
    process.exit(1);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      reportPhases();
      process.exit(code);
    },
    (e) => {
      writeSync(2, `polis: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}

/**
 * For dist/polis-<command>.cjs (scripts/build.mjs), which holds `command`'s module alone: whether
 * `argv` runs that command, its help (`polis pull --help`, `polis help pull`) or a usage error
 * of its own flags. Anything else (another command, a bad global flag, `polis state pull`) is
 * polis.cjs's to run: the entry asks this before it runs a command's bundle.
 */
export function runsCommand(argv: readonly string[], command: string): boolean {
  try {
    const parsed = parseArgv(argv);
    if (parsed.kind === "command") return parsed.command.name === command;
    return parsed.kind === "help" && parsed.topic?.name === command;
  } catch (e) {
    return e instanceof UsageError && e.command?.name === command;
  }
}

/**
 * For the build's V8 code caches (scripts/build.mjs): run the common paths once, silently,
 * against the throw-away state root `scratch`, so that their functions are compiled when the
 * cache is taken. "hot" is what state, kill, start, delete and list need; "all" adds create's
 * validation; "pull" is pull alone. Touches nothing outside `scratch` (no container is made;
 * every id is unknown; the pulls store under it).
 */
export async function warmUp(scratch: string, set: "hot" | "all" | "net" | "pull"): Promise<void> {
  const quiet: MainIo = { stdout: () => {}, stderr: () => {}, env: {}, cwd: () => scratch };
  if (set === "pull") return warmUpPull(scratch, quiet);
  const runs = [
    ["--root", scratch, "state", "warm-up"],
    ["--root", scratch, "kill", "warm-up", "9"],
    ["--root", scratch, "kill", "warm-up", "KILL"],
    ["--root", scratch, "start", "warm-up"],
    ["--root", scratch, "delete", "warm-up"],
    ["--root", scratch, "delete", "--force", "warm-up"],
    ["--root", scratch, "list"],
    ["--root", scratch, "list", "--format", "json"],
    ["--root", scratch, "--log", join(scratch, "log.json"), "--log-format", "json", "state", "warm-up"],
  ];
  for (const argv of runs) await main(argv, quiet);
  if (set === "hot") return;
  const bundle = join(scratch, "bundle");
  mkdirSync(bundle, { recursive: true });
  for (const argv of [
    ["--root", scratch, "create", "--bundle", join(scratch, "missing"), "warm-up"],
    ["spec", "--bundle", bundle],
    ["--version"],
  ]) {
    await main(argv, quiet);
  }
  // create's validation, on runc's default config (the rootfs need not exist for this)
  const { loadSpec } = await import("./spec/load.js");
  try {
    loadSpec(bundle);
  } catch {
    // the cache is still worth having without these functions
  }
  if (set === "net") await warmUpNetworkPaths(scratch, quiet);
}

/**
 * "pull": only `pull`'s paths, a real pull (quiet, then with its progress lines) from the
 * registry the build serves (scripts/warm-registry.mjs, POLIS_BUILD_REGISTRY = its reference),
 * each into a fresh root under `scratch`, with an empty config file (not the host's).
 */
async function warmUpPull(scratch: string, quiet: MainIo): Promise<void> {
  const ref = process.env.POLIS_BUILD_REGISTRY;
  if (!ref) throw new Error("warm-up: POLIS_BUILD_REGISTRY (the build's registry) is not set");
  const config = join(scratch, "config.yaml");
  writeFileSync(config, "");
  for (const [dir, flags] of [
    ["quiet", ["-q"]],
    ["lines", []],
  ] as const) {
    const code = await main(
      ["--root", join(scratch, dir), "--config", config, "pull", ...flags, "--tls-verify=false", ref],
      quiet,
    );
    if (code !== 0) throw new Error(`warm-up: polis pull ${ref} failed (exit ${code})`);
  }
}

/** "net" = "all" + the network room's paths (run --network -p, network connect …): src/network/warmup.ts. */
async function warmUpNetworkPaths(scratch: string, quiet: MainIo): Promise<void> {
  const { warmUpNetwork } = await import("./network/warmup.js");
  await warmUpNetwork(scratch, (argv) => main(argv, quiet));
}

// The bundle's entry (dist/polis-entry.cjs) calls runCli itself; this is for running the source.
if (isEntry()) runCli();

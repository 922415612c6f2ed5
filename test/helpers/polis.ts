// Run the built polis CLI the way clients do: a fresh process per call, through the native
// launcher dist/polis (the package's bin). POLIS_NATIVE=0 in the environment (of vitest, or of
// one call) makes the launcher hand every call to node, i.e. runs the suites on the Node path.
import { spawn, spawnSync, type SpawnSyncOptions } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hierarchyMounts, RUN } from "./host.js";
import { REPO } from "./rootfs.js";

/** The executable: the native launcher. */
export const POLIS = join(REPO, "dist", "polis");
/** The Node entry the launcher hands calls to (also runnable alone with node). */
export const POLIS_MJS = join(REPO, "dist", "polis.mjs");

export interface Result {
  code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export function polis(root: string, args: string[], opts: SpawnSyncOptions = {}): Result {
  return polisVia([], root, args, opts);
}

/** Like polis(), with `prefix` (a command and its args) in front of node: e.g. unshare …. */
export function polisVia(prefix: string[], root: string, args: string[], opts: SpawnSyncOptions = {}): Result {
  const env = { ...process.env, ...(opts.env ?? {}) };
  delete env.NODE_EXTRA_CA_CERTS; // saves ~90 ms per call on these machines
  // Output goes to files, not pipes: a created container inherits polis's stdio (as under
  // containerd), and would keep a pipe open long after polis itself has exited.
  const dir = mkdtempSync(join(tmpdir(), "polis-out-"));
  const out = openSync(join(dir, "out"), "w+");
  const err = openSync(join(dir, "err"), "w+");
  try {
    const argv = [...prefix, POLIS, "--root", root, ...args];
    const r = spawnSync(argv[0], argv.slice(1), {
      timeout: 30_000,
      stdio: [opts.input === undefined ? "ignore" : "pipe", out, err],
      ...opts,
      env,
    });
    return {
      code: r.status ?? -1,
      signal: r.signal,
      stdout: readFileSync(join(dir, "out"), "utf8"),
      stderr: readFileSync(join(dir, "err"), "utf8"),
    };
  } finally {
    closeSync(out);
    closeSync(err);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Like polis() but throws with the stderr text when the command fails. */
export function polisOk(root: string, args: string[], opts: SpawnSyncOptions = {}): Result {
  const r = polis(root, args, opts);
  if (r.code !== 0) throw new Error(`polis ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}

export function tempRoot(): string {
  return mkdtempSync(join(tmpdir(), "polis-root-"));
}

let counter = 0;
/** A container id (also its default cgroup name) carrying this run's id, for the leak check. */
export function uniqueId(prefix = "t"): string {
  return `${prefix}-${RUN}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

/** Every cgroup directory named `id` under the host's hierarchies (v1 and the cgroup2 mount). */
export function cgroupDirsNamed(id: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4) return;
    let entries: string[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      if (e === id) found.push(p);
      walk(p, depth + 1);
    }
  };
  for (const h of hierarchyMounts()) walk(h, 0);
  return found;
}

export function nsInode(pid: number | "self", ns: string): string {
  return readlinkSync(`/proc/${pid}/ns/${ns}`);
}

export function pidAlive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

/**
 * Polls `cond` until it holds. The default deadline is generous: it costs nothing when the
 * condition comes, and on a loaded two-core CI machine 5 s cut off correct runs.
 */
export async function waitFor(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for condition");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * polis ARGS without blocking this process (for tests that serve something to polis themselves,
 * such as a registry), NODE_EXTRA_CA_CERTS dropped as the launcher drops it.
 */
export function polisAsync(root: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn(POLIS, ["--root", root, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((res) => child.once("close", (code) => res({ code, stdout, stderr })));
}

/** The environment polis gets from a client: NODE_EXTRA_CA_CERTS dropped, `extra` added, and a launcher trace file when asked. */
export function launcherEnv(extra: Record<string, string> = {}, trace?: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete e.NODE_EXTRA_CA_CERTS;
  if (trace) e.POLIS_LAUNCHER_TRACE = trace;
  return e;
}

/**
 * A process's mounts as its mountinfo lists them, without mount ids and device numbers (they
 * differ between twins), each `[from, to]` pair replaced in the text (a container id by a name).
 */
export function mountsSeenBy(pid: number, replace: [string, string][] = []): string[] {
  return readFileSync(`/proc/${pid}/mountinfo`, "utf8")
    .trim()
    .split("\n")
    .map((l) => {
      const f = l.split(" ");
      const dash = f.indexOf("-");
      let t = [f[3], f[4], f[5], ...f.slice(dash + 1)].join(" ");
      for (const [from, to] of replace) t = t.split(from).join(to);
      return t;
    });
}

// A private podman 4 (+ conmon) installation that uses polis as its OCI runtime.
//
// Everything podman keeps lives under one temp dir (storage, runroot, tmpdir, events, the
// runtime wrapper and its call log); container cgroups go under a cgroup parent of our own, so
// tests can run next to other podman users and leave nothing behind.
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hierarchyMounts, RUN } from "./host.js";
import { POLIS } from "./polis.js";
import { baseRootfs } from "./rootfs.js";

export const IMAGE = "localhost/busybox:polis";

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Podman {
  dir: string;
  /** The runtime podman and conmon call: a sh wrapper named `polis` that logs its argv. */
  runtime: string;
  /** polis's --root, added by the wrapper (podman's own argv, in callsLog, has none). */
  stateRoot: string;
  /** One line per runtime call: the argv, space-separated. */
  callsLog: string;
  /** The launcher's POLIS_LAUNCHER_TRACE file: one line per create/run, native or handed to node and why. */
  launcherTrace: string;
  /** cgroupfs parent for every container (`--cgroup-parent`), e.g. /polis-podman-<pid>-<n>. */
  cgroupParent: string;
  /** podman's global flags and environment for this installation. */
  globalArgs: string[];
  env: NodeJS.ProcessEnv;
  run(args: string[], opts?: { timeout?: number }): Promise<Result>;
  ok(args: string[], opts?: { timeout?: number }): Promise<Result>;
  /** The argv of every runtime call logged so far. */
  calls(): string[];
}

/**
 * The host refuses nofile/nproc above the hard limit (no CAP_SYS_RESOURCE in the bounding set),
 * and podman 4.3 as root asks for 1048576 of both unless the user or containers.conf sets them:
 * runc fails the same way. netns "none" keeps the tests off CNI, iptables and slirp. The network
 * backend is pinned: podman 4.3 picks netavark for a fresh storage root whenever the binary is
 * installed, CNI otherwise, so the host's packages would decide what the tests run.
 */
export const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"

[network]
network_backend = "cni"

[engine]
# conmon only passes --log-format=json --log <file> to runtimes named here.
runtime_supports_json = ["polis", "runc", "crun"]
`;

let counter = 0;

/**
 * Run a command to completion with stdout/stderr in files, not pipes: conmon and the container
 * may inherit podman's stdio and outlive it. Asynchronous, so that a long `podman stop` does not
 * block vitest's worker (its RPC times out when the event loop stalls for a minute).
 */
export async function spawnToFiles(
  dir: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeout: number,
): Promise<Result> {
  const outDir = mkdtempSync(join(dir, "out-"));
  const out = openSync(join(outDir, "out"), "w+");
  const err = openSync(join(outDir, "err"), "w+");
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ["ignore", out, err], env, timeout });
      child.on("error", reject);
      child.on("exit", (c, sig) => resolve(c ?? (sig ? -1 : 0)));
    });
    return {
      code,
      stdout: readFileSync(join(outDir, "out"), "utf8"),
      stderr: readFileSync(join(outDir, "err"), "utf8"),
    };
  } finally {
    closeSync(out);
    closeSync(err);
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** Set up a private podman with polis as the runtime and a local busybox image (CMD /bin/sh). */
export async function setupPodman(): Promise<Podman> {
  const dir = mkdtempSync(join(tmpdir(), "polis-podman-"));
  chmodSync(dir, 0o755);
  const bin = join(dir, "bin");
  mkdirSync(bin);
  const callsLog = join(dir, "calls.log");
  const runtime = join(bin, "polis");
  // podman calls kill/pause/resume/delete with no PATH at all: absolute paths only. podman and
  // conmon never pass --root, so polis would use /var/lib/polis, shared with every other polis on
  // the machine (another checkout's newer schema included): the wrapper gives it a private one.
  const stateRoot = join(dir, "polis-state");
  const launcherTrace = join(dir, "launcher-trace");
  writeFileSync(
    runtime,
    // POLIS_NATIVE=0 (the suites on the Node path) is passed on: podman gives the runtime no env.
    `#!/bin/sh\necho "$*" >> ${callsLog}\n${process.env.POLIS_NATIVE === "0" ? "POLIS_NATIVE=0 " : ""}POLIS_LAUNCHER_TRACE=${launcherTrace} exec ${POLIS} --root ${stateRoot} "$@"\n`,
  );
  chmodSync(runtime, 0o755);
  const conf = join(dir, "containers.conf");
  writeFileSync(conf, CONTAINERS_CONF);
  const cgroupParent = `/polis-podman-${RUN}-${process.pid}-${counter++}`;

  const globalArgs = [
    "--root",
    join(dir, "storage"),
    "--runroot",
    join(dir, "run"),
    "--tmpdir",
    join(dir, "tmp"),
    "--storage-driver",
    "vfs",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
    "--runtime",
    runtime,
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: conf, XDG_RUNTIME_DIR: join(dir, "xdg") };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.CONTAINER_HOST;
  mkdirSync(join(dir, "xdg"), { mode: 0o700 });

  const run = (args: string[], opts: { timeout?: number } = {}) =>
    spawnToFiles(dir, "podman", [...globalArgs, ...args], env, opts.timeout ?? 60_000);
  const ok = async (args: string[], opts?: { timeout?: number }): Promise<Result> => {
    const r = await run(args, opts);
    if (r.code !== 0) throw new Error(`podman ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r;
  };
  const calls = () => (existsSync(callsLog) ? readFileSync(callsLog, "utf8").split("\n").filter(Boolean) : []);

  const p = { dir, runtime, callsLog, launcherTrace, stateRoot, cgroupParent, globalArgs, env, run, ok, calls };
  try {
    const tarball = join(dir, "busybox.tar");
    const tar = spawnSync("tar", ["-C", baseRootfs(), "-cf", tarball, "."], { stdio: "inherit" });
    if (tar.status !== 0) throw new Error("tar of the busybox rootfs failed");
    await ok(["import", "--change", 'CMD ["/bin/sh"]', tarball, IMAGE]);
    rmSync(tarball, { force: true });
  } catch (e) {
    await teardownPodman(p); // nothing of a failed set-up may stay behind
    throw e;
  }
  return p;
}

/** The same podman command line as a shell string (for `script -c`, which needs one). */
export function podmanCommandLine(p: Podman, args: string[]): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    `CONTAINERS_CONF=${q(p.env.CONTAINERS_CONF!)}`,
    `XDG_RUNTIME_DIR=${q(p.env.XDG_RUNTIME_DIR!)}`,
    "podman",
    ...[...p.globalArgs, ...args].map(q),
  ].join(" ");
}

/** Remove every container, the storage, the temp dir and our cgroup parent in every hierarchy. */
export async function teardownPodman(p: Podman): Promise<void> {
  await p.run(["rm", "--all", "--force", "--time", "0"]);
  // vfs storage has no mounts, but podman mounts each container's /dev/shm under the storage dir.
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mnt = line.split(" ")[4];
    if (mnt?.startsWith(p.dir)) spawnSync("umount", ["-l", mnt]);
  }
  rmSync(p.dir, { recursive: true, force: true });
  removeCgroupTree(p.cgroupParent);
}

function removeCgroupTree(path: string): void {
  for (const h of hierarchyMounts()) {
    const top = join(h, path);
    if (!existsSync(top)) continue;
    const rm = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rm(join(d, e.name));
      try {
        rmdirSync(d);
      } catch {
        // still populated (a stray process): leave it for the leak checks to report
      }
    };
    rm(top);
  }
}

/** Every cgroup directory whose path (below a hierarchy root) is `path`, in any hierarchy. */
export function cgroupDirsAt(path: string): string[] {
  return hierarchyMounts()
    .map((h) => join(h, path))
    .filter((d) => existsSync(d));
}

/** Pids of live processes whose argv or cgroup membership mentions `needle`. */
export function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      const cg = readFileSync(`/proc/${e}/cgroup`, "utf8");
      if (cmd.includes(needle) || cg.includes(needle)) found.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Host mount points (as seen by this process) whose path or source mentions `needle`. */
export function mountsMentioning(needle: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(needle));
}

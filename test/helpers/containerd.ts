// A private containerd 1.6 for the integration tests: its own config, root, state and sockets
// under a temp dir, so it never touches (or depends on) a system containerd. stop() also
// removes what containerd's shims leave outside that dir: the runtime root
// /run/containerd/runc/<ns> (the shim always passes that --root), cgroups and stray mounts.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  symlinkSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hierarchyMounts, RUN } from "./host.js";
import { POLIS } from "./polis.js";
import { REPO } from "./rootfs.js";

export interface CriOptions {
  /** Image ref of the sandbox ("pause") container; must be imported into the k8s.io namespace. */
  sandboxImage: string;
  /** Runtime handler name (RunPodSandboxRequest.runtime_handler) that runs `runtimeBinary`. */
  handler: string;
  runtimeBinary: string;
}

export interface ContainerdOptions {
  /** Namespace for ctr; default a unique one. The CRI plugin always uses k8s.io. */
  namespace?: string;
  /** Enable the CRI plugin, configured with one runc-v2 runtime handler. */
  cri?: CriOptions;
}

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Containerd {
  dir: string;
  address: string;
  namespace: string;
  /** containerd's state dir: bundles are at <state>/io.containerd.runtime.v2.task/<ns>/<id>. */
  state: string;
  /** Where the runc-v2 shim points the runtime (its --root). */
  runtimeRoot(ns?: string): string;
  /** Run `ctr -a <address> -n <namespace> ...args` (async: tests may run concurrently). */
  ctr(args: string[], opts?: { ns?: string }): Promise<CmdResult>;
  stop(): Promise<void>;
}

/** Environment without the CA-bundle variable that costs every node start ~90 ms. */
export function quickEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/**
 * A `polis` executable for clients that want a binary path: a symlink to the native launcher of
 * a snapshot of the built package (dist/, the C shim, package.json; node_modules linked). The
 * snapshot keeps a rebuild of dist/ or native/ during a long run from pulling files out from
 * under a container start.
 */
export function writePolisWrapper(dir: string, name = "polis"): string {
  const pkg = join(dir, `${name}-pkg`);
  cpSync(join(REPO, "dist"), join(pkg, "dist"), { recursive: true });
  copyFileSync(join(REPO, "package.json"), join(pkg, "package.json"));
  symlinkSync(join(REPO, "node_modules"), join(pkg, "node_modules"));
  mkdirSync(join(pkg, "native", "build", "Release"), { recursive: true });
  copyFileSync(join(REPO, "native", "build", "Release", "polis-shim"), join(pkg, "native", "build", "Release", "polis-shim"));
  chmodSync(join(pkg, "native", "build", "Release", "polis-shim"), 0o755);
  const path = join(dir, name);
  if (process.env.POLIS_NATIVE === "0") {
    // The suites on the Node path: containerd's shim does not pass our environment through.
    writeFileSync(path, `#!/bin/sh\nPOLIS_NATIVE=0 exec ${join(pkg, "dist", "polis")} "$@"\n`);
    chmodSync(path, 0o755);
  } else {
    symlinkSync(join(pkg, "dist", "polis"), path);
  }
  return path;
}

let seq = 0;
export function uniqueName(prefix: string): string {
  return `${prefix}-${RUN}-${process.pid}-${Date.now().toString(36)}-${seq++}`;
}

function configToml(dir: string, address: string, cri?: CriOptions): string {
  const disabled = [
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
  ];
  if (!cri) disabled.push("io.containerd.grpc.v1.cri");
  let toml = `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ${JSON.stringify(disabled)}

[grpc]
  address = "${address}"
[ttrpc]
  address = "${address}.ttrpc"
[debug]
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
`;
  if (cri) {
    const p = `plugins."io.containerd.grpc.v1.cri"`;
    toml += `
[${p}]
  sandbox_image = "${cri.sandboxImage}"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
[${p}.cni]
  bin_dir = "${dir}/cni/bin"
  conf_dir = "${dir}/cni/conf"
[${p}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "${cri.handler}"
[${p}.containerd.runtimes.${cri.handler}]
  runtime_type = "io.containerd.runc.v2"
[${p}.containerd.runtimes.${cri.handler}.options]
  BinaryName = "${cri.runtimeBinary}"
`;
  }
  return toml;
}

/** Run a command to completion, collecting its output (stdin /dev/null). */
export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<CmdResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: quickEnv() });
    let stdout = "";
    let stderr = "";
    p.stdout!.on("data", (d) => (stdout += d));
    p.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("error", reject);
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function readProc(pid: string, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return "";
  }
}

/** Pids whose command line contains every one of `needles` (NUL-separated argv joined by spaces). */
export function pidsWithCmdline(...needles: string[]): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = readProc(pid, "cmdline").split("\0").join(" ");
    if (needles.every((n) => cmd.includes(n))) out.push(Number(pid));
  }
  return out;
}

/** Live (non-zombie) pids whose cgroup (any hierarchy) is `cgPath` or below it. */
export function pidsInCgroup(cgPath: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cg = readProc(pid, "cgroup");
    if (!cg.split("\n").some((l) => l.endsWith(`:${cgPath}`) || l.includes(`:${cgPath}/`))) continue;
    if (/^State:\s+Z/m.test(readProc(pid, "status"))) continue;
    out.push(Number(pid));
  }
  return out;
}

/** cgroup directories (v1 controllers and the unified tree) that exist for `cgPath`. */
export function cgroupDirs(cgPath: string): string[] {
  const out: string[] = [];
  for (const h of hierarchyMounts()) {
    const d = join(h, cgPath);
    try {
      if (statSync(d).isDirectory()) out.push(d);
    } catch {
      /* not there */
    }
  }
  return out;
}

/** Remove a cgroup subtree, deepest first (rmdir is all cgroupfs allows). */
function rmCgroupTree(dir: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return;
  }
  for (const e of entries) rmCgroupTree(join(dir, e));
  try {
    rmdirSync(dir);
  } catch {
    /* busy: a leftover process; the leak checks report it */
  }
}

/** Mount points at or below `prefix`, deepest first. */
export function mountsUnder(prefix: string): string[] {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p): p is string => !!p && (p === prefix || p.startsWith(prefix + "/")));
  return points.reverse();
}

export async function startContainerd(opts: ContainerdOptions = {}): Promise<Containerd> {
  // Short path: the grpc and ttrpc sockets must fit in sun_path (108 bytes).
  const dir = mkdtempSync(join(tmpdir(), "polis-ctrd-"));
  const address = join(dir, "c.sock");
  const namespace = opts.namespace ?? (opts.cri ? "k8s.io" : uniqueName("polis"));
  writeFileSync(join(dir, "config.toml"), configToml(dir, address, opts.cri));
  const log = join(dir, "containerd.log");
  writeFileSync(log, "");
  const { openSync, closeSync } = await import("node:fs");
  const logFd = openSync(log, "a");
  const proc: ChildProcess = spawn("/usr/bin/containerd", ["--config", join(dir, "config.toml")], {
    stdio: ["ignore", logFd, logFd],
    env: quickEnv(),
  });
  closeSync(logFd);
  let exited = false;
  proc.on("exit", () => (exited = true));

  const ctr = (args: string[], o: { ns?: string } = {}) => run("/usr/bin/ctr", ["-a", address, "-n", o.ns ?? namespace, ...args]);

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`containerd exited at start-up:\n${readFileSync(log, "utf8").slice(-3000)}`);
    if (existsSync(address) && (await ctr(["version"])).code === 0) break;
    if (Date.now() > deadline) throw new Error(`containerd did not come up:\n${readFileSync(log, "utf8").slice(-3000)}`);
    await sleep(100);
  }

  const runtimeRoot = (ns = namespace) => join("/run/containerd/runc", ns);
  const usedNamespaces = new Set<string>([namespace]);

  const stop = async () => {
    // Shims outlive containerd by design; find ours by the address they were given.
    const shims = () => pidsWithCmdline("containerd-shim", `-address ${address}`);
    if (!exited) {
      proc.kill("SIGTERM");
      for (let i = 0; i < 100 && !exited; i++) await sleep(100);
      if (!exited) proc.kill("SIGKILL");
    }
    for (const pid of shims()) {
      // A killed shim leaves its socket, named sha256(<address>/<ns>/<id>), in /run/containerd/s.
      const argv = readProc(String(pid), "cmdline").split("\0");
      const arg = (flag: string) => argv[argv.indexOf(flag) + 1] ?? "";
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
      const hash = createHash("sha256")
        .update(join(address, arg("-namespace"), arg("-id")))
        .digest("hex");
      rmSync(join("/run/containerd/s", hash), { force: true });
    }
    // Containers a failed test left behind: polis knows them by its state under the runtime root.
    for (const ns of usedNamespaces) {
      const root = runtimeRoot(ns);
      if (!existsSync(root)) continue;
      const list = spawnSync(POLIS, ["--root", root, "list", "-q"], { encoding: "utf8", env: quickEnv() });
      for (const id of String(list.stdout ?? "")
        .split("\n")
        .filter(Boolean)) {
        if (!existsSync(join(dir, "state", "io.containerd.runtime.v2.task", ns, id))) continue; // not ours
        spawnSync(POLIS, ["--root", root, "delete", "--force", id], { env: quickEnv() });
      }
      const left = spawnSync(POLIS, ["--root", root, "list", "-q"], { encoding: "utf8", env: quickEnv() });
      // k8s.io is shared by every CRI containerd: only remove the root when nothing else lives there.
      if (String(left.stdout ?? "").trim() === "") rmSync(root, { recursive: true, force: true });
    }
    for (const m of mountsUnder(dir)) spawnSync("umount", ["-l", m]);
    rmSync(dir, { recursive: true, force: true });
    // ctr's containers live in /<ns>/<id>; the per-namespace parent is ours alone (k8s.io excepted).
    for (const ns of usedNamespaces) if (ns !== "k8s.io") removeCgroup(`/${ns}`);
  };

  return {
    dir,
    address,
    namespace,
    state: join(dir, "state"),
    runtimeRoot,
    ctr: (args, o = {}) => {
      if (o.ns) usedNamespaces.add(o.ns);
      return ctr(args, o);
    },
    stop,
  };
}

/** Remove `cgPath` (e.g. the per-namespace parent containerd made) from every hierarchy. */
export function removeCgroup(cgPath: string): void {
  for (const d of cgroupDirs(cgPath)) rmCgroupTree(d);
}

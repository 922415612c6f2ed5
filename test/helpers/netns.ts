// A throw-away network + mount namespace for network tests: a holder process made with
// `unshare --net --mount` (private propagation; /sys stays the host's for the cgroup tree), and every command of the test that
// touches networking (polis, ip, nft, wget in a container) entered into it with nsenter. The
// host's interfaces, routes and firewall are never touched; killing the holder (by pid) ends the
// namespace and everything in it (bridges, veths, nftables tables).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { POLIS, type Result } from "./polis.js";

export class TestNetns {
  private constructor(
    private readonly holder: ChildProcess,
    readonly pid: number,
  ) {}

  static async make(): Promise<TestNetns> {
    const holder = spawn(
      "unshare",
      ["--net", "--mount", "--propagation", "private", "sh", "-c", "ip link set lo up && echo ready && exec sleep 100000"],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.once("data", () => resolve());
      holder.once("exit", (c) => reject(new Error(`netns holder exited ${c}`)));
    });
    return new TestNetns(holder, holder.pid!);
  }

  /** Runs a program inside the namespace; output captured through files (containers inherit stdio). */
  exec(cmd: string, args: string[], opts: { env?: Record<string, string>; input?: string; timeout?: number } = {}): Result {
    const env: Record<string, string | undefined> = { ...process.env, ...(opts.env ?? {}) };
    delete env.NODE_EXTRA_CA_CERTS;
    const dir = mkdtempSync(join(tmpdir(), "polis-nsout-"));
    const out = openSync(join(dir, "out"), "w+");
    const err = openSync(join(dir, "err"), "w+");
    try {
      const r = spawnSync("nsenter", ["-t", String(this.pid), "-n", "-m", "--", cmd, ...args], {
        env,
        timeout: opts.timeout ?? 60_000,
        input: opts.input,
        stdio: [opts.input === undefined ? "ignore" : "pipe", out, err],
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

  /** `sh -c` inside the namespace. */
  sh(script: string, timeout?: number): Result {
    return this.exec("sh", ["-c", script], { timeout });
  }

  polis(root: string, args: string[], env: Record<string, string> = {}): Result {
    return this.exec(POLIS, ["--root", root, ...args], { env });
  }

  polisOk(root: string, args: string[], env: Record<string, string> = {}): Result {
    const r = this.polis(root, args, env);
    if (r.code !== 0) throw new Error(`polis ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r;
  }

  /** The command spawned (not waited for) inside the namespace: for polis processes to SIGKILL. */
  /** polis in the namespace, in the background; its stderr is kept in `stderr` (for a failure's message). */
  spawnPolis(
    root: string,
    args: string[],
  ): ChildProcess & { stderr: NonNullable<ChildProcess["stderr"]>; errText: () => string } {
    const env: Record<string, string | undefined> = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn("nsenter", ["-t", String(this.pid), "-n", "-m", "--", POLIS, "--root", root, ...args], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let text = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (text += d));
    return Object.assign(child, { errText: () => text }) as ChildProcess & {
      stderr: NonNullable<ChildProcess["stderr"]>;
      errText: () => string;
    };
  }

  close(): void {
    try {
      process.kill(this.pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}

/** Why network tests cannot run here, or undefined when they can. */
export function networkTestsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "network tests need root";
  for (const [bin, pkg] of [
    ["unshare", "util-linux"],
    ["nsenter", "util-linux"],
    ["nft", "nftables"],
    ["ip", "iproute2"],
  ]) {
    if (spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0) return `${bin} missing (package ${pkg})`;
  }
  for (const p of ["bridge", "loopback", "static"]) {
    if (spawnSync("test", ["-x", `/usr/lib/cni/${p}`]).status !== 0)
      return `/usr/lib/cni/${p} missing (package containernetworking-plugins)`;
  }
  return undefined;
}

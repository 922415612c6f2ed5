// Containers for network tests, made and entered inside a TestNetns.
import { rmSync } from "node:fs";
import { busyboxBundle } from "./rootfs.js";
import { uniqueId } from "./polis.js";
import type { TestNetns } from "./netns.js";
import type { Result } from "./polis.js";
import { TEST_CGROUP_PARENT } from "./host.js";

export class NetContainers {
  private readonly bundles: string[] = [];
  constructor(
    readonly ns: TestNetns,
    readonly root: string,
  ) {}

  bundle(args: string[], id: string): string {
    const b = busyboxBundle((c) => {
      c.process.args = args;
      c.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${id}`;
    });
    this.bundles.push(b);
    return b;
  }

  /** `polis create` + `start` (no network flags); returns the id. `prepare` may edit the bundle first. */
  started(args: string[], prepare: (bundle: string) => void = () => {}): string {
    const id = uniqueId("net");
    const bundle = this.bundle(args, id);
    prepare(bundle);
    this.ns.polisOk(this.root, ["create", "--bundle", bundle, id]);
    this.ns.polisOk(this.root, ["start", id]);
    return id;
  }

  /** `polis run -d` with extra flags (--network, -p …); returns the id. */
  run(flags: string[], args: string[], id = uniqueId("net")): string {
    this.ns.polisOk(this.root, ["run", "-d", "--bundle", this.bundle(args, id), ...flags, id]);
    return id;
  }

  pid(id: string): number {
    return JSON.parse(this.ns.polisOk(this.root, ["state", id]).stdout).pid;
  }

  /** A shell command inside the container (all its namespaces, its root). */
  sh(id: string, cmd: string, timeout = 20_000): Result {
    return this.ns.exec("nsenter", ["-t", String(this.pid(id)), "-n", "-m", "-p", "-u", "-r", "-w", "--", "/bin/sh", "-c", cmd], {
      timeout,
    });
  }

  cleanup(): void {
    for (const c of JSON.parse(this.ns.polis(this.root, ["list", "--format", "json"]).stdout || "null") ?? []) {
      this.ns.polis(this.root, ["delete", "--force", c.id]);
    }
    for (const b of this.bundles) rmSync(b, { recursive: true, force: true });
    rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * An HTTP GET with busybox wget, bounded by `timeout` (Debian 12's busybox-static wget segfaults
 * with its own -T; busybox nc would race its stdin EOF against the answer under load).
 */
export function httpGet(host: string, port = 80, path = "/passwd", busybox = ""): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return `${busybox}timeout 4 ${busybox}wget -q -O - http://${h}:${port}${path}`;
}

/** The same from the (test) host, with the host's busybox. */
export function hostHttpGet(host: string, port = 80, path = "/passwd"): string {
  return httpGet(host, port, path, "busybox ");
}

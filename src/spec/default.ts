// `polis spec`: the same starting config.json as `runc spec` (and `runc spec --rootless`), so
// tutorials written for runc work unchanged — only ociVersion says which spec polis implements.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PolisError } from "../errors.js";
import { OCI_VERSION, type Mount, type Spec } from "./types.js";

export interface DefaultSpecOptions {
  /** a config for an unprivileged user: user namespace mapping the caller to root, no network ns */
  rootless?: boolean;
}

const CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

export function defaultSpec({ rootless = false }: DefaultSpecOptions = {}): Spec {
  const mounts: Mount[] = [
    { destination: "/proc", type: "proc", source: "proc" },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      // gid=5 (tty) only exists when the container's gid 5 is mapped, which a rootless map is not
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", ...(rootless ? [] : ["gid=5"])],
    },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    // without its own network namespace, a fresh sysfs cannot be mounted: bind the host's instead
    rootless
      ? { destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] }
      : { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
  ];

  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ["sh"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: { bounding: [...CAPS], effective: [...CAPS], permitted: [...CAPS], ambient: [...CAPS] },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "runc",
    mounts,
    linux: {},
  };

  const linux = spec.linux!;
  if (rootless) {
    linux.uidMappings = [{ containerID: 0, hostID: process.geteuid?.() ?? 0, size: 1 }];
    linux.gidMappings = [{ containerID: 0, hostID: process.getegid?.() ?? 0, size: 1 }];
    linux.namespaces = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "user" }];
  } else {
    linux.resources = { devices: [{ allow: false, access: "rwm" }] };
    linux.namespaces = [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  }
  linux.maskedPaths = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
  ];
  linux.readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
  return spec;
}

/**
 * Writes `<bundleDir>/config.json` with the default spec, never replacing an existing one
 * (same message as runc). Returns the path written.
 */
export function writeDefaultSpec(bundleDir: string, options: DefaultSpecOptions = {}): string {
  const file = join(bundleDir, "config.json");
  try {
    // "wx": the existence check and the create are one step, so two callers cannot both write
    writeFileSync(file, JSON.stringify(defaultSpec(options), null, "\t"), { flag: "wx" });
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    if (errno === "EEXIST")
      throw new PolisError("File config.json exists. Remove it first", { errno, step: "write config.json" });
    throw new PolisError(`config.json: cannot write ${file} (${errno})`, { errno, step: "write config.json" });
  }
  return file;
}

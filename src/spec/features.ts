// `polis features`: the runtime-spec features document, i.e. what this runtime accepts in
// config.json *and honours*. Built from the same name tables and functions the validator and the
// plan builders use, and for seccomp from what the host's libseccomp and kernel support, so that
// nothing is listed that polis would reject or silently ignore.
import { readFileSync } from "node:fs";
import { parseMountOptions } from "../linux/mounts.js";
import { seccompSupport, type SeccompSupport } from "../seccomp/support.js";
import { CAPABILITIES, HOOK_NAMES, MOUNT_OPTIONS, NAMESPACE_TYPES } from "./names.js";
import { OCI_VERSION } from "./types.js";

export interface Features {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks: string[];
  mountOptions: string[];
  annotations?: Record<string, string>;
  linux: {
    namespaces: string[];
    capabilities: string[];
    cgroup: { v1: boolean; v2: boolean; systemd: boolean; systemdUser: boolean; rdma: boolean };
    seccomp: SeccompSupport;
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    intelRdt: { enabled: boolean };
    mountExtensions: { idmap: { enabled: boolean } };
    netDevices: { enabled: boolean };
  };
}

export interface FeatureProbes {
  seccomp?: () => SeccompSupport;
  /** the host's cgroup controllers (v1 and v2) */
  controllers?: () => Set<string>;
}

export function features(annotations?: Record<string, string>, probes: FeatureProbes = {}): Features {
  const controllers = (probes.controllers ?? hostControllers)();
  const doc: Features = {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: [...HOOK_NAMES],
    mountOptions: supportedMountOptions(),
    linux: {
      namespaces: Object.keys(NAMESPACE_TYPES).sort(),
      capabilities: Object.keys(CAPABILITIES), // in bit order, like runc
      // polis writes rdma.max (src/cgroups/rdma.ts), but only a host with the controller has one
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: controllers.has("rdma") },
      seccomp: (probes.seccomp ?? seccompSupport)(),
      // src/spec/semantic.ts checkLsm: profiles and labels are refused at create
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      // the mount planner refuses idmap/ridmap (no MOUNT_ATTR_IDMAP support in the shim)
      mountExtensions: { idmap: { enabled: false } },
      netDevices: { enabled: false },
    },
  };
  if (annotations && Object.keys(annotations).length > 0) doc.annotations = { ...annotations };
  return doc;
}

/**
 * The mount options the planner implements: those parseMountOptions accepts and turns into flags,
 * propagation or attributes. A name it refuses (idmap) or passes on to mount(2) as filesystem
 * data (tmpcopyup, which polis does not implement) is not listed.
 */
export function supportedMountOptions(): string[] {
  return Object.keys(MOUNT_OPTIONS)
    .filter((name) => {
      try {
        return parseMountOptions([name], "mountOptions").data === "";
      } catch {
        return false;
      }
    })
    .sort();
}

/** Controllers the host has: enabled v1 hierarchies (/proc/cgroups) and cgroup2's list. */
function hostControllers(): Set<string> {
  const found = new Set<string>();
  try {
    for (const line of readFileSync("/proc/cgroups", "utf8").split("\n")) {
      const [name, , , enabled] = line.split("\t");
      if (name && !name.startsWith("#") && enabled === "1") found.add(name);
    }
  } catch {
    // no /proc/cgroups: a cgroup2-only kernel
  }
  for (const path of ["/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/unified/cgroup.controllers"]) {
    try {
      for (const c of readFileSync(path, "utf8").trim().split(/\s+/)) if (c) found.add(c);
    } catch {
      // not this layout
    }
  }
  return found;
}

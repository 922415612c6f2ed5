// `polis features`: the runtime-spec features document, i.e. what this runtime accepts in
// config.json. Built from the same name tables the validator and the plan builders use.
import {
  CAPABILITIES,
  HOOK_NAMES,
  MOUNT_OPTIONS,
  NAMESPACE_TYPES,
  SECCOMP_ACTIONS,
  SECCOMP_ARCHS,
  SECCOMP_FLAGS,
  SECCOMP_OPERATORS,
} from "./names.js";
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
    seccomp: {
      enabled: boolean;
      actions: string[];
      operators: string[];
      archs: string[];
      knownFlags: string[];
      supportedFlags: string[];
    };
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    intelRdt: { enabled: boolean };
    mountExtensions: { idmap: { enabled: boolean } };
    netDevices: { enabled: boolean };
  };
}

export function features(annotations?: Record<string, string>): Features {
  const doc: Features = {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: [...HOOK_NAMES],
    mountOptions: Object.keys(MOUNT_OPTIONS).sort(),
    linux: {
      namespaces: Object.keys(NAMESPACE_TYPES).sort(),
      capabilities: Object.keys(CAPABILITIES), // in bit order, like runc
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: {
        enabled: true,
        actions: Object.keys(SECCOMP_ACTIONS).sort(),
        operators: Object.keys(SECCOMP_OPERATORS).sort(),
        // filters are built by libseccomp (src/seccomp/), which knows every one of these
        archs: Object.keys(SECCOMP_ARCHS).sort(),
        knownFlags: Object.keys(SECCOMP_FLAGS),
        supportedFlags: Object.keys(SECCOMP_FLAGS),
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: true } },
      netDevices: { enabled: false },
    },
  };
  if (annotations && Object.keys(annotations).length > 0) doc.annotations = { ...annotations };
  return doc;
}

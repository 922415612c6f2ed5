// The lifecycle's view of cgroups: build the manager from config.json or from the state record.
import { cgroupManager, cgroupManagerFromPaths } from "../cgroups/index.js";
import type { CgroupManager } from "../cgroups/types.js";
import type { DeviceCgroupRule, Resources, Spec } from "../spec/types.js";
import type { ContainerRecord } from "../state/types.js";
import type { GlobalOptions } from "./options.js";

export function newCgroupManager(g: GlobalOptions, spec: Spec, id: string): CgroupManager {
  return cgroupManager({ cgroupsPath: spec.linux?.cgroupsPath, id, systemd: g.systemdCgroup });
}

/** The container's cgroup as recorded at create (config.json may have changed since). */
export function recordedCgroup(rec: ContainerRecord): CgroupManager {
  return cgroupManagerFromPaths(rec.cgroupPaths);
}

const rule = (type: string, major: number | null, minor: number | null, access = "rwm"): DeviceCgroupRule => ({
  allow: true,
  type,
  major,
  minor,
  access,
});

/**
 * Devices every container may use whatever its rules say, as runc allows them: mknod of any
 * node (the node alone grants nothing), the standard /dev entries, ptys and /dev/net/tun.
 */
const ALWAYS_ALLOWED: DeviceCgroupRule[] = [
  rule("c", null, null, "m"),
  rule("b", null, null, "m"),
  rule("c", 1, 3), // null
  rule("c", 1, 8), // random
  rule("c", 1, 7), // full
  rule("c", 5, 0), // tty
  rule("c", 1, 5), // zero
  rule("c", 1, 9), // urandom
  rule("c", 136, null), // /dev/pts/*
  rule("c", 5, 2), // ptmx
  rule("c", 10, 200), // tun
];

/**
 * The resources the cgroup gets, as runc builds them: config.json's device rules (none means
 * "deny all", runc's starting point), then runc's always-allowed devices. linux.devices entries
 * add no rule: the config's rules decide whether a node made in /dev can be opened (a deny-all
 * there must hold for /dev/kmsg too), exactly as with runc.
 */
export function effectiveResources(spec: Spec): Resources {
  const res = spec.linux?.resources ?? {};
  const own = res.devices?.length ? res.devices : [{ allow: false, access: "rwm" }];
  return { ...res, devices: [...own, ...ALWAYS_ALLOWED] };
}

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

const rule = (type: string, major: number | null, minor: number | null, access = "rwm"): DeviceCgroupRule => ({ allow: true, type, major, minor, access });

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
 * The resources the cgroup gets: config.json's device rules first (typically "deny all"), then
 * runc's always-allowed devices, then an allow rule per linux.devices entry, so that the nodes
 * the container was promised can actually be opened.
 */
export function effectiveResources(spec: Spec): Resources | undefined {
  const res = spec.linux?.resources;
  if (!res?.devices) return res;
  const fromDevices = (spec.linux?.devices ?? [])
    .filter((d) => d.type !== "p")
    .map((d) => rule(d.type === "u" ? "c" : d.type, d.major ?? null, d.minor ?? null));
  return { ...res, devices: [...res.devices, ...ALWAYS_ALLOWED, ...fromDevices] };
}

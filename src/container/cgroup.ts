// The lifecycle's view of cgroups: build the manager from config.json or from the state record.
import { cgroupManager, cgroupManagerFromPaths } from "../cgroups/index.js";
import type { CgroupManager } from "../cgroups/types.js";
import type { Spec } from "../spec/types.js";
import type { ContainerRecord } from "../state/types.js";
import type { GlobalOptions } from "./options.js";

export function newCgroupManager(g: GlobalOptions, spec: Spec, id: string): CgroupManager {
  return cgroupManager({ cgroupsPath: spec.linux?.cgroupsPath, id, systemd: g.systemdCgroup });
}

/** The container's cgroup as recorded at create (config.json may have changed since). */
export function recordedCgroup(rec: ContainerRecord): CgroupManager {
  return cgroupManagerFromPaths(rec.cgroupPaths);
}

// `polis update`: merge the requested resources into the container's recorded config, apply them
// to its cgroup, and record the result so that later updates start from what is in force.
import { PolisError } from "../errors.js";
import type { Resources } from "../spec/types.js";
import { validateResources } from "../spec/load.js";
import { effectiveResources, recordedCgroup } from "./cgroup.js";
import { liveStatus, mustGet, openStore } from "./context.js";
import type { GlobalOptions, UpdateOptions } from "./options.js";

export function updateContainer(g: GlobalOptions, o: UpdateOptions): void {
  validateResources(o.resources);
  const store = openStore(g);
  try {
    const rec = mustGet(store, o.id);
    const cgroup = recordedCgroup(rec);
    if (liveStatus(rec, () => cgroup.isFrozen()) === "stopped") throw new PolisError("container not running");
    const config = structuredClone(rec.config);
    config.linux = { ...config.linux, resources: mergeResources(config.linux?.resources ?? {}, o.resources) };
    // New device rules replace the old ones, and the cgroup gets them as create gives them: with
    // runc's always-allowed devices after them (only the difference is written: nothing in use
    // loses its device meanwhile).
    const devices = o.resources.devices ? effectiveResources(config).devices : undefined;
    cgroup.apply(devices ? { ...o.resources, devices } : o.resources);
    store.update(o.id, { config });
  } finally {
    store.close();
  }
}

/** Field-wise merge, one level down (memory.limit replaces memory.limit, keeps memory.swap). */
export function mergeResources(current: Resources, change: Resources): Resources {
  const out: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(change)) {
    const old = out[key];
    const bothObjects =
      value && typeof value === "object" && !Array.isArray(value) && old && typeof old === "object" && !Array.isArray(old);
    out[key] = bothObjects ? { ...(old as object), ...(value as object) } : value;
  }
  return out as Resources;
}

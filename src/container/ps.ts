// `polis ps`: the container's processes are the processes in its cgroup. A stopped container has
// none (runc prints just the header, or `null`, and succeeds).
import { recordedCgroup } from "./cgroup.js";
import { liveStatus, mustGet, openStore } from "./context.js";
import type { GlobalOptions } from "./options.js";

export function containerPids(g: GlobalOptions, id: string): number[] {
  const store = openStore(g);
  try {
    const rec = mustGet(store, id);
    const cgroup = recordedCgroup(rec);
    if (liveStatus(rec, () => cgroup.isFrozen()) === "stopped") return [];
    return cgroup.pids();
  } finally {
    store.close();
  }
}

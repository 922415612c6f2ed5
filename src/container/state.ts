import { isFrozenAt } from "../cgroups/freezer.js";
import type { State } from "../spec/types.js";
import { liveStatus, mustGet, openStore, stateOf } from "./context.js";
import type { GlobalOptions } from "./options.js";
import { phase } from "../timing.js";

export function containerState(g: GlobalOptions, id: string): State {
  phase("lifecycle module load");
  const store = openStore(g);
  try {
    const rec = mustGet(store, id);
    // The freezer check alone, not the cgroup manager: `state` is the hottest command there is.
    const state = stateOf(
      rec,
      liveStatus(rec, () => isFrozenAt(rec.cgroupPaths)),
    );
    phase("status");
    return state;
  } finally {
    store.close();
  }
}

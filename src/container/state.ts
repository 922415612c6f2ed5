import type { State } from "../spec/types.js";
import { recordedCgroup } from "./cgroup.js";
import { liveStatus, mustGet, openStore, stateOf } from "./context.js";
import type { GlobalOptions } from "./options.js";

export function containerState(g: GlobalOptions, id: string): State {
  const store = openStore(g);
  try {
    const rec = mustGet(store, id);
    return stateOf(rec, liveStatus(rec, () => recordedCgroup(rec).isFrozen()));
  } finally {
    store.close();
  }
}

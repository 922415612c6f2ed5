import { isFrozenAt } from "../cgroups/freezer.js";
import { liveStatus, openStore, stateOf } from "./context.js";
import type { GlobalOptions, ListEntry } from "./options.js";

export function listContainers(g: GlobalOptions): ListEntry[] {
  const store = openStore(g);
  try {
    return store.list().map((rec) => {
      const s = stateOf(
        rec,
        liveStatus(rec, () => isFrozenAt(rec.cgroupPaths)),
      );
      return {
        id: s.id,
        pid: s.pid,
        status: s.status,
        bundle: s.bundle,
        created: s.created!,
        owner: s.owner!,
        annotations: s.annotations,
      };
    });
  } finally {
    store.close();
  }
}

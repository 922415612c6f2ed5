// `polis pause` / `polis resume`: the cgroup freezer (v1 freezer.state, v2 cgroup.freeze).
import { PolisError } from "../errors.js";
import { recordedCgroup } from "./cgroup.js";
import { liveStatus, mustGet, openStore } from "./context.js";
import type { GlobalOptions } from "./options.js";

export function pauseContainer(g: GlobalOptions, id: string): void {
  const store = openStore(g);
  try {
    const rec = mustGet(store, id);
    const cgroup = recordedCgroup(rec);
    const status = liveStatus(rec, () => cgroup.isFrozen());
    if (status === "paused") throw new PolisError("container already paused");
    if (status !== "running" && status !== "created") throw new PolisError("container not running");
    cgroup.freeze();
  } finally {
    store.close();
  }
}

export function resumeContainer(g: GlobalOptions, id: string): void {
  const store = openStore(g);
  try {
    const rec = mustGet(store, id);
    const cgroup = recordedCgroup(rec);
    if (liveStatus(rec, () => cgroup.isFrozen()) !== "paused") throw new PolisError("container not paused");
    cgroup.thaw();
  } finally {
    store.close();
  }
}

// `polis kill`: signal the init, or with --all every process in the container's cgroup.
import { PolisError } from "../errors.js";
import { recordedCgroup } from "./cgroup.js";
import { liveStatus, mustGet, openStore } from "./context.js";
import type { GlobalOptions, KillOptions } from "./options.js";

export function killContainer(g: GlobalOptions, o: KillOptions): void {
  const store = openStore(g);
  try {
    const rec = mustGet(store, o.id);
    const cgroup = recordedCgroup(rec);
    const status = liveStatus(rec, () => cgroup.isFrozen());
    // containerd and podman match this exact text.
    if (status === "stopped" || status === "creating") throw new PolisError("container not running");
    if (o.all) {
      cgroup.killAll(o.signal);
      return;
    }
    try {
      process.kill(rec.pid!, o.signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") throw new PolisError("container not running");
      throw err;
    }
  } finally {
    store.close();
  }
}

// `polis kill`: signal the init, or with --all every process in the container's cgroup.
import { isFrozenAt } from "../cgroups/freezer.js";
import { PolisError } from "../errors.js";
import { liveStatus, mustGet, openStore } from "./context.js";
import type { GlobalOptions, KillOptions } from "./options.js";
import { elapsedMs, phase } from "../timing.js";

export async function killContainer(g: GlobalOptions, o: KillOptions): Promise<void> {
  phase("lifecycle module load");
  const store = openStore(g);
  try {
    const rec = mustGet(store, o.id);
    const status = liveStatus(rec, () => isFrozenAt(rec.cgroupPaths));
    if (status === "creating") throw new PolisError("container not running");
    // Like runc, --all still sweeps the cgroup after the init has exited: containerd sends
    // `kill --all 9` then, for containers whose processes outlive their init.
    if (status === "stopped" && !o.all) throw new PolisError("container not running"); // containerd and podman match this text
    if (o.all) {
      // Only --all needs the cgroup manager; the plain kill stays off its import cost.
      const { recordedCgroup } = await import("./cgroup.js");
      recordedCgroup(rec).killAll(o.signal);
      store.appendEvent({
        type: "container",
        action: "kill",
        id: o.id,
        attributes: { signal: o.signal, all: true, durationMs: elapsedMs() },
      });
      return;
    }
    try {
      process.kill(rec.pid!, o.signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") throw new PolisError("container not running");
      throw err;
    }
    store.appendEvent({ type: "container", action: "kill", id: o.id, attributes: { signal: o.signal, durationMs: elapsedMs() } });
  } finally {
    store.close();
  }
}

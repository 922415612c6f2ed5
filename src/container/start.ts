// `polis start`: run startContainer hooks inside the container, release the init through its
// exec fifo, then poststart hooks. The fifo's disappearance is what marks the container running.
import { closeSync, constants, openSync, readSync, unlinkSync } from "node:fs";
import { isFrozenAt } from "../cgroups/freezer.js";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import { sleepMs } from "../sleep.js";
import type { ContainerRecord } from "../state/types.js";
import { fifoPath, initAlive, liveStatus, mustGet, openStore, stateOf } from "./context.js";
import type { GlobalOptions } from "./options.js";
import type { Store } from "../state/store.js";
import { elapsedMs, phase } from "../timing.js";

export async function startContainer(g: GlobalOptions, id: string): Promise<void> {
  phase("lifecycle module load");
  const store = openStore(g);
  try {
    const rec = mustGet(store, id);
    const status = liveStatus(rec, () => isFrozenAt(rec.cgroupPaths));
    if (status === "stopped") throw new PolisError("cannot start a container that has stopped");
    if (status !== "created") throw new PolisError("cannot start an already running container");
    phase("status");
    await startCreated(store, rec);
  } finally {
    store.close();
  }
}

export async function startCreated(store: Store, rec: ContainerRecord): Promise<void> {
  // Claim the start before anything runs: of two concurrent starts, exactly one gets past here.
  // The container still reads as created until the fifo is gone.
  if (!store.transition(rec.id, "created", { phase: "running" }))
    throw new PolisError("cannot start an already running container");
  const hooks = rec.config.hooks;
  // The hook runner and the shim plumbing are loaded only when there are hooks to run.
  if (hooks?.startContainer?.length) {
    const [{ runHooks }, { hookSpawnerInContainer }, { seccompFor }] = await Promise.all([
      import("../hooks/run.js"),
      import("./enter.js"),
      import("./exec.js"),
    ]);
    try {
      // runc runs them from its init once it is the container's process (user, capabilities,
      // no_new_privs, seccomp filter loaded), right before the exec: so do we.
      await runHooks("startContainer", hooks.startContainer, stateOf(rec, "created"), {
        spawn: hookSpawnerInContainer(rec.pid!, rec.config, rec.cgroupPaths, {
          process: rec.config.process,
          seccomp: await seccompFor(rec, "created"),
        }),
      });
    } catch (err) {
      // The spec: a startContainer failure stops the container; the user must still delete it.
      process.kill(rec.pid!, "SIGKILL");
      throw err;
    }
  }
  releaseInit(rec);
  store.appendEvent({ type: "container", action: "start", id: rec.id, attributes: { durationMs: elapsedMs() } });
  phase("init released");
  if (hooks?.poststart?.length) {
    const { runHooks } = await import("../hooks/run.js");
    try {
      await runHooks("poststart", hooks.poststart, stateOf(rec, "running"));
    } catch (err) {
      log.warn((err as Error).message);
    }
  }
}

/**
 * Open the exec fifo for reading and take the init's one byte. Opened non-blocking, so that an
 * init that died meanwhile cannot hang us: poll until the byte arrives or the init is gone.
 */
function releaseInit(rec: ContainerRecord): void {
  const path = fifoPath(rec);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    // Another start took the fifo first.
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new PolisError("cannot start an already running container");
    throw err;
  }
  try {
    const buf = Buffer.alloc(1);
    for (let i = 0; ; i++) {
      let n = 0;
      try {
        n = readSync(fd, buf, 0, 1, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      }
      if (n === 1) break;
      // A process that exits at once may have written its byte just after our last read.
      if (!initAlive(rec) && !readOnce(fd, buf)) throw new PolisError("cannot start a container that has stopped");
      if (!initAlive(rec)) break;
      if (i > 10_000) throw new PolisError("start: the container init did not answer on its exec fifo");
      sleepMs(i < 100 ? 1 : 10);
    }
  } finally {
    closeSync(fd);
  }
  unlinkSync(path);
}

function readOnce(fd: number, buf: Buffer): boolean {
  try {
    return readSync(fd, buf, 0, 1, null) === 1;
  } catch {
    return false;
  }
}

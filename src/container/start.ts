// `polis start`: run startContainer hooks inside the container, release the init through its
// exec fifo, then poststart hooks. The fifo's disappearance is what marks the container running.
import { closeSync, constants, openSync, readSync, unlinkSync } from "node:fs";
import { PolisError } from "../errors.js";
import { runHooks } from "../hooks/run.js";
import { log } from "../log.js";
import type { ContainerRecord } from "../state/types.js";
import { recordedCgroup } from "./cgroup.js";
import { fifoPath, initAlive, liveStatus, mustGet, openStore, stateOf } from "./context.js";
import { hookSpawnerInContainer } from "./enter.js";
import type { GlobalOptions } from "./options.js";
import type { Store } from "../state/store.js";

export async function startContainer(g: GlobalOptions, id: string): Promise<void> {
  const store = openStore(g);
  try {
    const rec = mustGet(store, id);
    const status = liveStatus(rec, () => recordedCgroup(rec).isFrozen());
    if (status === "stopped") throw new PolisError("cannot start a container that has stopped");
    if (status !== "created") throw new PolisError("cannot start an already running container");
    await startCreated(store, rec);
  } finally {
    store.close();
  }
}

export async function startCreated(store: Store, rec: ContainerRecord): Promise<void> {
  const hooks = rec.config.hooks;
  if (hooks?.startContainer?.length) {
    try {
      await runHooks("startContainer", hooks.startContainer, stateOf(rec, "created"), {
        spawn: hookSpawnerInContainer(rec.pid!, rec.config),
      });
    } catch (err) {
      // The spec: a startContainer failure stops the container; the user must still delete it.
      process.kill(rec.pid!, "SIGKILL");
      throw err;
    }
  }
  releaseInit(rec);
  store.update(rec.id, { phase: "running" });
  if (hooks?.poststart?.length) {
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
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
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
      Atomics.wait(sleeper, 0, 0, i < 100 ? 1 : 10);
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

// `polis run`: create + start. In the foreground the shim stays as the init's parent and reports
// its exit status; polis forwards signals to the init and returns 128+N for a death by signal N.
// With process.terminal and no --console-socket, the shim also proxies the pty (CONSOLE_PAIR,
// native/src/pty_proxy.c): our stdin/stdout are the shim's, so polis itself never touches them.
import { PolisError } from "../errors.js";
import { createContainer, type CreateExtras } from "./create.js";
import { deleteContainer } from "./delete.js";
import { mustGet, openStore } from "./context.js";
import type { GlobalOptions, RunOptions } from "./options.js";
import { startCreated } from "./start.js";
import { decodeWaitStatus } from "../linux/shim.js";
import { ENDING_SIGNALS, FORWARDED_SIGNALS } from "../linux/signals.js";

export async function runContainer(g: GlobalOptions, o: RunOptions, extras: CreateExtras = {}): Promise<number> {
  if (o.detach) {
    await createContainer(g, o, "detach", extras);
    return startDetached(g, o.id);
  }
  // Handlers go in before create, so that no signal kills polis half-way; one that arrives before
  // the init exists is delivered as soon as it does, unless its default would have ended polis:
  // forwarded, it would be lost (the init is the first process of its PID namespace and has no
  // handler before it execs the container's process: the kernel drops such a signal from outside)
  // and the run would go on. Such a signal ends the run by it instead, as runc dies of one before
  // its container starts, but leaving nothing: the init killed, the container deleted (--keep:
  // kept, stopped), then polis ends by that signal.
  let initPid = 0;
  const pending: NodeJS.Signals[] = [];
  const forward = (sig: NodeJS.Signals) => {
    if (initPid === 0) {
      pending.push(sig);
      return;
    }
    try {
      process.kill(initPid, sig);
    } catch {
      // the container is exiting
    }
  };
  const signals = FORWARDED_SIGNALS;
  for (const s of signals) process.on(s, forward);
  let created = false; // a failed create cleans up after itself, and the id may be someone else's
  let endedBy: NodeJS.Signals | undefined;
  try {
    const launch = await createContainer(g, o, "wait", extras);
    created = true;
    const store = openStore(g);
    try {
      const rec = mustGet(store, o.id);
      // The shim resizes a proxied pty on SIGWINCH itself; the kernel then signals the container.
      if (rec.config.process?.terminal && !o.consoleSocket) process.off("SIGWINCH", forward);
      // A signal that came while the create finished (a createRuntime hook's, say) may still wait in
      // libuv's signal pipe: its handler ran on another thread after the event that ended the
      // create. One turn of the loop through its poll phase hands it to `forward` first.
      await new Promise((r) => setImmediate(r));
      endedBy = pending.find((s) => ENDING_SIGNALS.includes(s));
      if (endedBy) {
        process.kill(launch.pid, "SIGKILL");
        return exitCodeOf(await launch.session.exitStatus()); // polis ends by endedBy below
      }
      await startCreated(store, rec);
      initPid = launch.pid; // released: it may have its handlers by now (before, it had none)
      for (const sig of pending.splice(0)) forward(sig);
      return exitCodeOf(await launch.session.exitStatus());
    } finally {
      store.close();
    }
  } finally {
    // Like runc: a foreground run removes its container unless --keep (also after a failure).
    try {
      if (created && !o.keep) await deleteContainer(g, { id: o.id, force: true });
    } finally {
      for (const s of signals) process.off(s, forward);
      if (endedBy) process.kill(process.pid, endedBy); // no handler left: its default action
    }
  }
}

async function startDetached(g: GlobalOptions, id: string): Promise<number> {
  const store = openStore(g);
  try {
    await startCreated(store, mustGet(store, id));
    return 0;
  } finally {
    store.close();
  }
}

/** A raw wait status as a shell reports it: the exit code, or 128+N for a death by signal N. */
export function exitCodeOf(status: number): number {
  if ((status & 0xff) === 0x7f) throw new PolisError("the container init stopped unexpectedly"); // WIFSTOPPED
  return decodeWaitStatus(status).exitCode;
}

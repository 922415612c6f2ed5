// `polis run`: create + start. In the foreground the shim stays as the init's parent and reports
// its exit status; polis forwards signals to the init and returns 128+N for a death by signal N.
import { PolisError } from "../errors.js";
import { createContainer } from "./create.js";
import { deleteContainer } from "./delete.js";
import { mustGet, openStore } from "./context.js";
import type { GlobalOptions, RunOptions } from "./options.js";
import { startCreated } from "./start.js";

const FORWARDED: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"];

export async function runContainer(g: GlobalOptions, o: RunOptions): Promise<number> {
  const launch = await createContainer(g, o, o.detach ? "detach" : "wait");
  const store = openStore(g);
  try {
    const rec = mustGet(store, o.id);
    if (o.detach) {
      await startCreated(store, rec);
      return 0;
    }
    const forward = (sig: NodeJS.Signals) => {
      try {
        process.kill(launch.pid, sig);
      } catch {
        // the container is exiting
      }
    };
    for (const s of FORWARDED) process.on(s, forward);
    try {
      await startCreated(store, rec);
      const status = await launch.session.exitStatus();
      return exitCodeOf(status);
    } finally {
      for (const s of FORWARDED) process.off(s, forward);
    }
  } finally {
    store.close();
    // Like runc: a foreground run removes its container unless --keep.
    if (!o.detach && !o.keep) await deleteContainer(g, { id: o.id, force: true });
  }
}

/** A raw wait status as a shell reports it: the exit code, or 128+N for a death by signal N. */
export function exitCodeOf(status: number): number {
  const sig = status & 0x7f;
  if (sig === 0) return (status >> 8) & 0xff;
  if (sig === 0x7f) throw new PolisError("the container init stopped unexpectedly");
  return 128 + sig;
}

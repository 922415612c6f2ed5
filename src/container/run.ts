// `polis run`: create + start. In the foreground the shim stays as the init's parent and reports
// its exit status; polis forwards signals to the init and returns 128+N for a death by signal N.
// With process.terminal and no --console-socket, the shim also proxies the pty (CONSOLE_PAIR,
// native/src/pty_proxy.c): our stdin/stdout are the shim's, so polis itself never touches them.
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
    // The shim resizes a proxied pty on SIGWINCH itself; the kernel then signals the container.
    const proxied = Boolean(rec.config.process?.terminal && !o.consoleSocket);
    const signals = proxied ? FORWARDED.filter((s) => s !== "SIGWINCH") : FORWARDED;
    for (const s of signals) process.on(s, forward);
    try {
      await startCreated(store, rec);
      const status = await launch.session.exitStatus();
      return exitCodeOf(status);
    } finally {
      for (const s of signals) process.off(s, forward);
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

// Higher-level fixtures: run a script inside a fresh busybox container, or keep one running.
import { rmSync } from "node:fs";
import { busyboxBundle } from "./rootfs.js";
import { polis, polisOk, type Result, uniqueId } from "./polis.js";

type Config = Record<string, any>;

/** Run `script` with busybox sh in a foreground container built from the edited base config. */
export function runScript(root: string, script: string, edit: (c: Config) => void = () => {}): Result {
  const id = uniqueId("run");
  const bundle = busyboxBundle((c) => {
    c.process.args = ["sh", "-c", script];
    edit(c);
  });
  try {
    return polis(root, ["run", "--bundle", bundle, id]);
  } finally {
    polis(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
  }
}

/** Start a detached container (`sleep 1000` unless edited), hand its id and pid to `fn`, then remove it. */
export async function withRunning<T>(
  root: string,
  edit: (c: Config) => void,
  fn: (id: string, pid: number, bundle: string) => T | Promise<T>,
): Promise<T> {
  const id = uniqueId("bg");
  const bundle = busyboxBundle(edit);
  try {
    polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
    const pid = JSON.parse(polisOk(root, ["state", id]).stdout).pid;
    return await fn(id, pid, bundle);
  } finally {
    polis(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
  }
}

// Fixtures for the monitor room: detached containers under their monitor, read from outside.
import { readFileSync, rmSync } from "node:fs";
import { busyboxBundle } from "./rootfs.js";
import { polis, polisOk, uniqueId } from "./polis.js";

type Config = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Monitored {
  id: string;
  bundle: string;
  /** `polis inspect` parsed (the one object). */
  inspect: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any
  remove: () => void;
}

/** `polis run --detach <flags>` of a busybox `sh -c script`; remove() deletes it and its bundle. */
export function runMonitored(root: string, script: string, flags: string[], edit: (c: Config) => void = () => {}): Monitored {
  const id = uniqueId("mon");
  const bundle = busyboxBundle((c) => {
    c.process.args = ["sh", "-c", script];
    edit(c);
  });
  polisOk(root, ["run", "--detach", ...flags, "--bundle", bundle, id]);
  return {
    id,
    bundle,
    inspect: () => JSON.parse(polisOk(root, ["inspect", id]).stdout)[0],
    remove: () => {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    },
  };
}

export async function until<T>(what: string, fn: () => T | undefined | false, ms = 15_000, every = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export interface Record_ {
  time: string;
  stream: string;
  tag: string;
  text: string;
}

/** The k8s-file records of one file. */
export function records(file: string): Record_[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/.exec(l);
      if (!m) throw new Error(`not a k8s-file record: ${JSON.stringify(l)}`);
      return { time: m[1], stream: m[2], tag: m[3], text: m[4] };
    });
}

export const statusOf = (root: string, id: string) => JSON.parse(polisOk(root, ["state", id]).stdout).status as string;

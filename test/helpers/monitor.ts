// Fixtures for the monitor room: detached containers under their monitor, read from outside.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { busyboxBundle } from "./rootfs.js";
import { cgroupDirsNamed, POLIS, polis, polisOk, uniqueId } from "./polis.js";

type Config = Record<string, any>;

export interface Monitored {
  id: string;
  bundle: string;
  /** `polis inspect` parsed (the one object). */
  inspect: () => any;
  remove: () => void;
}

/** The last component of the container's cgroup: its cgroupsPath's, else its id. */
function cgroupLeaf(bundle: string, id: string): string {
  const path: string | undefined = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")).linux?.cgroupsPath;
  return path ? path.split("/").filter(Boolean).pop()! : id;
}

/**
 * `polis run --detach <flags>` of a busybox `sh -c script`; remove() deletes it and its bundle,
 * and throws if the delete failed or left the container's cgroup behind.
 */
export function runMonitored(root: string, script: string, flags: string[], edit: (c: Config) => void = () => {}): Monitored {
  const id = uniqueId("mon");
  const bundle = busyboxBundle((c) => {
    c.process.args = ["sh", "-c", script];
    edit(c);
  });
  const cgroup = cgroupLeaf(bundle, id);
  polisOk(root, ["run", "--detach", ...flags, "--bundle", bundle, id]);
  return {
    id,
    bundle,
    inspect: () => JSON.parse(polisOk(root, ["inspect", id]).stdout)[0],
    remove: () => {
      const r = polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
      // Where a leak starts: a delete that failed, or one that said it was done and was not.
      if (r.code !== 0) throw new Error(`polis delete --force ${id} exited ${r.code}: ${r.stderr}`);
      const left = cgroupDirsNamed(cgroup);
      if (left.length) throw new Error(`polis delete --force ${id} exited 0 but left its cgroup: ${left.join(", ")}`);
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

/**
 * The lines the records carry: a P record (a read that ended mid-line, as conmon writes it too)
 * is joined with what follows, up to its F record. The first line may be the tail of a line whose
 * beginning was in a file rotation has already dropped.
 */
export function lines(recs: Record_[]): string[] {
  const out: string[] = [];
  let part = "";
  for (const r of recs) {
    part += r.text;
    if (r.tag === "F") {
      out.push(part);
      part = "";
    }
  }
  return out;
}

export const statusOf = (root: string, id: string) => JSON.parse(polisOk(root, ["state", id]).stdout).status as string;

export interface RunningServer {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  stop: () => Promise<void>;
}

/** `polis monitor --listen 127.0.0.1:0 …` in the background; resolves once it listens. */
export async function startPolisMonitor(root: string, args: string[], env: Record<string, string> = {}): Promise<RunningServer> {
  const e: Record<string, string | undefined> = { ...process.env, ...env };
  delete e.NODE_EXTRA_CA_CERTS;
  const child = spawn(POLIS, ["--root", root, "monitor", "--listen", "127.0.0.1:0", ...args], {
    env: e,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<void>((r) => child.on("close", () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on("close", (code) => reject(new Error(`polis monitor exited ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`polis monitor did not listen: ${err}`)), 20_000);
  });
  return {
    url,
    child,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A port nobody listens on right now (for servers that cannot take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

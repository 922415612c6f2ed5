// Create a container under its own monitor (native/monitor/polis-monitor.c): the monitor runs
// `polis create` with pipes it owns as the container's stdout/stderr and stays with the init.
//
// The monitor is recorded as a `monitor` resource of the container BEFORE it is started, so a
// polis killed at any point leaves a row that `delete --force ID` releases (src/monitor/release.ts).
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { CreateOptions, GlobalOptions } from "../container/options.js";
import { openStore } from "../container/context.js";
import { PolisError } from "../errors.js";
import { bootId, processStartTime } from "../linux/proc.js";
import { insertMonitor } from "../state/monitor.js";
import { ContainerExistsError } from "../state/types.js";
import type { MonitorOptions } from "./options.js";
import { defaultLogPath, monitorBinary, monitorDir, polisArgv } from "./paths.js";
import { releaseMonitor } from "./release.js";

export const MONITOR_KIND = "monitor";

export interface MonitorResource {
  dir: string;
  logPath: string;
  /** The log file is ours (the default one) and goes with the container. */
  ownsLog: boolean;
  pid?: number;
  startTime?: string;
  bootId?: string;
}

/** Creates the container under a new monitor; resolves to the init's pid once it is `created`. */
export async function createUnderMonitor(g: GlobalOptions, o: CreateOptions, m: MonitorOptions): Promise<number> {
  if (o.consoleSocket)
    throw new PolisError(
      "--console-socket cannot be used with --logs/--log-path/--health-*: the monitor owns the container's output",
    );
  if (o.pidFile)
    throw new PolisError("--pid-file cannot be used with --logs/--log-path/--health-*: see `polis inspect` for the pid");
  const dir = monitorDir(g.root, o.id);
  const logPath = m.logPath ?? defaultLogPath(g.root, o.id);
  const res: MonitorResource = { dir, logPath, ownsLog: m.logPath === undefined };
  const store = openStore(g);
  try {
    if (store.get(o.id)) throw new ContainerExistsError(o.id);
    store.addResource(o.id, MONITOR_KIND, MONITOR_KIND, res);
    insertMonitor(store, {
      id: o.id,
      logPath,
      logMaxSize: m.logMaxSize,
      logMaxFiles: m.logMaxFiles,
      health: m.health,
      autoRemove: m.autoRemove,
      createArgs: m.createArgs ?? [],
    });
  } finally {
    store.close();
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!existsSync(dirname(logPath)))
      throw new PolisError(`--log-path ${logPath}: directory ${dirname(logPath)} does not exist`);
    const initPid = await startMonitor(g, o, m, res);
    return initPid;
  } catch (err) {
    // Undo everything: the monitor (if it is still up), its directory, its rows.
    const undo = openStore(g);
    try {
      await releaseMonitor(g, undo, { containerId: o.id, kind: MONITOR_KIND, name: MONITOR_KIND, data: res });
      undo.removeResource(o.id, MONITOR_KIND, MONITOR_KIND);
    } finally {
      undo.close();
    }
    throw err;
  }
}

async function startMonitor(g: GlobalOptions, o: CreateOptions, m: MonitorOptions, res: MonitorResource): Promise<number> {
  const args = ["--dir", res.dir, "--id", o.id, "--bundle", o.bundle, "--log-path", res.logPath, "--sync-fd", "3"];
  if (m.logMaxSize > 0) args.push("--log-max-size", String(m.logMaxSize), "--log-max-files", String(m.logMaxFiles));
  if (m.health) args.push("--health-interval-ms", String(Math.max(1, Math.round(m.health.intervalMs))));
  if (o.noPivot) args.push("--create-arg", "--no-pivot");
  if (o.noNewKeyring) args.push("--create-arg", "--no-new-keyring");
  for (const a of m.createArgs ?? []) args.push("--create-arg", a);
  args.push("--", ...polisArgv(g.root));
  const errFd = openSync(join(res.dir, "monitor.log"), "a", 0o600);
  let child;
  try {
    // Its own session: the caller's terminal and process group signals never reach it.
    child = spawn(monitorBinary(), args, { detached: true, stdio: ["ignore", "ignore", errFd, "pipe"] });
  } finally {
    closeSync(errFd);
  }
  const spawned = await new Promise<number>((resolve, reject) => {
    child.once("spawn", () => resolve(child.pid!));
    child.once("error", (e) => reject(new PolisError(`cannot run polis-monitor ${monitorBinary()}: ${e.message}`)));
  });
  // Its identity, so that delete never signals a reused pid.
  res.pid = spawned;
  res.startTime = processStartTime(spawned) ?? undefined;
  res.bootId = bootId();
  const store = openStore(g);
  try {
    store.addResource(o.id, MONITOR_KIND, MONITOR_KIND, res);
  } finally {
    store.close();
  }
  const line = await readLine(child.stdio[3] as NodeJS.ReadableStream);
  child.unref();
  (child.stdio[3] as unknown as { destroy(): void }).destroy();
  const ok = /^ok (\d+)$/.exec(line);
  if (ok) return Number(ok[1]);
  // The monitor's directory goes with the undo: what it said is quoted, not pointed at.
  throw new PolisError(
    createError(res.dir) ??
      `the container's monitor failed to create it (${line || "no report"}): ${monitorError(res.dir) ?? "it said nothing"}`,
  );
}

/** The last line polis-monitor wrote to its stderr (monitor.log), e.g. a log file it cannot open. */
function monitorError(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, "monitor.log"), "utf8").trim().split("\n").pop() || undefined;
  } catch {
    return undefined;
  }
}

function readLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    stream.on("data", (d: Buffer) => {
      text += d.toString();
      if (text.includes("\n")) resolve(text.slice(0, text.indexOf("\n")));
    });
    stream.on("end", () => resolve(text.trim()));
    stream.on("error", () => resolve(text.trim()));
  });
}

/** The error `polis create` logged (its --log file, JSON lines), if any. */
function createError(dir: string): string | undefined {
  try {
    const lines = readFileSync(join(dir, "create.log"), "utf8").trim().split("\n").reverse();
    for (const l of lines) {
      const e = JSON.parse(l) as { level?: string; msg?: string };
      if (e.level === "error" && e.msg) return e.msg;
    }
  } catch {
    // no log: the generic message says where to look
  }
  return undefined;
}

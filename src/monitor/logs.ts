// `polis logs [-f] [--tail N] [--since] [--until] [-t] ID`
import { openStore } from "../container/context.js";
import type { GlobalOptions } from "../container/options.js";
import { PolisError } from "../errors.js";
import { getMonitor } from "../state/monitor.js";
import { follow, keep, readAll, tail, type LogFilter, type LogRecord } from "./logfile.js";
import { monitorAlive } from "./release.js";
import { MONITOR_KIND, type MonitorResource } from "./spawn.js";
import { isoUtc } from "../time.js";

export interface LogsOptions extends LogFilter {
  id: string;
  follow: boolean;
  tail?: number;
  timestamps: boolean;
}

export interface LogSink {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export async function containerLogs(g: GlobalOptions, o: LogsOptions, out: LogSink): Promise<void> {
  const store = openStore(g);
  let path: string;
  let maxFiles: number;
  let res: MonitorResource | undefined;
  try {
    const m = getMonitor(store, o.id);
    if (!m) {
      if (!store.get(o.id)) throw new PolisError(`container ${o.id} does not exist`);
      throw new PolisError(`container ${o.id} has no logs: it was created without --logs or --log-path`);
    }
    path = m.logPath;
    maxFiles = m.logMaxFiles;
    res = store.resourcesOf(o.id).find((r) => r.kind === MONITOR_KIND)?.data as MonitorResource | undefined;
  } finally {
    store.close();
  }
  const printer = linePrinter(o, out);
  const pos = { ino: 0, offset: 0 };
  let records = readAll(path, maxFiles, pos).filter((r) => keep(r, o));
  if (o.tail !== undefined) records = tail(records, o.tail);
  for (const r of records) printer(r);
  if (!o.follow) return;
  // Following ends with the monitor: it has written everything the container said.
  await follow(
    path,
    maxFiles,
    pos,
    (r) => keep(r, o) && printer(r),
    () => !res || !monitorAlive(res) || (o.until !== undefined && o.until < isoUtc(Date.now())),
  );
}

/** Prints records as the lines they make up: pieces joined, a timestamp per line with -t. */
function linePrinter(o: LogsOptions, out: LogSink): (r: LogRecord) => void {
  const midLine = { stdout: false, stderr: false };
  return (r) => {
    const prefix = o.timestamps && !midLine[r.stream] ? `${r.time} ` : "";
    out[r.stream](prefix + r.text + (r.complete ? "\n" : ""));
    midLine[r.stream] = !r.complete;
  };
}

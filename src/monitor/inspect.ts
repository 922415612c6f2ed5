// `polis inspect ID`: everything polis knows about one container, podman-like JSON (an array of
// one object, PascalCase keys). runc's `state` stays as it is; this is for people.
import { isFrozenAt } from "../cgroups/freezer.js";
import { liveStatus, mustGet, openStore } from "../container/context.js";
import type { GlobalOptions } from "../container/options.js";
import { getMonitor, healthResults, recordStarted } from "../state/monitor.js";
import { importExit } from "./exited.js";
import { monitorAlive } from "./release.js";
import { MONITOR_KIND, type MonitorResource } from "./spawn.js";

export function inspectContainer(g: GlobalOptions, id: string): Record<string, unknown> {
  const store = openStore(g);
  try {
    const rec = mustGet(store, id);
    const status = liveStatus(rec, () => isFrozenAt(rec.cgroupPaths));
    let m = getMonitor(store, id);
    // The monitor wrote the exit but its `polis exited` never ran (killed, database busy): record it now.
    if (m && !m.finishedAt && importExit(store, g.root, id)) m = getMonitor(store, id);
    const resources = store.resourcesOf(id);
    const monitorRes = resources.find((r) => r.kind === MONITOR_KIND)?.data as MonitorResource | undefined;
    const events = store.listEvents({ id, type: "container" });
    const lastOf = (action: string) => [...events].reverse().find((e) => e.action === action);
    const startedAt = m?.startedAt ?? lastOf("start")?.time ?? null;
    if (m && !m.startedAt && startedAt) recordStarted(store, id, startedAt);
    const exit = m?.finishedAt ? { exitCode: m.exitCode, finishedAt: m.finishedAt, signal: m.exitSignal } : undefined;
    const lastExit = lastOf("exit");
    const p = rec.config.process;
    const networks = resources.filter((r) => r.kind === "network").map((r) => ({ name: r.name, ...(r.data as object) }));
    const image = resources.find((r) => r.kind.startsWith("image"));
    return {
      Id: rec.id,
      Created: rec.created,
      Path: p?.args?.[0] ?? "",
      Args: p?.args?.slice(1) ?? [],
      State: {
        Status: status,
        Running: status === "running",
        Paused: status === "paused",
        Pid: status === "stopped" ? 0 : (rec.pid ?? 0),
        ExitCode: exit?.exitCode ?? (lastExit?.attributes.exitCode as number | undefined) ?? null,
        OOMKilled: m?.oomKilled ?? false,
        StartedAt: startedAt,
        FinishedAt: exit?.finishedAt ?? null,
        Health: m?.health
          ? {
              Status: m.healthStatus ?? "starting",
              FailingStreak: m.failingStreak,
              Log: healthResults(store, id).map((r) => ({ Start: r.start, End: r.end, ExitCode: r.exitCode, Output: r.output })),
            }
          : undefined,
      },
      Bundle: rec.bundle,
      Rootfs: rec.rootfs,
      Owner: rec.owner,
      Config: {
        Hostname: rec.config.hostname ?? "",
        User: p?.user ? `${p.user.uid}:${p.user.gid}` : "",
        Env: p?.env ?? [],
        Cwd: p?.cwd ?? "/",
        Terminal: p?.terminal ?? false,
        Annotations: rec.annotations,
        Healthcheck: m?.health
          ? {
              Test: m.health.test,
              IntervalMs: m.health.intervalMs,
              TimeoutMs: m.health.timeoutMs,
              Retries: m.health.retries,
              StartPeriodMs: m.health.startPeriodMs,
              OnFailure: m.health.onFailure,
            }
          : undefined,
      },
      LogPath: m?.logPath ?? "",
      LogConfig: m ? { Type: "k8s-file", Path: m.logPath, MaxSize: m.logMaxSize, MaxFiles: m.logMaxFiles } : undefined,
      Monitor: monitorRes ? { Pid: monitorRes.pid ?? 0, Running: monitorAlive(monitorRes) } : undefined,
      CgroupPaths: rec.cgroupPaths,
      Namespaces: (rec.config.linux?.namespaces ?? []).map((n) => n.type),
      Image: image ? image.data : undefined,
      Networks: networks.length ? networks : undefined,
    };
  } finally {
    store.close();
  }
}

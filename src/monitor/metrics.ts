// Prometheus metrics for `polis monitor`: cAdvisor's names and meaning for the
// containers, with id/name/image labels on every series, and polis_* for polis's own view.
// Values are read fresh at each scrape (collect.ts); nothing is cached between scrapes.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { escapeLabel, formatValue, renderFamilies, type TextFamily } from "./exposition.js";
import type { ContainerView, Snapshot } from "./collect.js";
import type { EngineEvent } from "../state/types.js";
import { registerProcessMetrics } from "./process-metrics.js";
import type { Sample } from "./sample.js";

export interface Metrics {
  registry: Registry;
  /** The exposition for this snapshot (its events are counted once), as the pieces /metrics writes. */
  blocks(s: Snapshot): Promise<string[]>;
  /** The same as one text. */
  render(s: Snapshot): Promise<string>;
  /** The last event seq counted: a scrape collects the events after it. */
  lastSeq(): number;
  scrapeSeconds: Histogram;
  alertsFiring: Gauge;
}

const EMPTY: Snapshot = { at: 0, containers: [], events: [] };

export function createMetrics(): Metrics {
  const registry = new Registry();
  registerProcessMetrics(registry, "polis_monitor_");
  let snapshot = EMPTY;
  // Every per-container family is written as text (exposition.ts); prom-client keeps the few
  // series of polis's own (process, events, operations, scrapes, alerts).
  const families: TextFamily[] = [];
  // a container's id/name/image labels, written once per scrape
  const labelText = new Map<ContainerView, string>();
  const labels = (c: ContainerView) => {
    let l = labelText.get(c);
    if (l === undefined) {
      l = `id="${escapeLabel(c.id)}",name="${escapeLabel(c.name)}",image="${escapeLabel(c.image)}"`;
      labelText.set(c, l);
    }
    return l;
  };
  /** A family over `containers()`: `value` gives each one's sample (undefined: no series), `extra` more labels. */
  const text = (
    type: "counter" | "gauge",
    name: string,
    help: string,
    containers: () => ContainerView[],
    value: (c: ContainerView) => number | undefined,
  ) =>
    families.push({
      name,
      help,
      type,
      series(out) {
        const list = containers();
        // index loops: without TurboFan, for-of allocates an iterator result per element
        for (let i = 0; i < list.length; i++) {
          const v = value(list[i]);
          if (v !== undefined) out.push(`${name}{${labels(list[i])}} ${formatValue(v)}`);
        }
      },
    });
  // the containers with a sample, listed once per scrape (not once per family)
  let liveList: ContainerView[] | undefined;
  const live = () => (liveList ??= snapshot.containers.filter((c) => c.sample));
  const all = () => snapshot.containers;

  // One family per cAdvisor name; `pick` reads it from a sample (undefined: no series).
  const family = (kind: "counter" | "gauge", name: string, help: string, pick: (s: Sample) => number | undefined) =>
    text(kind, name, help, live, (c) => pick(c.sample!));
  family("counter", "container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", (s) => s.cpuTotalNs / 1e9);
  family(
    "counter",
    "container_cpu_user_seconds_total",
    "Cumulative user cpu time consumed in seconds.",
    (s) => s.cpuUserNs / 1e9,
  );
  family(
    "counter",
    "container_cpu_system_seconds_total",
    "Cumulative system cpu time consumed in seconds.",
    (s) => s.cpuSystemNs / 1e9,
  );
  family("counter", "container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", (s) => s.cfsPeriods);
  family(
    "counter",
    "container_cpu_cfs_throttled_periods_total",
    "Number of throttled period intervals.",
    (s) => s.cfsThrottledPeriods,
  );
  family(
    "counter",
    "container_cpu_cfs_throttled_seconds_total",
    "Total time duration the container has been throttled.",
    (s) => s.cfsThrottledNs / 1e9,
  );
  family(
    "gauge",
    "container_memory_usage_bytes",
    "Current memory usage in bytes, including all memory regardless of when it was accessed.",
    (s) => s.memUsage,
  );
  family(
    "gauge",
    "container_memory_working_set_bytes",
    "Current working set in bytes (usage minus inactive file pages).",
    (s) => s.memWorkingSet,
  );
  family("gauge", "container_memory_rss", "Size of RSS in bytes.", (s) => s.memRss);
  family("gauge", "container_memory_cache", "Number of bytes of page cache memory.", (s) => s.memCache);
  family("counter", "container_memory_failcnt", "Number of memory usage hits limits.", (s) => s.memFailcnt);
  family("gauge", "container_spec_memory_limit_bytes", "Memory limit for the container.", (s) =>
    s.memLimited ? s.memLimit : undefined,
  );
  family("counter", "container_network_receive_bytes_total", "Cumulative count of bytes received.", (s) => s.net?.rxBytes);
  family("counter", "container_network_receive_packets_total", "Cumulative count of packets received.", (s) => s.net?.rxPackets);
  family(
    "counter",
    "container_network_receive_errors_total",
    "Cumulative count of errors encountered while receiving.",
    (s) => s.net?.rxErrors,
  );
  family("counter", "container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", (s) => s.net?.txBytes);
  family(
    "counter",
    "container_network_transmit_packets_total",
    "Cumulative count of packets transmitted.",
    (s) => s.net?.txPackets,
  );
  family(
    "counter",
    "container_network_transmit_errors_total",
    "Cumulative count of errors encountered while transmitting.",
    (s) => s.net?.txErrors,
  );
  family("counter", "container_fs_reads_bytes_total", "Cumulative count of bytes read.", (s) => s.blkRead);
  family("counter", "container_fs_writes_bytes_total", "Cumulative count of bytes written.", (s) => s.blkWrite);
  family("gauge", "container_processes", "Number of processes running inside the container.", (s) => s.pids);
  family("counter", "container_oom_events_total", "Count of out of memory events observed for the container.", (s) => s.oomKills);

  text("gauge", "container_start_time_seconds", "Start time of the container since unix epoch in seconds.", live, (c) =>
    c.startedAt ? Date.parse(c.startedAt) / 1000 : undefined,
  );
  text("gauge", "container_last_seen", "Last time a container was seen by the exporter.", live, () => snapshot.at / 1000);
  families.push({
    name: "polis_container_info",
    help: "Every container under this polis root, stopped ones too: 1, with its state and bundle as labels.",
    type: "gauge",
    series(out) {
      const list = all();
      for (let i = 0; i < list.length; i++) {
        const c = list[i];
        out.push(`polis_container_info{${labels(c)},state="${escapeLabel(c.status)}",bundle="${escapeLabel(c.rec.bundle)}"} 1`);
      }
    },
  });
  new Gauge({
    name: "polis_containers",
    help: "Containers under this polis root, by state.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const st of ["creating", "created", "running", "paused", "stopped"])
        this.set({ state: st }, snapshot.containers.filter((c) => c.status === st).length);
    },
  });
  families.push({
    name: "polis_container_health_status",
    help: "Health check status of a container with a health check: 1 for its current status (starting, healthy, unhealthy), 0 for the others.",
    type: "gauge",
    series(out) {
      // kube-state-metrics' shape: one series per status, 1 for the current one and 0 for the others
      for (const c of all()) {
        if (!c.monitor?.health) continue;
        const now = c.monitor.healthStatus ?? "starting";
        for (const status of ["starting", "healthy", "unhealthy"])
          out.push(`polis_container_health_status{${labels(c)},status="${status}"} ${status === now ? 1 : 0}`);
      }
    },
  });
  text("gauge", "polis_container_health_failing_streak", "Consecutive failed health checks of the container.", all, (c) =>
    c.monitor?.health ? c.monitor.failingStreak : undefined,
  );
  text(
    "gauge",
    "polis_container_health_check_duration_seconds",
    "How long the container's latest health check took (including polis exec).",
    all,
    (c) => (c.lastHealth ? (Date.parse(c.lastHealth.end) - Date.parse(c.lastHealth.start)) / 1000 : undefined),
  );
  text(
    "gauge",
    "polis_container_exit_code",
    "Exit code of a stopped monitored container.",
    all,
    (c) => c.monitor?.exitCode ?? undefined,
  );
  // Engine events, counted as they are recorded (from the history at start, then each scrape
  // reads those after the last seq seen): counters that only go up while this process lives.
  const events = new Counter({
    name: "polis_events_total",
    help: "Engine events recorded (create, start, kill, exit, oom, health_status, delete, alert, …), by type and action.",
    labelNames: ["type", "action"],
    registers: [registry],
  });
  const operations = new Histogram({
    name: "polis_operation_duration_seconds",
    help: "Wall time of polis lifecycle commands (create, start, kill, delete), from the process's start to the operation's record.",
    labelNames: ["operation"],
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  let lastSeq = 0;
  const observe = (list: EngineEvent[]) => {
    for (const e of list) {
      lastSeq = Math.max(lastSeq, e.seq);
      events.inc({ type: e.type, action: e.action });
      const ms = e.attributes.durationMs;
      if (e.type === "container" && typeof ms === "number") operations.observe({ operation: e.action }, ms / 1000);
    }
  };
  const scrapeSeconds = new Histogram({
    name: "polis_monitor_scrape_duration_seconds",
    help: "Time to read every container's counters for one scrape.",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const alertsFiring = new Gauge({
    name: "polis_alerts_firing",
    help: "Alert rules firing now, per rule.",
    labelNames: ["rule"],
    registers: [registry],
  });
  return {
    registry,
    scrapeSeconds,
    alertsFiring,
    lastSeq: () => lastSeq,
    async blocks(s) {
      snapshot = s;
      liveList = undefined;
      observe(s.events);
      try {
        const blocks = renderFamilies(families);
        blocks.push(await registry.metrics());
        return blocks;
      } finally {
        // Nothing of a scrape outlives it: a snapshot kept until the next one survives two young
        // collections and is promoted, and the old generation then grows by it every scrape.
        snapshot = EMPTY;
        liveList = undefined;
        labelText.clear();
      }
    },
    async render(s) {
      return (await this.blocks(s)).join("");
    },
  };
}

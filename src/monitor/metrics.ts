// Prometheus metrics for `polis monitor` (prom-client): cAdvisor's names and meaning for the
// containers, with id/name/image labels on every series, and polis_* for polis's own view.
// Values are read fresh at each scrape (collect.ts); nothing is cached between scrapes.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ContainerView, Snapshot } from "./collect.js";
import type { EngineEvent } from "../state/types.js";
import type { Sample } from "./sample.js";

const LABELS = ["id", "name", "image"] as const;

export interface Metrics {
  registry: Registry;
  /** Render the exposition text for this snapshot (its events are counted once). */
  render(s: Snapshot): Promise<string>;
  /** The last event seq counted: a scrape collects the events after it. */
  lastSeq(): number;
  scrapeSeconds: Histogram;
  alertsFiring: Gauge;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "polis_monitor_" });
  let snapshot: Snapshot = { at: 0, containers: [], events: [] };
  const live = () => snapshot.containers.filter((c) => c.sample);
  const labels = (c: ContainerView) => ({ id: c.id, name: c.name, image: c.image });

  // One family per cAdvisor name; `pick` reads it from a sample (undefined: no series).
  const family = (kind: "counter" | "gauge", name: string, help: string, pick: (s: Sample) => number | undefined) => {
    const collect = function (this: Counter | Gauge) {
      this.reset();
      for (const c of live()) {
        const v = pick(c.sample!);
        if (v === undefined) continue;
        if (kind === "counter") (this as Counter).inc(labels(c), v);
        else (this as Gauge).set(labels(c), v);
      }
    };
    return kind === "counter"
      ? new Counter({ name, help, labelNames: LABELS, registers: [registry], collect })
      : new Gauge({ name, help, labelNames: LABELS, registers: [registry], collect });
  };
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

  new Gauge({
    name: "container_start_time_seconds",
    help: "Start time of the container since unix epoch in seconds.",
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of live()) if (c.startedAt) this.set(labels(c), Date.parse(c.startedAt) / 1000);
    },
  });
  new Gauge({
    name: "container_last_seen",
    help: "Last time a container was seen by the exporter.",
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of live()) this.set(labels(c), snapshot.at / 1000);
    },
  });
  new Gauge({
    name: "polis_container_info",
    help: "Every container under this polis root, stopped ones too: 1, with its state and bundle as labels.",
    labelNames: [...LABELS, "state", "bundle"],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of snapshot.containers) this.set({ ...labels(c), state: c.status, bundle: c.rec.bundle }, 1);
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
  new Gauge({
    name: "polis_container_health_status",
    help: "Health check status of a container with a health check: 1 for its current status (starting, healthy, unhealthy), 0 for the others.",
    labelNames: [...LABELS, "status"],
    registers: [registry],
    collect() {
      this.reset();
      // kube-state-metrics' shape: one series per status, 1 for the current one and 0 for the others
      for (const c of snapshot.containers) {
        if (!c.monitor?.health) continue;
        const now = c.monitor.healthStatus ?? "starting";
        for (const status of ["starting", "healthy", "unhealthy"]) this.set({ ...labels(c), status }, status === now ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: "polis_container_health_failing_streak",
    help: "Consecutive failed health checks of the container.",
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of snapshot.containers) if (c.monitor?.health) this.set(labels(c), c.monitor.failingStreak);
    },
  });
  new Gauge({
    name: "polis_container_health_check_duration_seconds",
    help: "How long the container's latest health check took (including polis exec).",
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of snapshot.containers)
        if (c.lastHealth) this.set(labels(c), (Date.parse(c.lastHealth.end) - Date.parse(c.lastHealth.start)) / 1000);
    },
  });
  new Gauge({
    name: "polis_container_exit_code",
    help: "Exit code of a stopped monitored container.",
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of snapshot.containers)
        if (c.monitor?.exitCode !== null && c.monitor?.exitCode !== undefined) this.set(labels(c), c.monitor.exitCode);
    },
  });
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
    render(s) {
      snapshot = s;
      observe(s.events);
      return registry.metrics();
    },
  };
}

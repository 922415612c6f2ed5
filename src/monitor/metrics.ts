// Prometheus metrics for `polis monitor`: cAdvisor's names and meaning for the
// containers, with id/name/image labels on every series, and polis_* for polis's own view.
// Values are read fresh at each scrape (collect.ts); nothing is cached between scrapes.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { escapeLabel, TextSink, writeFamilies, type SendChunk, type TextFamily } from "./exposition.js";
import type { ContainerView, Snapshot } from "./collect.js";
import type { EngineEvent } from "../state/types.js";
import { registerProcessMetrics } from "./process-metrics.js";
import type { Sample } from "./sample.js";

export interface Metrics {
  registry: Registry;
  /** Writes the exposition for this snapshot (its events are counted once) through `send`. */
  write(s: Snapshot, send: SendChunk): Promise<void>;
  /** The same as one text. */
  render(s: Snapshot): Promise<string>;
  /** The last event seq counted: a scrape collects the events after it. */
  lastSeq(): number;
  scrapeSeconds: Histogram;
  alertsFiring: Gauge;
}

/** What /metrics writes into and hands out as it fills; reused from scrape to scrape. */
const BUFFER_BYTES = 64 * 1024;

/** One scrape's snapshot, with what its families share: the live containers, their label texts. */
class Scrape {
  /** The containers with a sample, listed once per scrape (not once per family). */
  readonly live: ContainerView[];
  private readonly labelBytes = new Map<ContainerView, Buffer>();

  constructor(readonly snap: Snapshot) {
    this.live = snap.containers.filter((c) => c.sample);
  }

  /** A container's id/name/image labels as UTF-8, encoded once per scrape. */
  labels(c: ContainerView): Buffer {
    let l = this.labelBytes.get(c);
    if (l === undefined) {
      l = Buffer.from(`id="${escapeLabel(c.id)}",name="${escapeLabel(c.name)}",image="${escapeLabel(c.image)}"`, "utf8");
      this.labelBytes.set(c, l);
    }
    return l;
  }
}

/** A family's name and "{", the start of each of its lines. */
const lineHead = (name: string) => Buffer.from(`${name}{`, "latin1");

export function createMetrics(): Metrics {
  const registry = new Registry();
  registerProcessMetrics(registry, "polis_monitor_");
  // Every per-container family is written as text (exposition.ts); prom-client keeps the few
  // series of polis's own (process, events, operations, scrapes, alerts).
  const families: TextFamily<Scrape>[] = [];
  /** A family over `containers(scrape)`: `value` gives each one's sample (undefined: no series). */
  const text = (
    type: "counter" | "gauge",
    name: string,
    help: string,
    containers: (s: Scrape) => ContainerView[],
    value: (c: ContainerView, s: Scrape) => number | undefined,
  ) => {
    const head = lineHead(name);
    families.push({
      name,
      help,
      type,
      series(out, scrape) {
        const list = containers(scrape);
        // index loops: without TurboFan, for-of allocates an iterator result per element
        for (let i = 0; i < list.length; i++) {
          const v = value(list[i], scrape);
          if (v !== undefined) out.sample(head, scrape.labels(list[i]), v);
        }
      },
    });
  };
  const live = (s: Scrape) => s.live;
  const all = (s: Scrape) => s.snap.containers;

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
  text("gauge", "container_last_seen", "Last time a container was seen by the exporter.", live, (_, s) => s.snap.at / 1000);
  const infoHead = lineHead("polis_container_info");
  families.push({
    name: "polis_container_info",
    help: "Every container under this polis root, stopped ones too: 1, with its state and bundle as labels.",
    type: "gauge",
    series(out, scrape) {
      const list = all(scrape);
      for (let i = 0; i < list.length; i++) {
        const c = list[i];
        out.sample(infoHead, scrape.labels(c), 1, `,state="${escapeLabel(c.status)}",bundle="${escapeLabel(c.rec.bundle)}"`);
      }
    },
  });
  const containers = new Gauge({
    name: "polis_containers",
    help: "Containers under this polis root, by state.",
    labelNames: ["state"],
    registers: [registry],
  });
  const healthHead = lineHead("polis_container_health_status");
  families.push({
    name: "polis_container_health_status",
    help: "Health check status of a container with a health check: 1 for its current status (starting, healthy, unhealthy), 0 for the others.",
    type: "gauge",
    series(out, scrape) {
      // kube-state-metrics' shape: one series per status, 1 for the current one and 0 for the others
      for (const c of all(scrape)) {
        if (!c.monitor?.health) continue;
        const now = c.monitor.healthStatus ?? "starting";
        for (const status of ["starting", "healthy", "unhealthy"])
          out.sample(healthHead, scrape.labels(c), status === now ? 1 : 0, `,status="${status}"`);
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
  let spare: Buffer | undefined = Buffer.allocUnsafeSlow(BUFFER_BYTES);
  return {
    registry,
    scrapeSeconds,
    alertsFiring,
    lastSeq: () => lastSeq,
    async write(s, send) {
      observe(s.events);
      // set here, not in a collect(): the scrape's snapshot is not kept after it (a snapshot held
      // until the next scrape survives two young collections and is promoted)
      containers.reset();
      for (const st of ["creating", "created", "running", "paused", "stopped"])
        containers.set({ state: st }, s.containers.filter((c) => c.status === st).length);
      // a second scrape while one is being sent (a slow reader) gets a buffer of its own
      const buf = spare ?? Buffer.allocUnsafeSlow(BUFFER_BYTES);
      spare = undefined;
      try {
        const out = new TextSink(buf, send);
        await writeFamilies(families, new Scrape(s), out);
        out.put(await registry.metrics());
        await out.flush(true);
      } finally {
        spare = buf;
      }
    },
    async render(s) {
      const chunks: Buffer[] = [];
      await this.write(s, async (chunk) => void chunks.push(Buffer.from(chunk)));
      return Buffer.concat(chunks).toString("utf8");
    },
  };
}

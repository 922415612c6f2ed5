// `polis monitor`'s interval work: sample every container, record the samples (the dashboard's
// history), evaluate the alert rules and deliver what fired or resolved, prune old history.
import { log } from "../log.js";
import {
  alertStates,
  clearAlertState,
  countEventsSince,
  insertSamples,
  pruneEvents,
  pruneSamples,
  setAlertState,
  type MetricSample,
} from "../state/monitor.js";
import type { Store } from "../state/store.js";
import { deliver, evaluate, type ContainerFacts } from "./alerts.js";
import { collect, type Snapshot } from "./collect.js";
import type { MonitorConfig } from "./config.js";
import { comparableTime } from "./logfile.js";
import type { createMetrics } from "./metrics.js";
import type { Sample } from "./sample.js";

/** The interval's work: sample, record, alert, prune. One tick at a time. */
export class Sampler {
  latest: Snapshot | undefined;
  readonly cpuPercent = new Map<string, number>();
  private prev = new Map<string, Sample>();
  private running: Promise<void> | undefined;
  private deliveries: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly config: MonitorConfig,
    private readonly metrics: ReturnType<typeof createMetrics>,
  ) {}

  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.work().finally(() => (this.running = undefined));
    return this.running;
  }

  async idle(): Promise<void> {
    await this.running;
    await this.deliveries;
  }

  private async work(): Promise<void> {
    try {
      const snap = collect(this.store);
      this.latest = snap;
      const samples: MetricSample[] = [];
      for (const c of snap.containers) {
        const s = c.sample;
        if (!s) continue;
        const p = this.prev.get(c.id);
        if (p) this.cpuPercent.set(c.id, Number(s.atNs - p.atNs) > 0 ? ((s.cpuTotalNs - p.cpuTotalNs) / Number(s.atNs - p.atNs)) * 100 : 0);
        samples.push({ timeMs: snap.at, id: c.id, cpuNs: s.cpuTotalNs, memBytes: s.memWorkingSet, memLimit: s.memLimit, rxBytes: s.net?.rxBytes ?? null, txBytes: s.net?.txBytes ?? null });
      }
      this.prev = new Map(snap.containers.filter((c) => c.sample).map((c) => [c.id, c.sample!]));
      for (const id of this.cpuPercent.keys()) if (!this.prev.has(id)) this.cpuPercent.delete(id);
      const store = this.store;
      insertSamples(store, samples);
      pruneSamples(store, snap.at - this.config.retentionMs);
      pruneEvents(store, comparableTime(new Date(snap.at - this.config.eventRetentionMs)));
      if (this.config.alerts.length) this.alert(store, snap);
    } catch (err) {
      log.warn(`polis monitor: sampling failed: ${(err as Error).message}`);
    }
  }

  private alert(store: Store, snap: Snapshot): void {
    const now = new Date(snap.at);
    const facts: ContainerFacts[] = snap.containers
      .filter((c) => c.status === "running" || c.status === "paused")
      .map((c) => ({
        id: c.id,
        name: c.name,
        cpuPercent: this.cpuPercent.get(c.id),
        memoryBytes: c.sample?.memWorkingSet ?? 0,
        memoryPercent: c.sample?.memLimited ? (c.sample.memWorkingSet / c.sample.memLimit) * 100 : undefined,
        unhealthy: c.monitor?.healthStatus === "unhealthy",
        countEvents: (action, windowMs) => countEventsSince(store, c.id, action, comparableTime(new Date(snap.at - windowMs))),
      }));
    const before = alertStates(store);
    const { states, notify } = evaluate(this.config.alerts, facts, before, now);
    store.transaction(() => {
      const keep = new Set(states.map((s) => `${s.rule}\0${s.id}`));
      for (const s of before) if (!keep.has(`${s.rule}\0${s.id}`)) clearAlertState(store, s.rule, s.id);
      for (const s of states) setAlertState(store, s);
      for (const n of notify) store.appendEvent({ type: "alert", action: n.status, id: n.id, attributes: { rule: n.rule, metric: n.metric, value: n.value, threshold: n.threshold } });
    });
    this.metrics.alertsFiring.reset();
    for (const rule of this.config.alerts) this.metrics.alertsFiring.set({ rule: rule.name }, states.filter((s) => s.rule === rule.name && s.firing).length);
    // Deliveries run one after another, in order, beside the sampling.
    for (const n of notify) this.deliveries = this.deliveries.then(() => deliver(n, this.config.webhook));
  }
}

// `polis monitor`'s interval work: sample every container, record the samples (the dashboard's
// history), evaluate the alert rules and deliver what fired or resolved, prune old history. One
// monitor of a root does the recording and alerting, the holder of a lease in the database; what
// the webhook must get goes through an outbox table, so a monitor killed mid-delivery resends it.
import { log } from "../log.js";
import { bootId, isSameProcess, processStartTime } from "../linux/proc.js";
import {
  alertStates,
  clearAlertState,
  countEventsSince,
  dropLease,
  enqueueAlerts,
  insertSamples,
  pendingAlerts,
  pruneEvents,
  pruneSamples,
  removeAlert,
  setAlertState,
  takeLease,
  trimOutbox,
  type Lease,
  type MetricSample,
} from "../state/monitor.js";
import type { Store } from "../state/store.js";
import { deliver, evaluate, logAlert, type ContainerFacts, type Notification } from "./alerts.js";
import { collect, type Snapshot } from "./collect.js";
import type { MonitorConfig } from "./config.js";
import { comparableTime } from "./logfile.js";
import type { Sample } from "./sample.js";

/** The lease of the monitor that records and alerts (its name predates the history under it). */
const LEASE = "alerts";
const GONE_GRACE_MS = 5000;
/** Undelivered webhook notifications kept at most (the log and the events have them all). */
const OUTBOX_LIMIT = 1000;

/** The interval's work: sample, record, alert, prune. One tick at a time. */
export class Sampler {
  latest: Snapshot | undefined;
  readonly cpuPercent = new Map<string, number>();
  private prev = new Map<string, Sample>();
  private running: Promise<void> | undefined;
  private flushing: Promise<void> | undefined;
  private stopping = false;
  private toldNotHolder = false;
  private readonly me: Lease = { pid: process.pid, startTime: processStartTime(process.pid) ?? "", bootId: bootId() };

  constructor(
    private readonly store: Store,
    private readonly config: MonitorConfig,
    private readonly intervalMs: number,
  ) {}

  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.work().finally(() => (this.running = undefined));
    return this.running;
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
        if (p)
          this.cpuPercent.set(
            c.id,
            Number(s.atNs - p.atNs) > 0 ? ((s.cpuTotalNs - p.cpuTotalNs) / Number(s.atNs - p.atNs)) * 100 : 0,
          );
        samples.push({
          timeMs: snap.at,
          id: c.id,
          cpuNs: s.cpuTotalNs,
          memBytes: s.memWorkingSet,
          memLimit: s.memLimit,
          rxBytes: s.net?.rxBytes ?? null,
          txBytes: s.net?.txBytes ?? null,
        });
      }
      this.prev = new Map(snap.containers.filter((c) => c.sample).map((c) => [c.id, c.sample!]));
      for (const id of this.cpuPercent.keys()) if (!this.prev.has(id)) this.cpuPercent.delete(id);
      const store = this.store;
      // One monitor per root records the history and evaluates the alerts: the lease holder. The
      // others serve /metrics and the dashboard from the same database.
      const holder = store.transaction(() =>
        takeLease(store, LEASE, this.me, (l) => isSameProcess(l.pid, l.startTime, l.bootId)),
      );
      if (holder.pid !== this.me.pid) {
        if (!this.toldNotHolder)
          log.info(
            `polis monitor: pid ${holder.pid} records the history and evaluates the alerts of this root; this one serves metrics and the dashboard`,
          );
        this.toldNotHolder = true;
        return;
      }
      this.toldNotHolder = false;
      insertSamples(store, samples);
      pruneSamples(store, snap.at - this.config.retentionMs);
      pruneEvents(store, comparableTime(new Date(snap.at - this.config.eventRetentionMs)));
      const dropped = trimOutbox(store, OUTBOX_LIMIT);
      if (dropped)
        log.warn(
          `polis monitor: the webhook is behind by more than ${OUTBOX_LIMIT} notifications; dropped the ${dropped} oldest`,
        );
      if (this.config.alerts.length) this.alert(store, snap);
    } catch (err) {
      log.warn(`polis monitor: sampling failed: ${(err as Error).message}`);
    }
  }

  private alert(store: Store, snap: Snapshot): void {
    const now = new Date(snap.at);
    // Every container that still exists: a stopped one can have been OOM-killed or be looping.
    const facts: ContainerFacts[] = snap.containers.map((c) => ({
      id: c.id,
      name: c.name,
      cpuPercent: this.cpuPercent.get(c.id),
      memoryBytes: c.sample?.memWorkingSet ?? 0,
      memoryPercent: c.sample?.memLimited ? (c.sample.memWorkingSet / c.sample.memLimit) * 100 : undefined,
      unhealthy: c.sample !== undefined && c.monitor?.healthStatus === "unhealthy",
      countEvents: (action, windowMs) => countEventsSince(store, c.id, action, comparableTime(new Date(snap.at - windowMs))),
    }));
    // Read, decide and record in one write transaction: decided once, whatever happens next.
    const decided = store.transaction(() => {
      const before = alertStates(store);
      // a restart (delete, create, start) takes a few seconds; a deleted container resolves after
      const { states, notify } = evaluate(this.config.alerts, facts, before, now, Math.max(GONE_GRACE_MS, 2 * this.intervalMs));
      const keep = new Set(states.map((s) => `${s.rule}\0${s.id}`));
      for (const s of before) if (!keep.has(`${s.rule}\0${s.id}`)) clearAlertState(store, s.rule, s.id);
      for (const s of states) setAlertState(store, s);
      for (const n of notify)
        store.appendEvent({
          type: "alert",
          action: n.status,
          id: n.id,
          attributes: { rule: n.rule, metric: n.metric, value: n.value, threshold: n.threshold },
        });
      if (this.config.webhook)
        enqueueAlerts(
          store,
          notify.map((n) => JSON.stringify(n)),
        );
      return { notify };
    });
    for (const n of decided.notify) logAlert(n);
    if (this.config.webhook) this.flush();
  }

  /** Sends the outbox to the webhook, oldest first, one at a time; what fails waits for the next tick. */
  private flush(): void {
    if (this.flushing) return;
    const webhook = this.config.webhook!;
    this.flushing = (async () => {
      for (;;) {
        if (this.stopping) return;
        const next = pendingAlerts(this.store)[0];
        if (!next) return;
        if (!(await deliver(JSON.parse(next.body) as Notification, webhook, () => this.stopping))) return;
        removeAlert(this.store, next.seq);
      }
    })()
      .catch((err) => log.warn(`polis monitor: webhook delivery: ${(err as Error).message}`))
      .finally(() => (this.flushing = undefined));
  }

  /** Stops delivering (what is left stays in the outbox) and gives up the lease. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    await this.flushing;
    dropLease(this.store, LEASE, this.me.pid);
  }
}

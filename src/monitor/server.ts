// `polis monitor`: an optional long-running process, never needed by the runtime. Every
// interval it samples the containers into the state database (history for the dashboard),
// evaluates the alert rules and prunes old history; on request it serves /metrics (fresh
// counters), the dashboard and its JSON API. Binds 127.0.0.1 unless told otherwise, and then
// only with a token.
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { openStore } from "../container/context.js";
import type { GlobalOptions } from "../container/options.js";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import {
  alertStates,
  clearAlertState,
  countEventsSince,
  dropLease,
  enqueueAlerts,
  getMonitor,
  healthResults,
  insertSamples,
  pruneEvents,
  pendingAlerts,
  pruneSamples,
  recentEvents,
  removeAlert,
  samplesSince,
  setAlertState,
  takeLease,
  trimOutbox,
  type Lease,
  type MetricSample,
} from "../state/monitor.js";
import type { Store } from "../state/store.js";
import { bootId, isSameProcess, processStartTime } from "../linux/proc.js";
import { deliver, evaluate, logAlert, type ContainerFacts, type Notification } from "./alerts.js";
import { collect, type Snapshot } from "./collect.js";
import type { MonitorConfig } from "./config.js";
import { dashboardHtml, uplotAsset } from "./dashboard.js";
import { comparableTime, readAll, tail } from "./logfile.js";
import { createMetrics } from "./metrics.js";
import type { Sample } from "./sample.js";

export interface ServeOptions {
  listen: string;
  intervalMs: number;
  token?: string;
  config: MonitorConfig;
  /** Called once listening, with the address actually bound (port 0 picks a free one). */
  onListening?: (url: string) => void;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new PolisError(`invalid value "${listen}" for flag --listen: HOST:PORT, e.g. 127.0.0.1:9323`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

export const isLoopback = (host: string) => host === "localhost" || host === "::1" || /^127\./.test(host);

export async function serveMonitor(g: GlobalOptions, o: ServeOptions, stop: Promise<void>): Promise<void> {
  const { host, port } = parseListen(o.listen);
  if (!isLoopback(host) && !o.token) throw new PolisError(`--token is required to listen on ${o.listen} (beyond loopback): anyone who can reach it would see every container`);
  const metrics = createMetrics();
  // One connection for the process's life: an idle WAL reader blocks no writer, and opening
  // (and the checkpoint of a last close) costs more than a whole scrape's reads.
  const store = openStore(g);
  const sampler = new Sampler(store, o.config, metrics, o.intervalMs);
  const server = createServer((req, res) => {
    handle(store, o, metrics, sampler, req, res).catch((err) => {
      log.warn(`polis monitor: ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) send(res, 500, "text/plain", `${(err as Error).message}\n`);
    });
  });
  try {
    await listen(server, host, port, o.listen);
  } catch (err) {
    store.close();
    throw err;
  }
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`;
  o.onListening?.(url);
  log.info(`polis monitor listening on ${url}`);
  await sampler.tick();
  const timer = setInterval(() => void sampler.tick(), o.intervalMs);
  try {
    await stop;
  } finally {
    clearInterval(timer);
    await new Promise((r) => server.close(r));
    server.closeAllConnections();
    await sampler.stop();
    store.close();
  }
}

function listen(server: ReturnType<typeof createServer>, host: string, port: number, listenText: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new PolisError(`cannot listen on ${listenText}: ${err.code === "EADDRINUSE" ? "the address is already in use" : err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
}

async function handle(store: Store, o: ServeOptions, metrics: ReturnType<typeof createMetrics>, sampler: Sampler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://polis");
  if (o.token) {
    const given = req.headers.authorization?.startsWith("Bearer ") ? req.headers.authorization.slice(7) : url.searchParams.get("token");
    if (!sameSecret(given, o.token)) return send(res, 401, "text/plain", "a token is required (Authorization: Bearer …, or ?token=)\n");
  }
  if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "GET only\n");
  const path = url.pathname;
  if (path === "/metrics") {
    const end = metrics.scrapeSeconds.startTimer();
    const snap = collect(store, metrics.lastSeq());
    // from the database, so that every monitor of the root says what the lease holder decided
    const firing = alertStates(store).filter((s) => s.firing);
    metrics.alertsFiring.reset();
    for (const rule of o.config.alerts) metrics.alertsFiring.set({ rule: rule.name }, firing.filter((s) => s.rule === rule.name).length);
    end();
    return send(res, 200, metrics.registry.contentType, await metrics.render(snap));
  }
  if (path === "/") return send(res, 200, "text/html; charset=utf-8", dashboardHtml(o.intervalMs));
  if (path === "/static/uplot.js") return send(res, 200, "text/javascript", uplotAsset("uPlot.iife.min.js"));
  if (path === "/static/uplot.css") return send(res, 200, "text/css", uplotAsset("uPlot.min.css"));
  if (path === "/api/containers") return json(res, containersView(sampler.latest ?? collect(store), sampler));
  if (path === "/api/history") return json(res, history(store, Number(url.searchParams.get("since") ?? 0), url.searchParams.get("id") ?? undefined));
  if (path === "/api/alerts") return json(res, alertStates(store).filter((s) => s.firing));
  if (path === "/api/events") return json(res, recentEvents(store, Math.min(500, Math.max(1, Number(url.searchParams.get("limit")) || 50))));
  const one = /^\/api\/containers\/([^/]+)$/.exec(path);
  if (one) return json(res, containerDetail(store, decodeURIComponent(one[1])));
  send(res, 404, "text/plain", "not found\n");
}

/** Constant-time comparison: the time of a wrong guess says nothing about the token. */
function sameSecret(given: string | null | undefined, token: string): boolean {
  if (!given) return false;
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b);
}

function send(res: ServerResponse, code: number, type: string, body: string | Buffer): void {
  res.writeHead(code, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

const json = (res: ServerResponse, v: unknown) => send(res, 200, "application/json", JSON.stringify(v));

function containersView(s: Snapshot, sampler: Sampler) {
  return s.containers.map((c) => ({
    id: c.id,
    name: c.name,
    image: c.image,
    status: c.status,
    health: c.monitor?.health ? (c.monitor.healthStatus ?? "starting") : null,
    cpuPercent: sampler.cpuPercent.get(c.id) ?? null,
    memBytes: c.sample?.memWorkingSet ?? null,
    memLimit: c.sample?.memLimit ?? null,
    pids: c.sample?.pids ?? null,
    exitCode: c.monitor?.exitCode ?? null,
  }));
}

/** Sampled history as chart series: [seconds, cpu %, memory bytes] per point. */
function history(store: Store, sinceMs: number, id?: string) {
  const rows = samplesSince(store, sinceMs, id);
  const byId = new Map<string, MetricSample[]>();
  for (const r of rows) {
    const list = byId.get(r.id);
    if (list) list.push(r);
    else byId.set(r.id, [r]);
  }
  return {
    series: [...byId].map(([cid, list]) => ({
      id: cid,
      points: list.slice(1).map((r, i) => {
        const prev = list[i];
        const cpu = r.timeMs > prev.timeMs && r.cpuNs >= prev.cpuNs ? ((r.cpuNs - prev.cpuNs) / ((r.timeMs - prev.timeMs) * 1e6)) * 100 : 0;
        return [r.timeMs / 1000, Number(cpu.toFixed(2)), r.memBytes];
      }),
    })),
  };
}

function containerDetail(store: Store, id: string) {
  {
    const rec = store.get(id);
    if (!rec) return { id, status: "unknown", health: null, logTail: [] };
    const m = getMonitor(store, id);
    const logTail = m ? tail(readAll(m.logPath, m.logMaxFiles), 50).map((r) => `${r.time} ${r.stream} ${r.text}`) : [];
    return {
      id,
      status: rec.phase,
      exitCode: m?.exitCode ?? null,
      health: m?.health ? { status: m.healthStatus ?? "starting", failingStreak: m.failingStreak, log: healthResults(store, id) } : null,
      logTail,
    };
  }
}

const ALERT_LEASE = "alerts";
const GONE_GRACE_MS = 5000;
/** Undelivered webhook notifications kept at most (the log and the events have them all). */
const OUTBOX_LIMIT = 1000;

/** The interval's work: sample, record, alert, prune. One tick at a time. */
class Sampler {
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
    private readonly metrics: ReturnType<typeof createMetrics>,
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
        if (p) this.cpuPercent.set(c.id, Number(s.atNs - p.atNs) > 0 ? ((s.cpuTotalNs - p.cpuTotalNs) / Number(s.atNs - p.atNs)) * 100 : 0);
        samples.push({ timeMs: snap.at, id: c.id, cpuNs: s.cpuTotalNs, memBytes: s.memWorkingSet, memLimit: s.memLimit, rxBytes: s.net?.rxBytes ?? null, txBytes: s.net?.txBytes ?? null });
      }
      this.prev = new Map(snap.containers.filter((c) => c.sample).map((c) => [c.id, c.sample!]));
      for (const id of this.cpuPercent.keys()) if (!this.prev.has(id)) this.cpuPercent.delete(id);
      const store = this.store;
      insertSamples(store, samples);
      pruneSamples(store, snap.at - this.config.retentionMs);
      pruneEvents(store, comparableTime(new Date(snap.at - this.config.eventRetentionMs)));
      const dropped = trimOutbox(store, OUTBOX_LIMIT);
      if (dropped) log.warn(`polis monitor: the webhook is behind by more than ${OUTBOX_LIMIT} notifications; dropped the ${dropped} oldest`);
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
    // Read, decide and record in one write transaction, and only as the holder of the lease:
    // two monitors of one root never both send an alert.
    const decided = store.transaction(() => {
      const holder = takeLease(store, ALERT_LEASE, this.me, (l) => isSameProcess(l.pid, l.startTime, l.bootId));
      if (holder.pid !== this.me.pid) return { holder, states: [], notify: [] as Notification[] };
      const before = alertStates(store);
      // a restart (delete, create, start) takes a few seconds; a deleted container resolves after
      const { states, notify } = evaluate(this.config.alerts, facts, before, now, Math.max(GONE_GRACE_MS, 2 * this.intervalMs));
      const keep = new Set(states.map((s) => `${s.rule}\0${s.id}`));
      for (const s of before) if (!keep.has(`${s.rule}\0${s.id}`)) clearAlertState(store, s.rule, s.id);
      for (const s of states) setAlertState(store, s);
      for (const n of notify) store.appendEvent({ type: "alert", action: n.status, id: n.id, attributes: { rule: n.rule, metric: n.metric, value: n.value, threshold: n.threshold } });
      if (this.config.webhook) enqueueAlerts(store, notify.map((n) => JSON.stringify(n)));
      return { holder, states, notify };
    });
    if (decided.holder.pid !== this.me.pid) {
      if (!this.toldNotHolder) log.info(`polis monitor: pid ${decided.holder.pid} evaluates the alerts of this root; this one serves metrics and the dashboard`);
      this.toldNotHolder = true;
      return;
    }
    this.toldNotHolder = false;
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
    dropLease(this.store, ALERT_LEASE, this.me.pid);
  }
}


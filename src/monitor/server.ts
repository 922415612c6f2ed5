// `polis monitor`: an optional long-running process, never needed by the runtime. Every
// interval its sampler (sampler.ts) records the containers for the dashboard's history, evaluates
// the alert rules and prunes old history; on request it serves /metrics (fresh counters), the
// dashboard and its JSON API. Binds 127.0.0.1 unless told otherwise, and then only with a token.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { openStore } from "../container/context.js";
import type { GlobalOptions } from "../container/options.js";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import {
  alertStates,
  boundPageCache,
  getMonitor,
  healthResults,
  recentEvents,
  samplesSince,
  type MetricSample,
} from "../state/monitor.js";
import type { Store } from "../state/store.js";
import { collect, type Snapshot } from "./collect.js";
import type { MonitorConfig } from "./config.js";
import { dashboardHtml, uplotAsset } from "./dashboard.js";
import { HeapBound } from "./heap-bound.js";
import { readAll, tail } from "./logfile.js";
import { createMetrics } from "./metrics.js";
import { Sampler } from "./sampler.js";
import { httpDate } from "../time.js";

/**
 * How far the old generation may grow past what the last full collection left (heap-bound.ts):
 * 256 KiB is a full collection (~5 ms) every few scrapes of 30 containers, about every other one
 * of 100; scrapes still cost less CPU than before the allocations behind it were cut.
 */
const HEAP_SLACK_BYTES = 256 << 10;
/** SQLite's page cache for the monitor's connection (state/monitor.ts boundPageCache): 16 pages. */
const PAGE_CACHE_KIB = 64;

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
  if (!isLoopback(host) && !o.token)
    throw new PolisError(
      `--token is required to listen on ${o.listen} (beyond loopback): anyone who can reach it would see every container`,
    );
  const metrics = createMetrics();
  // One connection for the process's life: an idle WAL reader blocks no writer, and opening
  // (and the checkpoint of a last close) costs more than a whole scrape's reads.
  const store = openStore(g);
  boundPageCache(store, PAGE_CACHE_KIB);
  const sampler = new Sampler(store, o.config, o.intervalMs);
  const heap = new HeapBound(HEAP_SLACK_BYTES);
  const server = createServer((req, res) => {
    handle(store, o, metrics, sampler, req, res)
      .catch((err) => {
        log.warn(`polis monitor: ${req.url}: ${(err as Error).message}`);
        if (!res.headersSent) send(res, 500, "text/plain", `${(err as Error).message}\n`);
      })
      .finally(() => heap.check());
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
  heap.check();
  const timer = setInterval(() => void sampler.tick().then(() => heap.check()), o.intervalMs);
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
      reject(
        new PolisError(
          `cannot listen on ${listenText}: ${err.code === "EADDRINUSE" ? "the address is already in use" : err.message}`,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
}

async function handle(
  store: Store,
  o: ServeOptions,
  metrics: ReturnType<typeof createMetrics>,
  sampler: Sampler,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://polis");
  if (o.token) {
    const given = req.headers.authorization?.startsWith("Bearer ")
      ? req.headers.authorization.slice(7)
      : url.searchParams.get("token");
    if (!sameSecret(given, o.token))
      return send(res, 401, "text/plain", "a token is required (Authorization: Bearer …, or ?token=)\n");
  }
  if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "GET only\n");
  const path = url.pathname;
  if (path === "/metrics") {
    const end = metrics.scrapeSeconds.startTimer();
    const snap = collect(store, metrics.lastSeq());
    // from the database, so that every monitor of the root says what the lease holder decided
    const firing = alertStates(store).filter((s) => s.firing);
    metrics.alertsFiring.reset();
    for (const rule of o.config.alerts)
      metrics.alertsFiring.set({ rule: rule.name }, firing.filter((s) => s.rule === rule.name).length);
    end();
    head(res, 200, metrics.registry.contentType);
    await metrics.write(snap, chunkSender(res));
    res.end();
    return;
  }
  if (path === "/") return send(res, 200, "text/html; charset=utf-8", dashboardHtml(o.intervalMs));
  if (path === "/static/uplot.js") return send(res, 200, "text/javascript", uplotAsset("uPlot.iife.min.js"));
  if (path === "/static/uplot.css") return send(res, 200, "text/css", uplotAsset("uPlot.min.css"));
  if (path === "/api/containers") return json(res, containersView(sampler.latest ?? collect(store), sampler));
  if (path === "/api/history")
    return json(res, history(store, Number(url.searchParams.get("since") ?? 0), url.searchParams.get("id") ?? undefined));
  if (path === "/api/alerts")
    return json(
      res,
      alertStates(store).filter((s) => s.firing),
    );
  if (path === "/api/events")
    return json(res, recentEvents(store, Math.min(500, Math.max(1, Number(url.searchParams.get("limit")) || 50))));
  const one = /^\/api\/containers\/([^/]+)$/.exec(path);
  if (one) return json(res, containerDetail(store, decodeURIComponent(one[1])));
  send(res, 404, "text/plain", "not found\n");
}

/** Constant-time comparison: the time of a wrong guess says nothing about the token. */
function sameSecret(given: string | null | undefined, token: string): boolean {
  if (!given) return false;
  // loaded only with a token: node:crypto (OpenSSL's bindings, a dozen modules) is ~0.6 MiB of RSS
  const { createHash, timingSafeEqual } = createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto");
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b);
}

function send(res: ServerResponse, code: number, type: string, body: string | Buffer): void {
  head(res, code, type);
  res.end(body);
}

/**
 * Sends a chunk of the body (the response is chunked anyway) and resolves once it is written, so
 * that the caller may reuse its buffer; at once when the peer has gone (node then calls no
 * write callback).
 */
export function chunkSender(res: ServerResponse): (chunk: Buffer) => Promise<void> {
  const closed = new Promise<void>((resolve) => res.once("close", resolve));
  return (chunk) => {
    if (res.destroyed) return Promise.resolve();
    const written = new Promise<void>((resolve) => res.write(chunk, () => resolve()));
    // Out now: node corks the socket until the next tick after the headers.
    res.socket?.uncork();
    return Promise.race([written, closed]);
  };
}

function head(res: ServerResponse, code: number, type: string): void {
  // node's own Date header is toUTCString(): ~0.9 MiB of peak RSS (time.ts)
  res.sendDate = false;
  res.writeHead(code, { "content-type": type, "cache-control": "no-store", date: httpDate(Date.now()) });
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
        const cpu =
          r.timeMs > prev.timeMs && r.cpuNs >= prev.cpuNs ? ((r.cpuNs - prev.cpuNs) / ((r.timeMs - prev.timeMs) * 1e6)) * 100 : 0;
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
      health: m?.health
        ? { status: m.healthStatus ?? "starting", failingStreak: m.failingStreak, log: healthResults(store, id) }
        : null,
      logTail,
    };
  }
}

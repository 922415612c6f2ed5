// The `monitor` section of polis's config file (src/config/load.ts), checked key by key:
//
//   monitor:
//     listen: 127.0.0.1:9323        # `polis monitor` address (flag --listen wins)
//     interval: 10s                 # sampling and alert evaluation (flag --interval wins)
//     token: s3cret                 # required when listening beyond loopback (flag --token wins)
//     retention: 24h                # metric history kept for the dashboard
//     eventRetention: 168h          # `polis events --all` history
//     webhook: { url: http://127.0.0.1:9000/hook, retries: 3, timeout: 5s }
//     #  headers: { Authorization: "Bearer …" }  # sent with every POST
//     alerts:
//       - name: memory-high
//         metric: memory_percent    # cpu_percent memory_percent memory_bytes unhealthy oom_kills restarts
//         above: 90
//         for: 1m                   # how long it must hold before firing (default 0s)
//         window: 10m               # oom_kills/restarts: events counted over this window (default 5m)
//         containers: "web-*"       # glob on the id (default: every container)
import { parseDuration } from "../cli/events.js";
import { asObject, checkKeys, type PolisConfig } from "../config/load.js";
import { PolisError } from "../errors.js";

export const METRICS = ["cpu_percent", "memory_percent", "memory_bytes", "unhealthy", "oom_kills", "restarts"] as const;
export type AlertMetric = (typeof METRICS)[number];

export interface AlertRule {
  name: string;
  metric: AlertMetric;
  above: number;
  forMs: number;
  windowMs: number;
  containers: RegExp;
}

export interface Webhook {
  url: string;
  retries: number;
  timeoutMs: number;
  /** Extra request headers (a receiver's Authorization, say). */
  headers: Record<string, string>;
}

export interface MonitorConfig {
  file: string;
  listen?: string;
  intervalMs?: number;
  token?: string;
  retentionMs: number;
  eventRetentionMs: number;
  webhook?: Webhook;
  alerts: AlertRule[];
}

const KEYS = ["listen", "interval", "token", "retention", "eventRetention", "webhook", "alerts"];
const RULE_KEYS = ["name", "metric", "above", "for", "window", "containers"];

export function monitorConfig(cfg: PolisConfig): MonitorConfig {
  const file = cfg.file || "(no config file)";
  const sec = cfg.sections.monitor ?? {};
  checkKeys(sec, KEYS, "monitor", file);
  const bad = (path: string, what: string) => new PolisError(`config file ${file}: monitor.${path}: ${what}`);
  const str = (v: unknown, path: string) => {
    if (typeof v !== "string" || v === "") throw bad(path, "must be a non-empty string");
    return v;
  };
  const dur = (v: unknown, path: string) => {
    const ms = typeof v === "string" ? parseDuration(v) : undefined;
    if (ms === undefined || ms < 0) throw bad(path, `must be a duration such as 30s or 1m (got ${JSON.stringify(v)})`);
    return ms;
  };
  const out: MonitorConfig = {
    file,
    retentionMs: sec.retention === undefined ? 24 * 3600_000 : dur(sec.retention, "retention"),
    eventRetentionMs: sec.eventRetention === undefined ? 7 * 24 * 3600_000 : dur(sec.eventRetention, "eventRetention"),
    alerts: [],
  };
  if (sec.listen !== undefined) out.listen = str(sec.listen, "listen");
  if (sec.interval !== undefined) out.intervalMs = dur(sec.interval, "interval");
  if (sec.token !== undefined) out.token = str(sec.token, "token");
  if (sec.webhook !== undefined) {
    const w = asObject(sec.webhook, "monitor.webhook", file);
    checkKeys(w, ["url", "retries", "timeout", "headers"], "monitor.webhook", file);
    const url = str(w.url, "webhook.url");
    if (!/^https?:\/\//.test(url)) throw bad("webhook.url", "must be an http:// or https:// URL");
    const retries = w.retries === undefined ? 3 : Number(w.retries);
    if (!Number.isInteger(retries) || retries < 0) throw bad("webhook.retries", "must be a whole number");
    const headers: Record<string, string> = {};
    if (w.headers !== undefined) {
      for (const [k, v] of Object.entries(asObject(w.headers, "monitor.webhook.headers", file))) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) throw bad(`webhook.headers.${k}`, "is not an HTTP header name");
        if (typeof v !== "string" || /[\r\n]/.test(v)) throw bad(`webhook.headers.${k}`, "must be a string on one line");
        headers[k] = v;
      }
    }
    out.webhook = { url, retries, timeoutMs: w.timeout === undefined ? 5000 : dur(w.timeout, "webhook.timeout"), headers };
  }
  if (sec.alerts !== undefined) {
    if (!Array.isArray(sec.alerts)) throw bad("alerts", "must be a list of rules");
    const names = new Set<string>();
    sec.alerts.forEach((raw, i) => {
      const path = `alerts[${i}]`;
      const r = asObject(raw, `monitor.${path}`, file);
      checkKeys(r, RULE_KEYS, `monitor.${path}`, file);
      const name = str(r.name, `${path}.name`);
      if (names.has(name)) throw bad(`${path}.name`, `"${name}" is used twice`);
      names.add(name);
      const metric = r.metric as AlertMetric;
      if (!METRICS.includes(metric))
        throw bad(`${path}.metric`, `must be one of ${METRICS.join(", ")} (got ${JSON.stringify(r.metric)})`);
      const above = r.above === undefined ? 0 : Number(r.above);
      if (typeof r.above !== "number" && r.above !== undefined) throw bad(`${path}.above`, "must be a number");
      out.alerts.push({
        name,
        metric,
        above,
        forMs: r.for === undefined ? 0 : dur(r.for, `${path}.for`),
        windowMs: r.window === undefined ? 5 * 60_000 : dur(r.window, `${path}.window`),
        containers: glob(r.containers === undefined ? "*" : str(r.containers, `${path}.containers`)),
      });
    });
  }
  return out;
}

function glob(pattern: string): RegExp {
  return new RegExp(
    "^" +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".") +
      "$",
  );
}

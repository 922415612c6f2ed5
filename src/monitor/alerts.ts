// Alert rules over the sampled containers: a condition must hold for `for` before it fires; each
// firing and each resolution is delivered once (the state is in the database, so a restarted
// `polis monitor` neither repeats nor forgets them), to the log and to the webhook.
import { log } from "../log.js";
import type { AlertState } from "../state/monitor.js";
import type { AlertRule, Webhook } from "./config.js";
import { isoUtc } from "../time.js";

/** What a rule looks at for one container at one evaluation. */
export interface ContainerFacts {
  id: string;
  name: string;
  cpuPercent: number | undefined;
  memoryBytes: number;
  memoryPercent: number | undefined;
  unhealthy: boolean;
  /** Events of the container in the rule's window (counted by the caller per window). */
  countEvents: (action: string, windowMs: number) => number;
}

export interface Notification {
  /** The same for every delivery of one notification: receivers may drop repeats by it. */
  key: string;
  status: "firing" | "resolved";
  rule: string;
  metric: string;
  threshold: number;
  id: string;
  name: string;
  value: number;
  since: string;
  at: string;
}

// biome-ignore lint/suspicious/noShadowRestrictedNames: a module function, nothing to do with Object.prototype.valueOf
export function valueOf(rule: AlertRule, f: ContainerFacts): number | undefined {
  switch (rule.metric) {
    case "cpu_percent":
      return f.cpuPercent;
    case "memory_percent":
      return f.memoryPercent;
    case "memory_bytes":
      return f.memoryBytes;
    case "unhealthy":
      return f.unhealthy ? 1 : 0;
    case "oom_kills":
      return f.countEvents("oom", rule.windowMs);
    case "restarts":
      return f.countEvents("restart", rule.windowMs);
  }
}

/**
 * One evaluation (pure: the caller persists the returned states and delivers the notifications).
 * `states` are the previous ones; containers gone for `goneGraceMs` resolve what fired for them.
 */
export function evaluate(
  rules: AlertRule[],
  facts: ContainerFacts[],
  states: AlertState[],
  now: Date,
  goneGraceMs = 0,
): { states: AlertState[]; notify: Notification[] } {
  const prev = new Map(states.map((s) => [`${s.rule}\0${s.id}`, s]));
  const next: AlertState[] = [];
  const notify: Notification[] = [];
  const at = isoUtc(now.getTime());
  const note = (status: Notification["status"], rule: AlertRule, f: { id: string; name: string }, value: number, since: string) =>
    notify.push({
      key: `${rule.name}/${f.id}/${since}/${status}`,
      status,
      rule: rule.name,
      metric: rule.metric,
      threshold: rule.above,
      id: f.id,
      name: f.name,
      value,
      since,
      at,
    });
  for (const rule of rules) {
    for (const f of facts) {
      if (!rule.containers.test(f.id)) continue;
      const key = `${rule.name}\0${f.id}`;
      const old = prev.get(key);
      prev.delete(key);
      const value = valueOf(rule, f);
      const holds = value !== undefined && value > rule.above;
      if (!holds) {
        if (old?.firing) note("resolved", rule, f, value ?? 0, old.since);
        continue;
      }
      const since = old?.since ?? at;
      const firing = old?.firing || now.getTime() - Date.parse(since) >= rule.forMs;
      if (firing && !old?.firing) note("firing", rule, f, value, since);
      next.push({ rule: rule.name, id: f.id, since, firing });
    }
  }
  // Containers no longer there: what fired for them resolves once they stayed away `goneGraceMs`
  // (a --health-on-failure restart deletes and recreates the container under the same id).
  for (const old of prev.values()) {
    const rule = rules.find((r) => r.name === old.rule);
    if (!rule || !old.firing) continue;
    const goneSince = old.goneSince ?? at;
    if (now.getTime() - Date.parse(goneSince) >= goneGraceMs) note("resolved", rule, { id: old.id, name: old.id }, 0, old.since);
    else next.push({ ...old, goneSince });
  }
  return { states: next, notify };
}

/** The log line of a firing (warning) or a resolution (info); written once, when decided. */
export function logAlert(n: Notification): void {
  const text = `alert ${n.rule} ${n.status} for container ${n.id}: ${n.metric} = ${round(n.value)} (threshold ${n.threshold})`;
  if (n.status === "firing") log.warn(text);
  else log.info(text);
}

/**
 * POST the notification as JSON, retrying with back-off (0.5 s, 1 s, 2 s …); never throws.
 * False when every attempt failed or `stopping()` turned true: the caller keeps it for later.
 */
export async function deliver(n: Notification, webhook: Webhook, stopping: () => boolean = () => false): Promise<boolean> {
  for (let attempt = 0; attempt <= webhook.retries; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    if (stopping()) return false;
    try {
      const res = await fetch(webhook.url, {
        method: "POST",
        headers: { ...webhook.headers, "content-type": "application/json" },
        body: JSON.stringify(n),
        signal: AbortSignal.timeout(webhook.timeoutMs),
      });
      if (res.ok) return true;
      log.warn(`webhook ${webhook.url}: HTTP ${res.status} (attempt ${attempt + 1} of ${webhook.retries + 1})`);
    } catch (err) {
      log.warn(`webhook ${webhook.url}: ${(err as Error).message} (attempt ${attempt + 1} of ${webhook.retries + 1})`);
    }
  }
  log.error(`webhook ${webhook.url}: ${n.rule} ${n.status} for ${n.id} not delivered yet; trying again at the next interval`);
  return false;
}

const round = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));

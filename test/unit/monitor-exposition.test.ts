// `polis monitor`'s pure parts beyond the rules themselves (monitor-alerts.test.ts): the grace
// given to a container that goes away while its alert fires, the webhook's settings, and the
// Prometheus exposition.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { evaluate, type ContainerFacts } from "../../src/monitor/alerts.js";
import type { ContainerView, Snapshot } from "../../src/monitor/collect.js";
import { monitorConfig } from "../../src/monitor/config.js";
import { escapeLabel, formatValue } from "../../src/monitor/exposition.js";
import { createMetrics } from "../../src/monitor/metrics.js";
import type { Sample } from "../../src/monitor/sample.js";

const FILE = "/etc/polis/test.yaml";
const config = (yaml: string) => monitorConfig(parseConfig(yaml, FILE));

describe("alert evaluation: a container that goes away", () => {
  const rules = config("monitor:\n  alerts:\n    - { name: sick, metric: unhealthy }\n").alerts;
  const sick: ContainerFacts[] = [
    { id: "c1", name: "c1", cpuPercent: 0, memoryBytes: 0, memoryPercent: undefined, unhealthy: true, countEvents: () => 0 },
  ];
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  it("is given a grace (a restart recreates it) before what fired for it resolves", () => {
    let r = evaluate(rules, sick, [], at(0), 5000);
    expect(r.notify.map((n) => n.status)).toEqual(["firing"]);
    r = evaluate(rules, [], r.states, at(10), 5000); // gone: a restart deletes, then creates
    expect(r.notify).toEqual([]);
    expect(r.states[0]).toMatchObject({ firing: true, goneSince: at(10).toISOString() });
    r = evaluate(rules, sick, r.states, at(12), 5000); // back, still sick: nothing new
    expect(r.notify).toEqual([]);
    expect(r.states[0].goneSince).toBeUndefined();
    r = evaluate(rules, [], r.states, at(20), 5000);
    r = evaluate(rules, [], r.states, at(24), 5000);
    expect(r.notify).toEqual([]);
    r = evaluate(rules, [], r.states, at(25), 5000);
    expect(r.notify.map((n) => `${n.status} ${n.id}`)).toEqual(["resolved c1"]);
    expect(r.states).toEqual([]);
  });
});

describe("the webhook's settings", () => {
  it("headers are sent as given; a bad one names the file and the key", () => {
    const w = config("monitor:\n  webhook: { url: 'http://127.0.0.1:9/h', headers: { Authorization: 'Bearer x' } }\n").webhook!;
    expect(w).toEqual({ url: "http://127.0.0.1:9/h", retries: 3, timeoutMs: 5000, headers: { Authorization: "Bearer x" } });
    const bad = (yaml: string, key: string) => {
      expect(() => config(yaml)).toThrow(FILE);
      expect(() => config(yaml)).toThrow(key);
    };
    bad("monitor:\n  webhook: { url: 'http://h/', headers: { 'a b': x } }\n", "monitor.webhook.headers.a b");
    bad("monitor:\n  webhook: { url: 'http://h/', headers: { X-N: 3 } }\n", "monitor.webhook.headers.X-N");
    bad("monitor:\n  webhook: { url: 'http://h/', headers: [x] }\n", "monitor.webhook.headers");
  });
});

describe("the exposition", () => {
  const sample: Sample = {
    id: "c1",
    atNs: 0n,
    cpuTotalNs: 2.5e9,
    cpuUserNs: 2e9,
    cpuSystemNs: 0.5e9,
    memUsage: 4096,
    memWorkingSet: 2048,
    memRss: 1024,
    memCache: 512,
    memFailcnt: 0,
    memLimit: 1 << 20,
    memLimited: true,
    net: { rxBytes: 10, rxPackets: 1, rxErrors: 0, txBytes: 20, txPackets: 2, txErrors: 0 },
    blkRead: 0,
    blkWrite: 0,
    pids: 3,
    oomKills: 0,
    cfsPeriods: 100,
    cfsThrottledPeriods: 7,
    cfsThrottledNs: 0.25e9,
  };
  const view = (id: string, status: string, s?: Sample, health?: string): ContainerView =>
    ({
      rec: { bundle: `/b/${id}` },
      id,
      name: id,
      image: "busybox",
      status,
      sample: s,
      startedAt: "2026-01-01T00:00:00Z",
      monitor: health ? { health: {}, healthStatus: health, failingStreak: 0 } : undefined,
    }) as unknown as ContainerView;
  const ev = (seq: number, action: string, durationMs?: number) => ({
    seq,
    time: "",
    type: "container",
    action,
    id: "c1",
    attributes: durationMs === undefined ? {} : { durationMs },
  });

  it("cAdvisor names with id/name/image; polis's states, health and operations", async () => {
    const m = createMetrics();
    const snap: Snapshot = {
      at: 1_700_000_000_000,
      containers: [view("c1", "running", sample, "unhealthy"), view("c2", "stopped")],
      events: [ev(1, "create", 80), ev(2, "start", 30), ev(3, "exit"), ev(4, "start", 700)],
    };
    const text = await m.render(snap);
    const labels = 'id="c1",name="c1",image="busybox"';
    expect(text).toContain(`container_cpu_usage_seconds_total{${labels}} 2.5`);
    expect(text).toContain(`container_cpu_user_seconds_total{${labels}} 2`);
    expect(text).toContain(`container_memory_working_set_bytes{${labels}} 2048`);
    expect(text).toContain(`container_cpu_cfs_throttled_periods_total{${labels}} 7`);
    expect(text).toContain(`container_cpu_cfs_throttled_seconds_total{${labels}} 0.25`);
    expect(text).toContain(`container_spec_memory_limit_bytes{${labels}} 1048576`);
    expect(text).toContain(`container_network_receive_bytes_total{${labels}} 10`);
    expect(text).toContain(`container_processes{${labels}} 3`);
    expect(text).toContain(`container_start_time_seconds{${labels}} 1767225600`);
    expect(text).toContain(`container_last_seen{${labels}} 1700000000`);
    expect(text).not.toMatch(/^container_\w+\{id="c2"/m); // a stopped container has no resource series
    expect(text).toContain('polis_containers{state="running"} 1');
    expect(text).toContain(`polis_container_info{${labels},state="running",bundle="/b/c1"} 1`);
    expect(text).toContain('polis_container_info{id="c2",name="c2",image="busybox",state="stopped",bundle="/b/c2"} 1');
    expect(text).toContain('polis_containers{state="stopped"} 1');
    expect(text).toContain(`polis_container_health_status{${labels},status="unhealthy"} 1`);
    expect(text).toContain(`polis_container_health_status{${labels},status="healthy"} 0`);
    expect(text).toContain('polis_events_total{type="container",action="start"} 2');
    expect(text).toContain('polis_operation_duration_seconds_count{operation="start"} 2');
    expect(text).toContain('polis_operation_duration_seconds_bucket{le="0.05",operation="start"} 1');
    expect(text).toContain('polis_operation_duration_seconds_bucket{le="0.1",operation="create"} 1');
    expect(text).not.toContain('operation="exit"');
    expect(m.lastSeq()).toBe(4);
    // the next scrape brings only newer events: counters go on from where they were
    const again = await m.render({ ...snap, events: [ev(5, "delete", 40)] });
    expect(again).toContain('polis_events_total{type="container",action="start"} 2');
    expect(again).toContain('polis_events_total{type="container",action="delete"} 1');
    expect(m.lastSeq()).toBe(5);
  });

  it("escapes label values and writes values as the format wants (a container name is the user's)", async () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(escapeLabel("plain")).toBe("plain");
    expect([NaN, Infinity, -Infinity, 0.25, 1e21].map(formatValue)).toEqual(["NaN", "+Inf", "-Inf", "0.25", "1e+21"]);
    const m = createMetrics();
    const odd = { ...view("c1", "running", sample), name: 'we"ird\\name' } as ContainerView;
    const text = await m.render({ at: 0, containers: [odd], events: [] });
    expect(text).toContain('container_processes{id="c1",name="we\\"ird\\\\name",image="busybox"} 3');
  });

  it("two scrapes sent at once, each to a slow reader, each get their own whole text", async () => {
    const m = createMetrics();
    const many = Array.from({ length: 400 }, (_, i) => view(`c${i}-${"x".repeat(60)}`, "running", sample));
    const a: Snapshot = { at: 1_000, containers: many, events: [] };
    const b: Snapshot = { at: 2_000, containers: many.slice(0, 150), events: [] };
    const slowly = (into: Buffer[]) => async (chunk: Buffer) => {
      into.push(Buffer.from(chunk));
      await new Promise((r) => setTimeout(r, 1));
    };
    const got: Buffer[][] = [[], []];
    await Promise.all([m.write(a, slowly(got[0])), m.write(b, slowly(got[1]))]);
    const text = got.map((g) => Buffer.concat(g).toString("utf8"));
    // the process's own figures move between scrapes: compare everything before them
    const families = (t: string) => t.slice(0, t.indexOf("# HELP polis_monitor_process"));
    expect(families(text[0])).toBe(families(await m.render(a)));
    expect(families(text[1])).toBe(families(await m.render(b)));
    expect(text[0].match(/^container_processes\{/gm)?.length).toBe(400);
    expect(text[1]).toContain('polis_containers{state="running"} 150');
    expect(got[0].length).toBeGreaterThan(5); // sent in pieces while the other scrape went on
  });

  it("the monitor's own process metrics, not prom-client's nodejs_* family", async () => {
    const text = await createMetrics().render({ at: 0, containers: [], events: [] });
    const rss = Number(/^polis_monitor_process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
    expect(rss).toBeGreaterThan(10 << 20); // this vitest worker's
    expect(text).toMatch(/^polis_monitor_process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^polis_monitor_process_open_fds \d+$/m);
    expect(text).toMatch(/^polis_monitor_process_start_time_seconds \d+$/m);
    expect(text).not.toContain("nodejs_");
    // HELP and TYPE of a family with no series yet, as prom-client prints them
    expect(text).toContain(
      "# HELP container_processes Number of processes running inside the container.\n# TYPE container_processes gauge\n",
    );
  });
});

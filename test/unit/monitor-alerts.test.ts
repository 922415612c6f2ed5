import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { evaluate, type ContainerFacts } from "../../src/monitor/alerts.js";
import { monitorConfig } from "../../src/monitor/config.js";
import type { AlertState } from "../../src/state/monitor.js";

const rules = (yaml: string) => monitorConfig(parseConfig(yaml, "/etc/polis/config.yaml")).alerts;
const facts = (over: Partial<ContainerFacts> = {}): ContainerFacts => ({
  id: "web-1",
  name: "web-1",
  cpuPercent: 0,
  memoryBytes: 0,
  memoryPercent: 0,
  unhealthy: false,
  countEvents: () => 0,
  ...over,
});
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

describe("alert rules", () => {
  it("fires once the condition has held for `for`, once; resolves once", () => {
    const [r] = rules("monitor:\n  alerts:\n    - { name: mem, metric: memory_percent, above: 90, for: 10s }\n");
    let states: AlertState[] = [];
    const step = (s: number, f: ContainerFacts) => {
      const out = evaluate([r], [f], states, at(s));
      states = out.states;
      return out.notify.map((n) => n.status);
    };
    expect(step(0, facts({ memoryPercent: 95 }))).toEqual([]); // pending
    expect(step(5, facts({ memoryPercent: 95 }))).toEqual([]);
    expect(step(10, facts({ memoryPercent: 95 }))).toEqual(["firing"]);
    expect(step(15, facts({ memoryPercent: 99 }))).toEqual([]); // still firing: nothing new
    expect(step(20, facts({ memoryPercent: 50 }))).toEqual(["resolved"]);
    expect(step(25, facts({ memoryPercent: 50 }))).toEqual([]);
    expect(states).toEqual([]);
  });
  it("a condition that stops before `for` never fires", () => {
    const [r] = rules("monitor:\n  alerts:\n    - { name: cpu, metric: cpu_percent, above: 80, for: 1m }\n");
    const a = evaluate([r], [facts({ cpuPercent: 100 })], [], at(0));
    const b = evaluate([r], [facts({ cpuPercent: 10 })], a.states, at(30));
    expect([...a.notify, ...b.notify]).toEqual([]);
    expect(b.states).toEqual([]);
  });
  it("unhealthy, oom kills and restarts in a window; a container that goes away resolves", () => {
    const rs = rules(
      "monitor:\n  alerts:\n    - { name: sick, metric: unhealthy }\n    - { name: oom, metric: oom_kills, window: 10m }\n    - { name: loop, metric: restarts, above: 2, window: 10m, containers: 'web-*' }\n",
    );
    const counts: Record<string, number> = { oom: 1, restart: 3 };
    const out = evaluate(
      rs,
      [facts({ unhealthy: true, countEvents: (a, w) => (w === 600_000 ? (counts[a] ?? 0) : -1) })],
      [],
      at(0),
    );
    expect(out.notify.map((n) => `${n.rule} ${n.status} ${n.value}`)).toEqual(["sick firing 1", "oom firing 1", "loop firing 3"]);
    const gone = evaluate(rs, [], out.states, at(10));
    expect(gone.notify.map((n) => `${n.rule} ${n.status}`)).toEqual(["sick resolved", "oom resolved", "loop resolved"]);
    // the glob keeps other containers out of `loop`
    const db = evaluate(rs, [facts({ id: "db-1", countEvents: () => 5 })], [], at(0));
    expect(db.notify.map((n) => n.rule)).toEqual(["oom"]);
  });
  it("config errors name the file and the key", () => {
    expect(() => rules("monitor:\n  alerts:\n    - { name: x, metric: memory_percent, abov: 3 }\n")).toThrow(
      /config file \/etc\/polis\/config.yaml: unknown key "monitor.alerts\[0\].abov"/,
    );
    expect(() => rules("monitor:\n  alerts:\n    - { name: x, metric: disk }\n")).toThrow(/monitor.alerts\[0\].metric/);
    expect(() => rules("monitor:\n  alerts:\n    - { name: x, metric: cpu_percent, for: soon }\n")).toThrow(
      /monitor.alerts\[0\].for/,
    );
    expect(() =>
      rules("monitor:\n  alerts:\n    - { name: x, metric: cpu_percent }\n    - { name: x, metric: cpu_percent }\n"),
    ).toThrow(/used twice/);
    expect(() => rules("monitor:\n  webhook: { url: ftp://x }\n")).toThrow(/monitor.webhook.url/);
    expect(() => rules("monitor:\n  listn: 1\n")).toThrow(/"monitor.listn"/);
  });
});

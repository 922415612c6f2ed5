// /metrics series checked against the kernel and the engine's history: a CPU quota shows in
// cAdvisor's CFS throttling counters (compared with the cgroup's own cpu.stat), and the lifecycle
// commands show in polis_operation_duration_seconds; a real Prometheus scrapes a monitor that wants
// a token with the token (up) and without it (down).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, runMonitored, startPolisMonitor } from "../helpers/monitor.js";
import { tempRoot } from "../helpers/polis.js";

const root = tempRoot();
const scratch = mkdtempSync(join(tmpdir(), "polis-metrics-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

/** The value of one series in an exposition text, undefined when absent. */
function value(text: string, name: string, labels: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

/** nr_throttled and throttled time (s) from the cgroup: v1 cpu controller or cgroup2. */
function kernelThrottling(paths: Record<string, string>): { periods: number; seconds: number } | undefined {
  const file = paths.cpu ? join(paths.cpu, "cpu.stat") : paths.unified ? join(paths.unified, "cpu.stat") : undefined;
  if (!file || !existsSync(file)) return undefined;
  const kv = Object.fromEntries(
    readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(" ")),
  );
  return {
    periods: Number(kv.nr_throttled),
    seconds: kv.throttled_time ? Number(kv.throttled_time) / 1e9 : Number(kv.throttled_usec) / 1e6,
  };
}

describe("/metrics", () => {
  it("a CPU quota shows in the CFS throttling counters; lifecycle commands in the operation durations", async (t) => {
    const c = runMonitored(root, "while :; do :; done", ["--logs"], (spec) => {
      spec.linux.resources.cpu = { quota: 10_000, period: 100_000 }; // a tenth of a CPU
    });
    const mon = await startPolisMonitor(root, ["--interval", "1h"]);
    try {
      const paths = c.inspect().CgroupPaths as Record<string, string>;
      if (!kernelThrottling(paths)) return t.skip(); // no CFS bandwidth files on this host
      const labels = `id="${c.id}"`;
      let text = "";
      const end = Date.now() + 20_000;
      while (Date.now() < end) {
        text = await (await fetch(`${mon.url}/metrics`)).text();
        if ((value(text, "container_cpu_cfs_throttled_periods_total", labels) ?? 0) > 2) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      const after = kernelThrottling(paths)!;
      const periods = value(text, "container_cpu_cfs_throttled_periods_total", labels)!;
      const seconds = value(text, "container_cpu_cfs_throttled_seconds_total", labels)!;
      expect(periods).toBeLessThanOrEqual(after.periods);
      expect(seconds).toBeGreaterThan(0);
      expect(seconds).toBeLessThanOrEqual(after.seconds);
      expect(value(text, "container_cpu_cfs_periods_total", labels)!).toBeGreaterThanOrEqual(periods);
      expect(
        value(text, "polis_container_info", `id="${c.id}",name="${c.id}",image="",state="running",bundle="${c.bundle}"`),
      ).toBe(1);
      // create and start were recorded with their durations (run: start's includes create's)
      const count = (op: string, body: string) => value(body, "polis_operation_duration_seconds_count", `operation="${op}"`) ?? 0;
      expect(count("create", text)).toBeGreaterThanOrEqual(1);
      expect(count("start", text)).toBeGreaterThanOrEqual(1);
      const sum = value(text, "polis_operation_duration_seconds_sum", 'operation="create"')!;
      expect(sum).toBeGreaterThan(0);
      expect(sum).toBeLessThan(60);
      c.remove();
      const later = await (await fetch(`${mon.url}/metrics`)).text();
      expect(count("delete", later)).toBeGreaterThanOrEqual(1);
      expect(value(later, "container_cpu_usage_seconds_total", labels)).toBeUndefined(); // gone with the container
    } finally {
      await mon.stop();
      c.remove();
    }
  }, 60_000);

  it("a real Prometheus scrapes with the token, and is refused without it", async (t) => {
    if (!existsSync("/usr/bin/prometheus")) return t.skip();
    const mon = await startPolisMonitor(root, ["--token", "s3cret-token"]);
    const dir = mkdtempSync(join(scratch, "prom-"));
    const port = await freePort();
    const target = new URL(mon.url).host;
    writeFileSync(
      join(dir, "prometheus.yml"),
      "global: { scrape_interval: 1s, scrape_timeout: 1s }\nscrape_configs:\n" +
        `  - job_name: with-token\n    authorization: { credentials: s3cret-token }\n    static_configs: [{ targets: ["${target}"] }]\n` +
        `  - job_name: without\n    static_configs: [{ targets: ["${target}"] }]\n`,
    );
    const prom = spawn(
      "/usr/bin/prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: "ignore" },
    );
    try {
      const up = async () => {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=up`).catch(() => undefined);
        if (!r?.ok) return {};
        const body = (await r.json()) as { data: { result: { metric: { job: string }; value: [number, string] }[] } };
        return Object.fromEntries(body.data.result.map((x) => [x.metric.job, x.value[1]]));
      };
      let jobs: Record<string, string> = {};
      const end = Date.now() + 40_000;
      while (Date.now() < end) {
        jobs = await up();
        if (jobs["with-token"] === "1" && jobs.without !== undefined) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(jobs).toEqual({ "with-token": "1", without: "0" });
      const series = await (
        await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent('polis_containers{job="with-token"}')}`)
      ).json();
      expect(series.data.result.length).toBeGreaterThan(0);
    } finally {
      prom.kill("SIGTERM");
      await new Promise((r) => prom.on("close", r));
      await mon.stop();
    }
  }, 60_000);
});

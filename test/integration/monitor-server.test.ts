// `polis monitor` from outside: a real Prometheus scrapes it and answers PromQL about a
// container's CPU and memory; an alert rule fires exactly once to a webhook and resolves once;
// bad config, a port in use and a public address without a token fail with one clear line.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, runMonitored, startPolisMonitor, until } from "../helpers/monitor.js";
import { polis, tempRoot } from "../helpers/polis.js";

const root = tempRoot();
const scratch = mkdtempSync(join(tmpdir(), "polis-mon-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A container that burns one CPU once /dev/shm/go exists and stops when /dev/shm/stop does. */
const BURNER = "while [ ! -e /dev/shm/go ]; do sleep 0.1; done; while [ ! -e /dev/shm/stop ]; do :; done; sleep 1000";
const touch = (pid: number, name: string) => writeFileSync(`/proc/${pid}/root/dev/shm/${name}`, "");

/** CPU seconds the kernel charged to the cgroup (v1 cpuacct or cgroup2 cpu.stat). */
function cgroupCpuSeconds(paths: Record<string, string>): number {
  if (paths.cpuacct) return Number(readFileSync(join(paths.cpuacct, "cpuacct.usage"), "utf8")) / 1e9;
  return Number(/usage_usec (\d+)/.exec(readFileSync(join(paths.unified, "cpu.stat"), "utf8"))![1]) / 1e6;
}

describe("polis monitor", () => {
  it("a real Prometheus scrapes it; PromQL returns the container's CPU and memory", async (t) => {
    if (!existsSync("/usr/bin/prometheus")) return t.skip();
    const c = runMonitored(root, BURNER, ["--logs"]);
    const mon = await startPolisMonitor(root, ["--interval", "1s"]);
    const dir = mkdtempSync(join(scratch, "prom-"));
    const port = await freePort();
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: polis\n    static_configs: [{ targets: ["${new URL(mon.url).host}"] }]\n`,
    );
    const prom = spawn(
      "/usr/bin/prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      {
        stdio: "ignore",
      },
    );
    try {
      touch(c.inspect().State.Pid, "go");
      const query = async (q: string) => {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => undefined);
        if (!r?.ok) return [];
        return (await r.json()).data.result as { metric: Record<string, string>; value: [number, string] }[];
      };
      let rate: { metric: Record<string, string>; value: [number, string] }[] = [];
      const end = Date.now() + 40_000;
      while (Date.now() < end) {
        rate = await query(`rate(container_cpu_usage_seconds_total{id="${c.id}"}[5s])`);
        if (rate.length && Number(rate[0].value[1]) > 0.05) break;
        await sleep(500);
      }
      expect(rate).toHaveLength(1);
      expect(rate[0].metric).toMatchObject({ id: c.id, name: c.id, job: "polis" });
      // A busy loop: close to one CPU-second per second on an idle host; this host is shared.
      expect(Number(rate[0].value[1])).toBeGreaterThan(0.05);
      expect(Number(rate[0].value[1])).toBeLessThan(1.2);
      // The scraped counter is the cgroup's own, seen a moment earlier
      const paths = c.inspect().CgroupPaths;
      const before = cgroupCpuSeconds(paths);
      const total = Number((await query(`container_cpu_usage_seconds_total{id="${c.id}"}`))[0].value[1]);
      const after = cgroupCpuSeconds(paths);
      expect(total).toBeLessThanOrEqual(after);
      expect(total).toBeGreaterThan(before - 3);
      const mem = await query(`container_memory_working_set_bytes{id="${c.id}"}`);
      expect(Number(mem[0].value[1])).toBeGreaterThan(0);
      const running = await query(`polis_containers{state="running"}`);
      expect(Number(running[0].value[1])).toBeGreaterThanOrEqual(1);
    } finally {
      prom.kill("SIGTERM");
      await new Promise((r) => prom.on("close", r));
      await mon.stop();
      c.remove();
    }
  }, 90_000);

  it("an alert fires exactly once to the webhook (delivered despite a first failure) and resolves once", async () => {
    const received: { status: string; rule: string; id: string }[] = [];
    let attempts = 0;
    const hook: Server = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        attempts++;
        if (attempts === 1) {
          res.writeHead(500).end(); // the first delivery fails: the monitor retries
          return;
        }
        received.push(JSON.parse(body));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hook`;
    const config = join(scratch, "alerts.yaml");
    writeFileSync(
      config,
      `monitor:\n  webhook: { url: "${hookUrl}", retries: 3 }\n  alerts:\n    - name: cpu-hot\n      metric: cpu_percent\n      above: 10\n      for: 2s\n`,
    );
    const c = runMonitored(root, BURNER, ["--logs"]);
    const mon = await startPolisMonitor(root, ["--interval", "500ms"], { POLIS_CONFIG: config });
    try {
      touch(c.inspect().State.Pid, "go"); // about one CPU on an idle host; well above 10% on a busy one
      await until("the firing", () => received.some((n) => n.status === "firing"), 30_000);
      await sleep(2000); // still hot: nothing more is sent
      expect(received.map((n) => n.status)).toEqual(["firing"]);
      touch(c.inspect().State.Pid, "stop");
      await until("the resolution", () => received.some((n) => n.status === "resolved"), 30_000);
      await sleep(2000);
      expect(received.map((n) => `${n.status} ${n.rule} ${n.id}`)).toEqual([
        `firing cpu-hot ${c.id}`,
        `resolved cpu-hot ${c.id}`,
      ]);
      expect(mon.stderr()).toMatch(/alert cpu-hot firing/);
    } finally {
      await mon.stop();
      c.remove();
      hook.close();
    }
  }, 90_000);

  it("bad input: a bad alert rule names the file and key; a port in use; a public address without a token", async () => {
    const bad = join(scratch, "bad.yaml");
    writeFileSync(bad, "monitor:\n  alerts:\n    - name: x\n      metric: memory_percent\n      abov: 3\n");
    const r = polis(root, ["--config", bad, "monitor"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(bad);
    expect(r.stderr).toContain("monitor.alerts[0].abov");
    writeFileSync(bad, "monitor:\n  alerts:\n    - name: x\n      metric: disk\n");
    expect(polis(root, ["--config", bad, "monitor"]).stderr).toContain("monitor.alerts[0].metric");

    const busy = createServer();
    await new Promise<void>((res) => busy.listen(0, "127.0.0.1", res));
    const port = (busy.address() as { port: number }).port;
    try {
      const inUse = polis(root, ["monitor", "--listen", `127.0.0.1:${port}`]);
      expect(inUse.code).toBe(1);
      expect(inUse.stderr).toContain("already in use");
    } finally {
      busy.close();
    }
    const open = polis(root, ["monitor", "--listen", "0.0.0.0:0"]);
    expect(open.code).toBe(1);
    expect(open.stderr).toContain("--token is required");
  });

  it("with a token, every endpoint wants it; health shows in polis_* series", async () => {
    const c = runMonitored(root, "sleep 1000", ["--health-cmd", "true", "--health-interval", "300ms"]);
    const mon = await startPolisMonitor(root, ["--token", "s3cret"]);
    try {
      expect((await fetch(`${mon.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${mon.url}/metrics?token=wrong`)).status).toBe(401);
      expect((await fetch(`${mon.url}/?token=s3cret`)).status).toBe(200);
      // one Date header (two would read "a, b" here), in HTTP's format, from this clock
      const date = (await fetch(`${mon.url}/?token=s3cret`)).headers.get("date") ?? "";
      expect(date).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
      expect(Math.abs(Date.parse(date) - Date.now())).toBeLessThan(60_000);
      const metrics = async () => (await fetch(`${mon.url}/metrics`, { headers: { authorization: "Bearer s3cret" } })).text();
      let text = "";
      const end = Date.now() + 20_000;
      while (
        Date.now() < end &&
        !text.includes(`polis_container_health_status{id="${c.id}",name="${c.id}",image="",status="healthy"} 1`)
      ) {
        text = await metrics();
        await sleep(200);
      }
      expect(text).toContain(`polis_container_health_status{id="${c.id}",name="${c.id}",image="",status="healthy"} 1`);
      expect(text).toContain(`polis_container_health_failing_streak{id="${c.id}",name="${c.id}",image=""} 0`);
      expect(text).toMatch(new RegExp(`polis_container_health_check_duration_seconds\\{id="${c.id}"[^}]*\\} [0-9.]+`));
    } finally {
      await mon.stop();
      c.remove();
    }
  });
});

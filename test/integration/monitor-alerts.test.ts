// Alert delivery from outside: a webhook receiver in the test sees each firing and resolution
// once, also when `polis monitor` is SIGKILLed before the webhook took a notification (the
// outbox survives it) and when two monitors watch one root (one lease); an OOM kill fires.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runMonitored, startPolisMonitor, until } from "../helpers/monitor.js";
import { polisOk, tempRoot, uniqueId } from "../helpers/polis.js";

const root = tempRoot();
const scratch = mkdtempSync(join(tmpdir(), "polis-alerts-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Note {
  key: string;
  status: string;
  rule: string;
  id: string;
}

/** A webhook receiver: answers 503 while `up` is false, else records the notification. */
async function receiver() {
  const r = {
    up: true,
    attempts: 0,
    received: [] as Note[],
    authorization: [] as (string | undefined)[],
    url: "",
    server: undefined as unknown as Server,
  };
  r.server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      r.attempts++;
      if (!r.up) return res.writeHead(503).end();
      r.received.push(JSON.parse(body) as Note);
      r.authorization.push(req.headers.authorization);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((ok) => r.server.listen(0, "127.0.0.1", ok));
  r.url = `http://127.0.0.1:${(r.server.address() as { port: number }).port}/hook`;
  return r;
}

function config(name: string, hookUrl: string, rule: string): string {
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(
    file,
    `monitor:\n  webhook: { url: "${hookUrl}", retries: 0, timeout: 2s, headers: { Authorization: "Bearer hook-secret" } }\n  alerts:\n    - ${rule}\n`,
  );
  return file;
}

const alertEvents = (id: string) =>
  polisOk(root, ["events", "--all", "--format", "json", "--filter", "type=alert", "--filter", `id=${id}`])
    .stdout.trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { action: string });

describe("alert delivery", () => {
  it("a monitor SIGKILLed before the webhook took the alert sends it when it runs again, once; two monitors send once", async () => {
    const hook = await receiver();
    hook.up = false;
    const cfg = config("outbox", hook.url, "{ name: any-memory, metric: memory_bytes, above: 0 }");
    const c = runMonitored(root, "sleep 1000", ["--logs"]);
    const env = { POLIS_CONFIG: cfg };
    const first = await startPolisMonitor(root, ["--interval", "500ms"], env);
    let others: Awaited<ReturnType<typeof startPolisMonitor>>[] = [];
    try {
      await until("a refused delivery", () => hook.attempts >= 1, 20_000);
      first.child.kill("SIGKILL");
      await first.stop();
      expect(first.stderr()).toMatch(/alert any-memory firing/);
      expect(hook.received).toEqual([]);

      hook.up = true;
      others = await Promise.all([
        startPolisMonitor(root, ["--interval", "500ms"], env),
        startPolisMonitor(root, ["--interval", "500ms"], env),
      ]);
      await until("the firing", () => hook.received.length >= 1, 20_000);
      await sleep(2500); // both monitors have evaluated several times meanwhile
      expect(hook.received.map((n) => `${n.status} ${n.rule} ${n.id}`)).toEqual([`firing any-memory ${c.id}`]);
      expect(hook.received[0].key).toMatch(new RegExp(`^any-memory/${c.id}/.+/firing$`));
      expect(alertEvents(c.id).map((e) => e.action)).toEqual(["firing"]);
      // the dashboard's list of what fires now, from either monitor
      const firing = (await (await fetch(`${others[1].url}/api/alerts`)).json()) as { rule: string; id: string }[];
      expect(firing.map((f) => `${f.rule} ${f.id}`)).toEqual([`any-memory ${c.id}`]);
      for (const m of others)
        expect(await (await fetch(`${m.url}/metrics`)).text()).toContain('polis_alerts_firing{rule="any-memory"} 1');
      // and only the lease holder records the history: one point per interval, not two
      const hist = (await (await fetch(`${others[0].url}/api/history?since=0&id=${c.id}`)).json()) as {
        series: { points: [number][] }[];
      };
      const times = hist.series[0].points.map(([t]) => t);
      expect(times.length).toBeGreaterThan(3);
      expect(Math.min(...times.slice(1).map((t, i) => t - times[i]))).toBeGreaterThan(0.3);
      expect(others.map((m) => m.stderr()).join("")).toMatch(/evaluates the alerts of this root/);

      c.remove(); // gone: what fired for it resolves, once
      await until("the resolution", () => hook.received.length >= 2, 20_000);
      await sleep(1500);
      expect(hook.received.map((n) => n.status)).toEqual(["firing", "resolved"]);
      expect(alertEvents(c.id).map((e) => e.action)).toEqual(["firing", "resolved"]);
      expect(await (await fetch(`${others[0].url}/api/alerts`)).json()).toEqual([]);
    } finally {
      await first.stop();
      for (const m of others) await m.stop();
      c.remove();
      hook.server.close();
    }
  }, 90_000);

  it("an OOM kill fires the oom_kills rule once", async () => {
    const hook = await receiver();
    const cfg = config("oom", hook.url, "{ name: oom, metric: oom_kills, above: 0, window: 10m }");
    const mon = await startPolisMonitor(root, ["--interval", "500ms"], { POLIS_CONFIG: cfg });
    const c = runMonitored(root, "head -c 200m /dev/zero | tail > /dev/null", ["--logs"], (spec) => {
      spec.linux.cgroupsPath = `/${uniqueId("polis-oom")}`; // one level: delete removes it whole
      spec.linux.resources.memory = { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 };
    });
    try {
      await until("the firing", () => hook.received.length >= 1, 30_000);
      await sleep(1500);
      expect(hook.received.map((n) => `${n.status} ${n.rule} ${n.id}`)).toEqual([`firing oom ${c.id}`]);
      expect(mon.stderr()).toMatch(new RegExp(`alert oom firing for container ${c.id}: oom_kills = 1`));
    } finally {
      await mon.stop();
      c.remove();
      hook.server.close();
    }
  }, 60_000);

  it("unhealthy fires once and resolves once when the check passes again; a restart loop fires once", async () => {
    const hook = await receiver();
    const file = join(scratch, "health.yaml");
    writeFileSync(
      file,
      `monitor:\n  webhook: { url: "${hook.url}", retries: 2 }\n  alerts:\n` +
        "    - { name: sick, metric: unhealthy }\n" +
        "    - { name: looping, metric: restarts, above: 1, window: 5m }\n",
    );
    // healthy once /dev/shm/ok exists (the container's own tmpfs, written from outside)
    const sick = runMonitored(root, "sleep 1000", [
      "--logs",
      "--health-cmd",
      "test -e /dev/shm/ok",
      "--health-interval",
      "300ms",
      "--health-retries",
      "1",
    ]);
    // fails every check and is restarted each time
    const loop = runMonitored(root, "sleep 1000", [
      "--logs",
      "--health-cmd",
      "false",
      "--health-interval",
      "300ms",
      "--health-retries",
      "1",
      "--health-on-failure",
      "restart",
    ]);
    const mon = await startPolisMonitor(root, ["--interval", "300ms"], { POLIS_CONFIG: file });
    const of = (id: string, rule: string) => hook.received.filter((n) => n.id === id && n.rule === rule).map((n) => n.status);
    try {
      await until("sick fires", () => of(sick.id, "sick").length >= 1, 20_000);
      await sleep(1500);
      expect(of(sick.id, "sick")).toEqual(["firing"]);
      writeFileSync(`/proc/${sick.inspect().State.Pid}/root/dev/shm/ok`, "");
      await until("sick resolves", () => of(sick.id, "sick").length >= 2, 20_000);
      expect(of(sick.id, "sick")).toEqual(["firing", "resolved"]);

      await until("the restart loop fires", () => of(loop.id, "looping").length >= 1, 40_000);
      await sleep(2000); // it keeps restarting: nothing more for this rule
      expect(of(loop.id, "looping")).toEqual(["firing"]);
      expect(mon.stderr()).toMatch(new RegExp(`alert looping firing for container ${loop.id}: restarts = [2-9]`));
    } finally {
      await mon.stop();
      loop.remove();
      sick.remove();
      hook.server.close();
    }
  }, 120_000);

  it("memory above a share of the limit for a while fires once and resolves once when it is freed", async () => {
    const hook = await receiver();
    const cfg = config("memory", hook.url, "{ name: mem-high, metric: memory_percent, above: 70, for: 2s }");
    // 26 MiB of tmpfs under a 32 MiB limit (charged to the container: its own shell writes it)
    const c = runMonitored(
      root,
      "while [ ! -e /dev/shm/go ]; do sleep 0.2; done; head -c 26m /dev/zero > /dev/shm/blob; while [ ! -e /dev/shm/free ]; do sleep 0.2; done; rm /dev/shm/blob; sleep 1000",
      ["--logs"],
      (spec) => {
        spec.linux.cgroupsPath = `/${uniqueId("polis-mem")}`;
        spec.linux.resources.memory = { limit: 32 * 1024 * 1024 };
      },
    );
    const mon = await startPolisMonitor(root, ["--interval", "500ms"], { POLIS_CONFIG: cfg });
    const touch = (name: string) => writeFileSync(`/proc/${c.inspect().State.Pid}/root/dev/shm/${name}`, "");
    try {
      await sleep(1500);
      expect(hook.received).toEqual([]); // a sleeping shell is far below 70 %
      touch("go");
      await until("the firing", () => hook.received.length >= 1, 30_000);
      const fired = hook.received[0] as Note & { value: number; since: string; at: string };
      expect(`${fired.status} ${fired.rule} ${fired.id}`).toBe(`firing mem-high ${c.id}`);
      expect(fired.value).toBeGreaterThan(70);
      expect(Date.parse(fired.at) - Date.parse(fired.since)).toBeGreaterThanOrEqual(2000); // held for `for`
      touch("free");
      await until("the resolution", () => hook.received.length >= 2, 30_000);
      await sleep(1000);
      expect(hook.received.map((n) => n.status)).toEqual(["firing", "resolved"]);
      expect(hook.authorization).toEqual(["Bearer hook-secret", "Bearer hook-secret"]); // webhook.headers
    } finally {
      await mon.stop();
      c.remove();
      hook.server.close();
    }
  }, 90_000);
});

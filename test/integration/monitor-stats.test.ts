// `polis stats` against real load, checked against what the kernel says: a busy loop shows about
// one CPU, an allocation held in memory shows in the memory column, traffic over a veth in the
// container's network namespace shows in NET I/O.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { withRunning } from "../helpers/containers.js";
import { POLIS, polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";

const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Row = {
  id: string;
  cpu_percent: number;
  mem_usage: number;
  mem_limit: number;
  mem_percent: number;
  net_input: number | null;
  net_output: number | null;
  pids: number;
};
const statsOf = (args: string[]): Row[] =>
  JSON.parse(polisOk(root, ["stats", "--no-stream", "--format", "json", ...args]).stdout);

describe("polis stats", () => {
  it("a busy loop shows what the kernel charged it (about one CPU when the host is idle); an idle container about none", async () => {
    await withRunning(
      root,
      (c) => (c.process.args = ["sh", "-c", "while :; do :; done"]),
      async (busy, busyPid) => {
        await withRunning(
          root,
          () => {},
          async (idle) => {
            // What the kernel says the loop used over the same time (utime + stime, in 10 ms ticks),
            // measured around the stats call: on a shared host the loop may get well under one CPU.
            const ticks = () => {
              const f = readFileSync(`/proc/${busyPid}/stat`, "utf8").split(") ")[1].split(" ");
              return Number(f[11]) + Number(f[12]);
            };
            const t0 = ticks();
            const w0 = Date.now();
            const rows = statsOf([busy, idle]);
            const kernelPercent = ((ticks() - t0) * 10 * 100) / (Date.now() - w0);
            const b = rows.find((r) => r.id === busy)!;
            const i = rows.find((r) => r.id === idle)!;
            expect(b.cpu_percent).toBeGreaterThan(10);
            expect(b.cpu_percent).toBeLessThan(110); // one thread: never more than one CPU
            expect(Math.abs(b.cpu_percent - kernelPercent)).toBeLessThan(35);
            expect(i.cpu_percent).toBeLessThan(5);
            expect(b.pids).toBe(1);
          },
        );
      },
    );
  });

  it("memory held by the container shows in usage and against its limit", async () => {
    const limit = 256 * 1024 * 1024;
    const edit = (c: any) => {
      c.linux.resources.memory = { limit };
      // 64 MiB in the container's tmpfs (charged to its cgroup, never "inactive file"), then sleep.
      c.process.args = ["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 && echo ready > /dev/shm/ready; sleep 1000"];
    };
    await withRunning(root, edit, async (id, pid) => {
      const end = Date.now() + 20_000;
      while (spawnSync("cat", [`/proc/${pid}/root/dev/shm/ready`]).status !== 0 && Date.now() < end)
        await new Promise((r) => setTimeout(r, 100));
      const [row] = statsOf([id]);
      expect(row.mem_limit).toBe(limit);
      expect(row.mem_usage).toBeGreaterThan(60 * 1024 * 1024);
      expect(row.mem_usage).toBeLessThan(limit);
      expect(row.mem_percent).toBeCloseTo((row.mem_usage / limit) * 100, 1);
    });
  }, 60000);

  it("without ids, lists every running container; the table has docker's columns", async () => {
    await withRunning(
      root,
      () => {},
      async (id) => {
        const r = polisOk(root, ["stats", "--no-stream"]);
        const [head, ...lines] = r.stdout.trimEnd().split("\n");
        expect(head).toMatch(/^ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
        expect(lines.some((l) => l.startsWith(id.slice(0, 12)))).toBe(true);
      },
    );
  });

  it("traffic in the container's network namespace shows in NET I/O", async () => {
    const ns = uniqueId("pst").slice(0, 14);
    if (spawnSync("ip", ["netns", "add", ns]).status !== 0) return console.warn("skip: cannot create a network namespace");
    try {
      await withRunning(
        root,
        () => {},
        async (id, pid) => {
          const inNs = (...a: string[]) => execFileSync("ip", ["netns", "exec", ns, ...a]);
          // A veth between the container and the test's own namespace: the host's network is untouched.
          inNs("ip", "link", "add", "v0", "type", "veth", "peer", "name", "eth0", "netns", String(pid));
          inNs("ip", "addr", "add", "10.201.0.1/24", "dev", "v0");
          inNs("ip", "link", "set", "v0", "up");
          const inCtr = (...a: string[]) => execFileSync("nsenter", ["-t", String(pid), "-n", ...a]);
          inCtr("ip", "addr", "add", "10.201.0.2/24", "dev", "eth0");
          inCtr("ip", "link", "set", "eth0", "up");
          const before = statsOf([id])[0];
          // 1 MB each way, over ping: the container's kernel answers, no server needed.
          inNs("busybox", "ping", "-q", "-c", "20", "-i", "0.01", "-s", "50000", "10.201.0.2");
          const after = statsOf([id])[0];
          expect(after.net_input! - (before.net_input ?? 0)).toBeGreaterThan(20 * 50000);
          expect(after.net_output! - (before.net_output ?? 0)).toBeGreaterThan(20 * 50000);
        },
      );
    } finally {
      spawnSync("ip", ["netns", "del", ns]);
    }
  });

  it("direct writes to the rootfs's disk show in BLOCK I/O", async () => {
    const edit = (c: any) => {
      c.root.readonly = false;
      c.process.args = [
        "sh",
        "-c",
        "dd if=/dev/zero of=/blk bs=1M count=16 oflag=direct 2>/dev/shm/dd.err; echo $? > /dev/shm/done; sleep 1000",
      ];
    };
    await withRunning(root, edit, async (id, pid) => {
      const end = Date.now() + 20_000;
      while (spawnSync("cat", [`/proc/${pid}/root/dev/shm/done`]).status !== 0 && Date.now() < end)
        await new Promise((r) => setTimeout(r, 100));
      const dd = readFileSync(`/proc/${pid}/root/dev/shm/done`, "utf8").trim();
      if (dd !== "0")
        return console.warn(
          `skip: O_DIRECT writes are not possible here: ${readFileSync(`/proc/${pid}/root/dev/shm/dd.err`, "utf8")}`,
        );
      const [row] = JSON.parse(polisOk(root, ["stats", "--no-stream", "--format", "json", id]).stdout);
      expect(row.block_output).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    });
  });

  it("on a terminal the live view redraws in place", async () => {
    await withRunning(
      root,
      () => {},
      async (id) => {
        // a pty from python's pty module: stats streams for a while, then the pty closes
        const py = `import os, pty, sys, time, signal
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
end = time.time() + 2.5
while time.time() < end:
    try:
        out += os.read(fd, 65536)
    except OSError:
        break
os.kill(pid, signal.SIGINT)
sys.stdout.buffer.write(out)`;
        const env = { ...process.env };
        delete env.NODE_EXTRA_CA_CERTS;
        const r = spawnSync("python3", ["-c", py, POLIS, "--root", root, "stats", "--interval", "300ms", id], {
          env,
          encoding: "latin1",
          timeout: 20_000,
        });
        const frames = r.stdout.split("\x1b[2J\x1b[H").filter((f) => f.includes("CPU %"));
        expect(frames.length).toBeGreaterThanOrEqual(2);
        expect(frames.at(-1)).toContain(id.slice(0, 12));
      },
    );
  });

  it("bad input: an unknown id and a bad interval fail with one clear line", () => {
    const r = polis(root, ["stats", "--no-stream", "nope"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("container nope does not exist");
    const i = polis(root, ["stats", "--interval", "soon"]);
    expect(i.code).toBe(1);
    expect(i.stderr).toContain("--interval");
  });
});

// Liveness checks against real processes (no root needed).
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { bootId, isDeadState, isSameProcess, parseStat, processStartTime, processState, readStat } from "../../src/linux/proc.js";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

function start(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.push(c);
  return c;
}

function exited(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve();
    else c.once("exit", () => resolve());
  });
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("parseStat", () => {
  it("reads the fields after the last ')' even when comm has spaces and parentheses", () => {
    // 52 fields as in a real stat line; field 22 (starttime) = 987654321
    const tail = ["S", "1", "4", "4", "0", "-1", "4194560"];
    while (tail.length < 19) tail.push("0");
    tail.push("987654321"); // field 22
    while (tail.length < 50) tail.push("0");
    const line = `4242 (we) ird) (na me)) ${tail.join(" ")}\n`;
    expect(parseStat(line)).toEqual({ state: "S", ppid: 1, startTime: "987654321" });
  });

  it("rejects text that is not a stat line", () => {
    expect(parseStat("")).toBeNull();
    expect(parseStat("1 (x) S 0")).toBeNull(); // truncated: no field 22
    expect(parseStat("garbage without parens")).toBeNull();
  });

  it("agrees with /proc for this process", () => {
    const text = readFileSync("/proc/self/stat", "latin1");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    expect(readStat(process.pid)).toEqual({ state: "R", ppid: process.ppid, startTime: fields[19] });
  });

  it("reads every process of the host as readFileSync does (its reused buffer holds no stale bytes)", () => {
    const pids = readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
    expect(pids.length).toBeGreaterThan(5);
    // a long stat line first, then short ones: nothing of the longer one may be left over
    for (const pid of [1, ...pids, process.pid]) {
      let text: string | undefined;
      try {
        text = readFileSync(`/proc/${pid}/stat`, "latin1");
      } catch {
        continue; // gone meanwhile
      }
      const got = readStat(pid);
      const want = parseStat(text);
      if (got === null) continue; // gone between the two reads
      expect(got.ppid).toBe(want?.ppid);
      expect(got.startTime).toBe(want?.startTime);
    }
  });
});

describe("bootId", () => {
  it("is this boot's uuid", () => {
    expect(bootId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(bootId()).toBe(readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
  });
});

describe("liveness", () => {
  it("a running process is the same process until it is killed and reaped", async () => {
    const c = start("sleep", ["30"]);
    await waitFor(() => processState(c.pid!) !== null, "sleep to appear");
    const st = processStartTime(c.pid!);
    expect(st).toMatch(/^\d+$/);
    expect(processState(c.pid!)).toMatch(/^[RS]$/);
    expect(isSameProcess(c.pid!, st, bootId())).toBe(true);

    c.kill("SIGKILL");
    await exited(c); // node has reaped it
    expect(processState(c.pid!)).toBeNull();
    expect(processStartTime(c.pid!)).toBeNull();
    expect(isSameProcess(c.pid!, st, bootId())).toBe(false);
  });

  it("a live pid with another start time is a reused pid, not our process", async () => {
    const c = start("sleep", ["30"]);
    await waitFor(() => processState(c.pid!) !== null, "sleep to appear");
    const st = processStartTime(c.pid!)!;
    expect(isSameProcess(c.pid!, String(BigInt(st) + 1n), bootId())).toBe(false);
    expect(isSameProcess(c.pid!, "0", bootId())).toBe(false);
    expect(isSameProcess(c.pid!, null, bootId())).toBe(false);
    expect(isSameProcess(c.pid!, st, bootId())).toBe(true); // the control: only the time differed
  });

  it("a record from another boot is never alive", async () => {
    const c = start("sleep", ["30"]);
    await waitFor(() => processState(c.pid!) !== null, "sleep to appear");
    const st = processStartTime(c.pid!);
    const otherBoot = "00000000-0000-4000-8000-000000000000";
    expect(otherBoot).not.toBe(bootId());
    expect(isSameProcess(c.pid!, st, otherBoot)).toBe(false);
    expect(isSameProcess(c.pid!, st, bootId())).toBe(true);
  });

  it("a zombie counts as dead", async () => {
    // sh forks a background child blocked on fd 3, prints its pid, then execs sleep in its
    // own place. Only once sleep has replaced sh do we release the child: it exits, and since
    // sleep never calls wait() it stays a zombie (state Z). (Letting the child exit at once
    // races with sh, which reaps finished jobs until it execs.)
    const c = spawn("sh", ["-c", "read x <&3 & echo $!; exec sleep 30 3<&-"], {
      stdio: ["ignore", "pipe", "inherit", "pipe"],
    });
    children.push(c);
    const zpid = await new Promise<number>((resolve, reject) => {
      let out = "";
      c.stdout!.on("data", (d) => {
        out += d;
        if (out.includes("\n")) resolve(Number(out.trim()));
      });
      c.once("exit", () => reject(new Error("sh exited early")));
    });
    await waitFor(() => readFileSync(`/proc/${c.pid}/comm`, "utf8").trim() === "sleep", "sh to exec sleep");
    const st = processStartTime(zpid);
    expect(st).toMatch(/^\d+$/);
    expect(isSameProcess(zpid, st, bootId())).toBe(true); // alive while blocked on fd 3

    (c.stdio[3] as NodeJS.WritableStream).write("go\n");
    await waitFor(() => processState(zpid) === "Z", `pid ${zpid} to become a zombie`);
    expect(readStat(zpid)?.ppid).toBe(c.pid); // really sleep's unreaped child
    expect(processStartTime(zpid)).toBe(st); // a zombie still has its stat line…
    expect(isSameProcess(zpid, st, bootId())).toBe(false); // …but is not alive
    c.kill("SIGKILL");
    await exited(c);
  });

  it("nonsense pids are simply not there", () => {
    expect(processState(0)).toBeNull();
    expect(processState(-1)).toBeNull();
    expect(processState(1.5)).toBeNull();
    expect(processState(2 ** 22 + 1)).toBeNull(); // above pid_max's ceiling
    expect(isSameProcess(0, "1", bootId())).toBe(false);
  });

  it("isDeadState", () => {
    expect(isDeadState(null)).toBe(true);
    expect(isDeadState("Z")).toBe(true);
    expect(isDeadState("X")).toBe(true);
    for (const s of ["R", "S", "D", "T", "t", "I"]) expect(isDeadState(s)).toBe(false);
  });
});

// Signals to polis during a native create or run (native/launcher/create.c), above all one that
// then hands the call to node: never silently dropped. A foreground run catches them while it
// creates; with its init there it forwards them (as node's run does); handed to node before that
// it raises them again once nothing is left, so polis ends by the signal, as it would while node
// boots, and as runc dies of one before its container starts. A create has no handlers: the
// default action ends it, leaving what `delete --force` cleans (as SIGKILL does).
// POLIS_CREATE_STOP_AT stops polis at a step (or at the start of the hand-off) to aim the signal.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxBundle } from "../helpers/rootfs.js";
import { cgroupDirsNamed, pidAlive, POLIS, polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";

const NODE = { POLIS_NATIVE: "0" };
const LAUNCHER = { POLIS_NATIVE: "1" };

let root: string;
let scratch: string;
const made: string[] = [];
const bundles: string[] = [];

beforeAll(() => {
  root = tempRoot();
  scratch = mkdtempSync(join(tmpdir(), "polis-nsig-"));
  polisOk(root, ["list"], { env: NODE }); // the database: the launcher hands its first call to node
});

afterAll(() => {
  for (const id of made) polis(root, ["delete", "--force", id], { env: NODE });
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
  for (const b of bundles) rmSync(b, { recursive: true, force: true });
});

/** A bundle whose createRuntime hook leaves a file: the launcher hands it to node. */
function hookedBundle(marker: string): string {
  const hook = join(scratch, "hook.sh");
  writeFileSync(hook, '#!/bin/sh\ncat >/dev/null\ntouch "$1"\n');
  chmodSync(hook, 0o755);
  const b = busyboxBundle((c) => {
    c.process.args = ["true"];
    c.hooks = { createRuntime: [{ path: hook, args: ["hook", marker] }] };
  });
  bundles.push(b);
  return b;
}

interface Stopped {
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** polis ARGS ID started with POLIS_CREATE_STOP_AT=step, once it has stopped there. */
async function stoppedAt(step: string, args: string[], id: string, trace: string): Promise<Stopped> {
  made.push(id);
  const env: Record<string, string | undefined> = {
    ...process.env,
    ...LAUNCHER,
    POLIS_CREATE_STOP_AT: step,
    POLIS_LAUNCHER_TRACE: trace,
  };
  delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn(POLIS, ["--root", root, ...args, id], { stdio: "ignore", env });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once("exit", (code, signal) => res({ code, signal })),
  );
  const stat = () => readFileSync(`/proc/${child.pid}/stat`, "utf8");
  await waitFor(
    () =>
      stat()
        .slice(stat().lastIndexOf(")") + 2)
        .startsWith("T"),
    20_000,
  );
  return { pid: child.pid!, exited };
}

/** Send `sig` to the stopped polis, then let it go on. */
function signalStopped(p: Stopped, sig: NodeJS.Signals): void {
  process.kill(p.pid, sig);
  try {
    process.kill(p.pid, "SIGCONT");
  } catch {
    // the signal's default action has ended it already
  }
}

function nothingLeftOf(id: string): void {
  expect(polis(root, ["state", id], { env: LAUNCHER }).code).toBe(1);
  expect(existsSync(join(root, "containers", id))).toBe(false);
  expect(cgroupDirsNamed(id)).toEqual([]);
}

describe("a signal just before the launcher hands a create or run to node", () => {
  it.each(["SIGTERM", "SIGINT", "SIGHUP"] as const)(
    "run: %s caught while it created ends polis by it after the hand-off's undo; node never runs it",
    async (sig) => {
      const id = uniqueId("nsig-run");
      const marker = join(scratch, `hook-ran-${id}`);
      const trace = join(scratch, `trace-${id}`);
      const p = await stoppedAt("handoff", ["run", "--bundle", hookedBundle(marker)], id, trace);
      signalStopped(p, sig);
      // before: the handler caught it into a table execv dropped; node then ran the container
      expect(await p.exited).toEqual({ code: null, signal: sig });
      // (the SIGCONT that woke it was caught too, and is raised again to no effect)
      expect(readFileSync(trace, "utf8")).toMatch(
        new RegExp(`^create: node: hooks\nrun: ${sig} caught before the hand-off, raised again\n`),
      );
      expect(existsSync(marker)).toBe(false);
      nothingLeftOf(id);
      polisOk(root, ["delete", "--force", id], { env: LAUNCHER });
      nothingLeftOf(id);
    },
  );

  it("run: a signal the caller ignores stays ignored (node then does the run)", async () => {
    const id = uniqueId("nsig-ign");
    const marker = join(scratch, `hook-ran-${id}`);
    const trace = join(scratch, `trace-${id}`);
    // SIGHUP ignored as nohup does it; exec keeps SIG_IGN
    made.push(id);
    const env: Record<string, string | undefined> = {
      ...process.env,
      POLIS_CREATE_STOP_AT: "handoff",
      POLIS_LAUNCHER_TRACE: trace,
    };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn("/usr/bin/nohup", [POLIS, "--root", root, "run", "--bundle", hookedBundle(marker), id], {
      stdio: "ignore",
      env,
      cwd: scratch,
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
      child.once("exit", (code, signal) => res({ code, signal })),
    );
    const stat = () => readFileSync(`/proc/${child.pid}/stat`, "utf8");
    await waitFor(
      () =>
        existsSync(`/proc/${child.pid}`) &&
        /polis/.test(stat()) &&
        stat()
          .slice(stat().lastIndexOf(")") + 2)
          .startsWith("T"),
      20_000,
    );
    signalStopped({ pid: child.pid!, exited }, "SIGHUP");
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(existsSync(marker)).toBe(true);
    nothingLeftOf(id);
  });

  it("create: the default action ends it at once, with nothing made yet", async () => {
    const id = uniqueId("nsig-create");
    const marker = join(scratch, `hook-ran-${id}`);
    const trace = join(scratch, `trace-${id}`);
    const p = await stoppedAt("handoff", ["create", "--bundle", hookedBundle(marker)], id, trace);
    signalStopped(p, "SIGTERM");
    expect(await p.exited).toEqual({ code: null, signal: "SIGTERM" });
    expect(existsSync(marker)).toBe(false);
    nothingLeftOf(id);
  });
});

describe("a signal during a native create or run that does not hand off", () => {
  it.each(["inserted", "cgroup", "pid", "ready"])(
    "create stopped at %s: SIGTERM ends it; what is left is stopped, and delete --force cleans it",
    async (step) => {
      const b = busyboxBundle((c) => (c.process.args = ["true"]));
      bundles.push(b);
      const id = uniqueId(`nsig-c-${step}`);
      const p = await stoppedAt(step, ["create", "--bundle", b], id, join(scratch, `trace-${id}`));
      signalStopped(p, "SIGTERM");
      expect(await p.exited).toEqual({ code: null, signal: "SIGTERM" });
      const state = JSON.parse(polisOk(root, ["state", id], { env: LAUNCHER }).stdout);
      expect(state.status).toBe("stopped");
      polisOk(root, ["delete", "--force", id], { env: LAUNCHER });
      nothingLeftOf(id);
      if (state.pid) expect(pidAlive(state.pid)).toBe(false);
    },
  );

  /** A foreground run's bundle whose process leaves /ran in its rootfs. */
  function markingBundle(): { b: string; ran: string } {
    const b = busyboxBundle((c) => {
      c.process.args = ["sh", "-c", "echo yes > /ran"];
      c.root.readonly = false;
    });
    bundles.push(b);
    return { b, ran: join(b, "rootfs", "ran") };
  }

  it.each(["inserted", "pid", "ready"])(
    "foreground run stopped at %s: SIGTERM before the start ends the run by it; the container never runs and is gone",
    async (step) => {
      const { b, ran } = markingBundle();
      const id = uniqueId(`nsig-r-${step}`);
      const trace = join(scratch, `trace-${id}`);
      const p = await stoppedAt(step, ["run", "--bundle", b], id, trace);
      signalStopped(p, "SIGTERM");
      // before: forwarded to an init that had no handler yet (dropped), and the run went on
      expect(await p.exited).toEqual({ code: null, signal: "SIGTERM" });
      expect(readFileSync(trace, "utf8")).toMatch(/^run: SIGTERM caught before the start: /);
      expect(existsSync(ran)).toBe(false);
      nothingLeftOf(id);
    },
  );

  it("foreground run: SIGCONT alone (its default does not end polis) is passed on, the run goes on", async () => {
    const { b, ran } = markingBundle();
    const id = uniqueId("nsig-r-cont");
    const p = await stoppedAt("pid", ["run", "--bundle", b], id, join(scratch, `trace-${id}`));
    process.kill(p.pid, "SIGCONT");
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(readFileSync(ran, "utf8")).toBe("yes\n");
    nothingLeftOf(id);
  });

  it("foreground run --keep: SIGINT before the start leaves a stopped container, which delete --force cleans", async () => {
    const { b, ran } = markingBundle();
    const id = uniqueId("nsig-r-keep");
    const p = await stoppedAt("ready", ["run", "--keep", "--bundle", b], id, join(scratch, `trace-${id}`));
    signalStopped(p, "SIGINT");
    expect(await p.exited).toEqual({ code: null, signal: "SIGINT" });
    expect(existsSync(ran)).toBe(false);
    const state = JSON.parse(polisOk(root, ["state", id], { env: LAUNCHER }).stdout);
    expect(state.status).toBe("stopped");
    expect(cgroupDirsNamed(id).length).toBeGreaterThan(0);
    polisOk(root, ["delete", "--force", id], { env: LAUNCHER });
    nothingLeftOf(id);
    if (state.pid) expect(pidAlive(state.pid)).toBe(false);
  });
});

describe("node's foreground run: a signal while it creates (a hook sends it)", () => {
  it.each([
    ["node", "SIGTERM", NODE],
    ["node", "SIGINT", NODE],
    ["the launcher's hand-off", "SIGHUP", LAUNCHER],
  ] as const)("%s: %s before the start ends the run by it; the container never runs and is gone", async (_path, sig, env) => {
    const hook = join(scratch, "signal-polis.sh");
    writeFileSync(hook, '#!/bin/sh\ncat >/dev/null\nkill -s "$1" "$PPID"\n');
    chmodSync(hook, 0o755);
    const b = busyboxBundle((c) => {
      c.process.args = ["sh", "-c", "echo yes > /ran"];
      c.root.readonly = false;
      c.hooks = { createRuntime: [{ path: hook, args: ["signal-polis", sig.slice(3)] }] };
    });
    bundles.push(b);
    const id = uniqueId("nsig-node");
    made.push(id);
    const r = polis(root, ["run", "--bundle", b, id], { env });
    // before: forwarded to an init without a handler (dropped); the container ran, exit 0
    expect({ code: r.code, signal: r.signal }).toEqual({ code: -1, signal: sig });
    expect(existsSync(join(b, "rootfs", "ran"))).toBe(false);
    nothingLeftOf(id);
  });
});

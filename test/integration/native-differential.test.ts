// The native launcher (dist/polis, native/launcher/) against the Node path (POLIS_NATIVE=0):
// every hot command, on the same containers or on twins made from one bundle, must give the same
// exit code, stdout, stderr and --log lines (text and json), and leave the same state behind.
// Calls expected to be done natively run with POLIS_NODE=/bin/false, so that a silent hand-off
// to node shows up as a difference.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxBundle } from "../helpers/rootfs.js";
import { Store } from "../../src/state/store.js";
import { cgroupDirsNamed, pidAlive, POLIS, polis, polisOk, tempRoot, uniqueId, waitFor, type Result } from "../helpers/polis.js";

const NODE = { POLIS_NATIVE: "0" };
const NATIVE = { POLIS_NATIVE: "1", POLIS_NODE: "/bin/false" };
/** Native where it can, node where the launcher hands the call over (hooks, live delete --force). */
const LAUNCHER = { POLIS_NATIVE: "1" };

let root: string;
let bundle: string;
let logs: string;
const made: string[] = [];

beforeAll(() => {
  root = tempRoot();
  logs = mkdtempSync(join(tmpdir(), "polis-native-logs-"));
  bundle = busyboxBundle((c) => {
    c.annotations = { "org.polis.b": "2", "org.polis.a": 'x "quoted" \\ y', empty: "" };
  });
});

afterAll(() => {
  for (const id of made) polis(root, ["delete", "--force", id], { env: NODE });
  rmSync(root, { recursive: true, force: true });
  rmSync(bundle, { recursive: true, force: true });
  rmSync(logs, { recursive: true, force: true });
});

const TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)/g;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  log: string | null;
}

let logSeq = 0;
/** Run one call with --log in `mode`; the log's lines and stderr with their times normalised. */
function call(
  args: string[],
  env: Record<string, string>,
  mode: "none" | "text" | "json" = "none",
  swap?: [string, string],
): Outcome {
  const log = join(logs, `log-${logSeq++}`);
  const globals = mode === "none" ? [] : ["--log", log, "--log-format", mode];
  const r: Result = polis(root, [...globals, ...args], { env });
  const text = (s: string) => {
    let t = s.replace(TIME, "<time>");
    if (swap) t = t.split(swap[0]).join(swap[1]);
    return t;
  };
  // null: no file (log.ts creates the --log file up front, even when nothing is written to it)
  return {
    code: r.code,
    stdout: text(r.stdout),
    stderr: text(r.stderr),
    log: existsSync(log) ? text(readFileSync(log, "utf8")) : null,
  };
}

/** The same call on both paths, compared (optionally on twins: `swap` maps the native twin's id to node's). */
function same(
  args: string[],
  mode: "none" | "text" | "json" = "none",
  nativeArgs = args,
  swap?: [string, string],
  env: Record<string, string> = NATIVE,
): Outcome {
  const viaNode = call(args, NODE, mode);
  const viaNative = call(nativeArgs, env, mode, swap);
  expect(viaNative, `polis ${nativeArgs.join(" ")} (log ${mode})`).toEqual(viaNode);
  return viaNode;
}

function create(id: string, b = bundle): void {
  polisOk(root, ["create", "--bundle", b, id], { env: NODE });
  made.push(id);
}

function pidOf(id: string): number {
  return JSON.parse(polisOk(root, ["state", id], { env: NODE }).stdout).pid;
}

/** State documents of twins, with the native twin's id, pid and creation time made node's. */
function sameState(a: string, b: string): void {
  const sa = JSON.parse(call(["state", a], NODE).stdout || "null");
  const sb = JSON.parse(call(["state", b], NATIVE).stdout || "null");
  expect({ ...sb, id: a, pid: sb.pid === 0 ? 0 : sa.pid, created: sa.created }).toEqual(sa);
  expect(sb.pid === 0).toBe(sa.pid === 0);
}

/**
 * The container events recorded for `id`, without seq, time and the attribute durationMs (their
 * format is checked: how long a command ran is the one thing the two paths must not agree on).
 */
function eventsOf(id: string): { type: string; action: string; id: string; attributes: Record<string, unknown> }[] {
  const store = Store.open(root);
  try {
    return store.listEvents({ id }).map((e) => {
      expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      const { durationMs, ...attributes } = e.attributes;
      expect(durationMs, `${e.action} of ${id}: durationMs`).toBeTypeOf("number");
      expect(durationMs as number).toBeGreaterThan(0);
      return { type: e.type, action: e.action, id: e.id, attributes };
    });
  } finally {
    store.close();
  }
}

function sameEvents(a: string, b: string): void {
  expect(eventsOf(b).map((e) => ({ ...e, id: a }))).toEqual(eventsOf(a));
}

describe("native launcher vs node: identical outputs", () => {
  it("fails alike on an unknown container, a bad signal or format, in every log format", () => {
    const cases = [
      ["state", "nope"],
      ["start", "nope"],
      ["pause", "nope"],
      ["resume", "nope"],
      ["delete", "nope"],
      ["delete", "--force", "nope"],
      ["delete", "nope", "-f"],
      ["kill", "nope"],
      ["kill", "nope", "9"],
      ["kill", "--all", "nope", "KILL"],
      ["kill", "nope", "BOGUS"],
      ["kill", "nope", "65"],
      ["kill", "nope", "rtmin+31"],
      ["kill", "nope", "sigrtmax-2"],
      ["kill", "nope", 'a"b\x01c\\d\t\x7f/'], // quoting in both log formats
      ["list", "--format", "yaml"],
      ["list", "-f", "yaml", "-q"],
    ];
    for (const args of cases) for (const mode of ["none", "text", "json"] as const) same(args, mode);
    // --log=/dev/stderr is stderr, not a file
    same(["--log", "/dev/stderr", "state", "nope"]);
  });

  it("hands what it does not do to node, with node's output", () => {
    // usage errors, help, --debug, unknown commands and flags: node answers (POLIS_NODE unset)
    for (const args of [
      ["state"],
      ["state", "a", "b"],
      ["kill", "--bogus", "x"],
      ["list", "x"],
      ["state", "--help"],
      ["--version"],
      ["nonsense"],
    ]) {
      same(args, "none", args, undefined, LAUNCHER);
    }
    // --debug prints node's phase timings: handed over (/bin/false as node says nothing)
    expect(polis(root, ["--debug", "state", "nope"], { env: NATIVE })).toMatchObject({ code: 1, stdout: "", stderr: "" });
  });

  it("hands a database at a schema version it was not built for to node", async () => {
    const other = tempRoot();
    try {
      polisOk(other, ["list"], { env: NODE }); // creates the database
      const Database = (await import("better-sqlite3")).default;
      const db = new Database(join(other, "state.db"));
      const version = db.pragma("user_version", { simple: true }) as number;
      db.pragma(`user_version = ${version + 1}`);
      db.close();
      const viaNode = polis(other, ["state", "x"], { env: NODE });
      expect(viaNode.stderr).toMatch(/has schema version \d+, newer than this polis/);
      // handed over: /bin/false as node says nothing (natively it would say "container does not exist")
      expect(polis(other, ["state", "x"], { env: NATIVE })).toMatchObject({ code: 1, stdout: "", stderr: "" });
      const viaLauncher = polis(other, ["state", "x"], { env: LAUNCHER });
      expect({ ...viaLauncher, stderr: viaLauncher.stderr.replace(TIME, "") }).toEqual({
        ...viaNode,
        stderr: viaNode.stderr.replace(TIME, ""),
      });
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("state and list agree on created, running, paused and stopped containers", async () => {
    const ids = {
      created: uniqueId("n-created"),
      running: uniqueId("n-running"),
      paused: uniqueId("n-paused"),
      stopped: uniqueId("n-stopped"),
    };
    for (const id of Object.values(ids)) create(id);
    for (const id of [ids.running, ids.paused, ids.stopped]) polisOk(root, ["start", id], { env: NODE });
    polisOk(root, ["pause", ids.paused], { env: NODE });
    const pid = pidOf(ids.stopped);
    polisOk(root, ["kill", ids.stopped, "KILL"], { env: NODE });
    await waitFor(() => !pidAlive(pid));
    for (const [status, id] of Object.entries(ids)) {
      const out = same(["state", id]);
      expect(JSON.parse(out.stdout).status).toBe(status);
      expect(out.stdout.endsWith("}")).toBe(true);
    }
    for (const mode of ["none", "json"] as const) {
      for (const args of [
        ["list"],
        ["list", "--format", "json"],
        ["list", "-f", "table"],
        ["list", "-q"],
        ["list", "--quiet", "--format", "json"],
      ])
        same(args, mode);
    }
    const table = same(["list"]).stdout;
    expect(table).toMatch(/^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER\n/);
    const json = JSON.parse(same(["list", "--format", "json"]).stdout);
    expect(json.find((c: { id: string }) => c.id === ids.paused).annotations["org.polis.a"]).toBe('x "quoted" \\ y');
  });

  it("start, pause, resume, kill and delete do the same to twin containers", async () => {
    const a = uniqueId("n-twin-node");
    const b = uniqueId("n-twin-native");
    const swap: [string, string] = [b, a];
    create(a);
    create(b);
    sameState(a, b);
    same(["start", a], "json", ["start", b], swap);
    sameState(a, b);
    same(["start", a], "text", ["start", b], swap); // already running
    same(["resume", a], "json", ["resume", b], swap); // not paused
    same(["pause", a], "none", ["pause", b], swap);
    sameState(a, b);
    expect(readFileSync(join(cgroupDirsNamed(b).find((d) => d.includes("/freezer/"))!, "freezer.state"), "utf8").trim()).toBe(
      "FROZEN",
    );
    same(["pause", a], "json", ["pause", b], swap); // already paused
    same(["delete", a], "text", ["delete", b], swap); // not stopped: paused
    same(["resume", a], "none", ["resume", b], swap);
    sameState(a, b);
    same(["kill", a, "0"], "none", ["kill", b, "0"], swap);
    same(["delete", a], "json", ["delete", b], swap); // not stopped: running
    const pids = [pidOf(a), pidOf(b)];
    same(["kill", a, "SIGKILL"], "none", ["kill", b, "SIGKILL"], swap);
    await waitFor(() => !pids.some(pidAlive));
    sameState(a, b);
    same(["kill", a, "9"], "json", ["kill", b, "9"], swap); // not running
    same(["kill", "--all", a, "9"], "json", ["kill", "--all", b, "9"], swap); // sweeps a stopped one
    same(["start", a], "text", ["start", b], swap); // stopped
    same(["delete", a], "json", ["delete", b], swap);
    for (const id of [a, b]) {
      expect(cgroupDirsNamed(id)).toEqual([]);
      expect(existsSync(join(root, "containers", id))).toBe(false);
    }
    same(["state", a], "none", ["state", b], swap);
    sameEvents(a, b);
    expect(eventsOf(b).map((e) => `${e.action} ${JSON.stringify(e.attributes)}`)).toEqual([
      `create ${JSON.stringify({ bundle })}`,
      "start {}",
      'kill {"signal":0}',
      'kill {"signal":9}',
      'kill {"signal":9,"all":true}',
      "delete {}",
    ]);
  });

  it("kill --all and delete of a never-started container, twins", async () => {
    const a = uniqueId("n-all-node");
    const b = uniqueId("n-all-native");
    const swap: [string, string] = [b, a];
    create(a);
    create(b);
    const pids = [pidOf(a), pidOf(b)];
    same(["kill", "--all", a, "KILL"], "json", ["kill", "--all", b, "KILL"], swap);
    await waitFor(() => !pids.some(pidAlive));
    sameState(a, b);
    same(["delete", a], "none", ["delete", b], swap);
    const c = uniqueId("n-fresh-node");
    const d = uniqueId("n-fresh-native");
    create(c);
    create(d);
    const fresh = [pidOf(c), pidOf(d)];
    same(["delete", c], "json", ["delete", d], [d, c]); // created: the init is killed
    expect(fresh.some(pidAlive)).toBe(false);
    for (const id of [a, b, c, d]) expect(cgroupDirsNamed(id)).toEqual([]);
    sameEvents(a, b);
    sameEvents(c, d);
  });

  it("kill and kill --all of paused twins: the freezer dance and what is left paused", async () => {
    const a = uniqueId("n-frz-node");
    const b = uniqueId("n-frz-native");
    const swap: [string, string] = [b, a];
    create(a);
    create(b);
    for (const id of [a, b]) {
      polisOk(root, ["start", id], { env: NODE });
      polisOk(root, ["pause", id], { env: NODE });
    }
    // a signal that is not KILL leaves a paused container paused (and pending)
    same(["kill", "--all", a, "USR1"], "json", ["kill", "--all", b, "USR1"], swap);
    sameState(a, b);
    expect(JSON.parse(call(["state", b], NATIVE).stdout).status).toBe("paused");
    const pids = [pidOf(a), pidOf(b)];
    same(["kill", "--all", a, "9"], "text", ["kill", "--all", b, "9"], swap);
    await waitFor(() => !pids.some(pidAlive));
    sameState(a, b);
    same(["delete", a], "none", ["delete", b], swap);
    sameEvents(a, b);
    for (const id of [a, b]) expect(cgroupDirsNamed(id)).toEqual([]);
  });

  it("leaves a container with hooks, and delete --force of a live one, to node", () => {
    const marker = join(logs, "poststart-ran");
    const hooked = busyboxBundle((cfg) => {
      cfg.hooks = { poststart: [{ path: "/bin/sh", args: ["sh", "-c", `echo ran > ${marker}`] }] };
    });
    try {
      const id = uniqueId("n-hooks");
      create(id, hooked);
      expect(polis(root, ["start", id], { env: NATIVE }).code).not.toBe(0); // not natively
      expect(polis(root, ["start", id], { env: LAUNCHER }).code).toBe(0);
      expect(readFileSync(marker, "utf8")).toBe("ran\n");
      expect(polis(root, ["delete", "--force", id], { env: NATIVE }).code).not.toBe(0); // running: node's
      expect(polis(root, ["delete", "--force", id], { env: LAUNCHER }).code).toBe(0);
      expect(cgroupDirsNamed(id)).toEqual([]);
    } finally {
      rmSync(hooked, { recursive: true, force: true });
    }
  });

  it("leaves a container holding resources (the release seam) to node, also for a gone row", () => {
    const a = uniqueId("n-res-node");
    const b = uniqueId("n-res-native");
    create(a);
    create(b);
    const store = Store.open(root);
    try {
      for (const id of [a, b, "n-res-orphan"]) store.addResource(id, "test-kind", "thing", { n: 1 });
    } finally {
      store.close();
    }
    expect(polis(root, ["delete", b], { env: NATIVE }).code).not.toBe(0); // not done natively
    // node's answer: no releaser knows this kind; the row and the container stay
    same(["delete", a], "json", ["delete", b], [b, a], LAUNCHER);
    same(["delete", "--force", "n-res-orphan"], "none", ["delete", "--force", "n-res-orphan"], undefined, LAUNCHER);
    expect(polis(root, ["delete", "--force", "n-res-orphan"], { env: NATIVE }).code).not.toBe(0);
    const clean = Store.open(root);
    try {
      for (const id of [a, b, "n-res-orphan"]) clean.removeResource(id, "test-kind", "thing");
    } finally {
      clean.close();
    }
    same(["delete", a], "none", ["delete", b], [b, a]);
    same(["delete", "--force", "n-res-orphan"]);
  });

  it("20 concurrent invocations mixing both paths on one root", async () => {
    const ids = Array.from({ length: 5 }, (_, i) => uniqueId(`n-conc${i}`));
    for (const id of ids) create(id);
    const run = (args: string[], env: Record<string, string>) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(POLIS, ["--root", root, ...args], {
          env: { ...process.env, ...env },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
      });
    const path = (i: number) => (i % 2 ? NATIVE : NODE);

    // Each container started twice at once, once per path: exactly one start wins.
    const starts = ids.flatMap((id, i) => [run(["start", id], path(i)), run(["start", id], path(i + 1))]);
    const reads = Array.from({ length: 10 }, (_, i) =>
      run(i % 3 ? ["state", ids[i % 5]] : ["list", "--format", "json"], path(i)),
    );
    const started = await Promise.all(starts);
    for (const r of await Promise.all(reads)) {
      expect(r.code, r.stderr).toBe(0);
      expect(() => JSON.parse(r.stdout)).not.toThrow();
    }
    for (let i = 0; i < ids.length; i++) {
      const pair = [started[2 * i], started[2 * i + 1]];
      expect(pair.filter((r) => r.code === 0)).toHaveLength(1);
      const loser = pair.find((r) => r.code !== 0)!;
      expect(loser.stderr).toMatch(/cannot start an already running container/);
    }
    for (const id of ids) expect(JSON.parse(polisOk(root, ["state", id]).stdout).status).toBe("running");

    // Kill all, with lists and states in between; then delete each twice at once.
    const pids = ids.map(pidOf);
    const kills = ids.map((id, i) => run(["kill", id, "KILL"], path(i)));
    const more = Array.from({ length: 15 }, (_, i) => run(i % 2 ? ["list", "-q"] : ["state", ids[i % 5]], path(i)));
    for (const r of [...(await Promise.all(kills)), ...(await Promise.all(more))]) expect(r.code, r.stderr).toBe(0);
    await waitFor(() => !pids.some(pidAlive));
    const deletes = await Promise.all(
      ids.flatMap((id, i) => [
        run(["delete", id], path(i)),
        run(["delete", id], path(i + 1)),
        ...(i < 5 ? [run(["list"], path(i))] : []),
      ]),
    );
    for (const r of deletes) {
      if (r.code !== 0) expect(r.stderr).toMatch(/container does not exist/);
    }
    expect(
      polisOk(root, ["list", "-q"])
        .stdout.split("\n")
        .filter((l) => ids.includes(l)),
    ).toEqual([]);
    for (const id of ids) expect(cgroupDirsNamed(id)).toEqual([]);
  });
});

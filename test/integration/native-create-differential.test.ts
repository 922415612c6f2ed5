// `polis create` done by the native launcher (native/launcher/create.c) against node's
// (POLIS_NATIVE=0): twins made from one bundle, one per path, must give the same exit code,
// stdout, stderr and --log lines, the same state row (every column; config as parsed JSON), the
// same events, `state` output, cgroup directories and device rules, the same init as seen from
// /proc (capabilities, NoNewPrivs, mounts), and, once started, the same output. The native twin
// runs with POLIS_NODE=/bin/false, so that a silent hand-off to node shows up as a failure.
// Configs the launcher must leave to node are handed off (POLIS_LAUNCHER_TRACE says why) and
// still work; a failure after the first change is undone and then handed off; a create
// SIGKILLed half-way leaves what `delete --force` cleans.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxBundle, REPO } from "../helpers/rootfs.js";
import { Store } from "../../src/state/store.js";
import { turnEventLoop } from "../helpers/event-loop.js";
import { controllerDir, hierarchyMounts, RUN, TEST_CGROUP_PARENT } from "../helpers/host.js";
import { cgroupDirsNamed, pidAlive, POLIS, polis, polisOk, tempRoot, uniqueId, waitFor, mountsSeenBy } from "../helpers/polis.js";

const NODE = { POLIS_NATIVE: "0" };
const NATIVE = { POLIS_NATIVE: "1", POLIS_NODE: "/bin/false" };
const LAUNCHER = { POLIS_NATIVE: "1" };

type Config = Record<string, any>;
const TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)/g;

let root: string;
let scratch: string;
const made: string[] = [];
const bundles: string[] = [];
let seq = 0;

beforeAll(() => {
  root = tempRoot();
  scratch = mkdtempSync(join(tmpdir(), "polis-ncreate-"));
  polisOk(root, ["list"], { env: NODE }); // the database: the launcher hands its first call to node
});

afterAll(() => {
  for (const id of made) polis(root, ["delete", "--force", id], { env: NODE });
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
  for (const b of bundles) rmSync(b, { recursive: true, force: true });
});

/** What the container prints once started: who and where it is, its limits and devices. */
const REPORT = [
  "sh",
  "-c",
  "echo hello; id; pwd; hostname; ulimit -n; env | sort; grep -E '^(Cap|NoNewPrivs|Seccomp|Groups|Umask)' /proc/self/status; ls /dev | sort; touch /x 2>&1; cat /proc/self/cgroup | sed 's/:.*//' | sort | tr '\\n' ' '",
];

function bundleOf(edit: (c: Config) => void): string {
  const b = busyboxBundle((c) => {
    c.process.args = REPORT;
    c.annotations = { "org.polis.b": "2", "org.polis.a": "one two", empty: "" };
    c.hostname = "twin";
    edit(c);
  });
  bundles.push(b);
  return b;
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  log: string | null;
}

/**
 * `polis create` with `env`; the container's stdout stays in `out` (it inherits create's, as
 * under containerd), for the output compared after start.
 */
function createWith(
  env: Record<string, string>,
  id: string,
  args: string[],
  opts: { mode?: "none" | "text" | "json"; cwd?: string; trace?: string; globals?: string[]; verb?: string } = {},
): Outcome & { out: string } {
  const n = seq++;
  const out = join(scratch, `out-${n}`);
  const err = join(scratch, `err-${n}`);
  const log = join(scratch, `log-${n}`);
  const mode = opts.mode ?? "none";
  const globals = [...(opts.globals ?? []), ...(mode === "none" ? [] : ["--log", log, "--log-format", mode])];
  const fullEnv: Record<string, string | undefined> = { ...process.env, ...env };
  delete fullEnv.NODE_EXTRA_CA_CERTS;
  if (opts.trace) fullEnv.POLIS_LAUNCHER_TRACE = opts.trace;
  const o = openSync(out, "w+");
  const e = openSync(err, "w+");
  try {
    const r = spawnSync(POLIS, ["--root", root, ...globals, opts.verb ?? "create", ...args, id], {
      stdio: ["ignore", o, e],
      env: fullEnv,
      cwd: opts.cwd,
      timeout: 30_000,
    });
    made.push(id);
    return {
      code: r.status ?? -1,
      stdout: readFileSync(out, "utf8"),
      stderr: readFileSync(err, "utf8").replace(TIME, "<time>"),
      log: existsSync(log) ? readFileSync(log, "utf8").replace(TIME, "<time>") : null,
      out,
    };
  } finally {
    closeSync(o);
    closeSync(e);
  }
}

const swap = (text: string, from: string, to: string) => text.split(from).join(to);

/** The containers row, every column; config parsed; what differs by nature checked for shape. */
function rowOf(id: string, as: string, more: [string, string][] = []): Record<string, unknown> | undefined {
  const db = new Database(join(root, "state.db"), { readonly: true });
  try {
    const row = db.prepare("SELECT * FROM containers WHERE id = ?").get(id) as Record<string, any> | undefined;
    if (!row) return undefined;
    expect(row.pid).toBeGreaterThan(0);
    expect(row.pid_start_time).toMatch(/^\d+$/);
    expect(row.creator_pid).toBeGreaterThan(0);
    expect(row.creator_start_time).toMatch(/^\d+$/);
    expect(row.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const text = (v: unknown) => {
      if (typeof v !== "string") return v;
      let t = swap(v, id, as);
      for (const [from, to] of more) t = swap(t, from, to);
      return t;
    };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) {
      if (["pid", "pid_start_time", "creator_pid", "creator_start_time", "created"].includes(k)) continue;
      // config as parsed JSON (node stores JSON.stringify's text, the launcher SQLite's json())
      out[k] = k === "config" ? JSON.parse(text(JSON.stringify(JSON.parse(v as string))) as string) : text(v);
    }
    // annotations are printed by `state` as stored: the very text, not only the same JSON
    return out;
  } finally {
    db.close();
  }
}

function eventsOf(id: string, as: string, more: [string, string][] = []): unknown[] {
  const store = Store.open(root);
  try {
    return store.listEvents({ id }).map((e) => {
      const { durationMs, ...attributes } = e.attributes;
      expect(durationMs).toBeTypeOf("number");
      let text = JSON.stringify(attributes);
      for (const [from, to] of more) text = swap(text, from, to);
      return { type: e.type, action: e.action, id: as, attributes: JSON.parse(text) };
    });
  } finally {
    store.close();
  }
}

function stateOf(id: string, as: string, more: [string, string][] = []): Record<string, unknown> {
  let text = polisOk(root, ["state", id], { env: NODE }).stdout;
  for (const [from, to] of more) text = swap(text, from, to);
  const s = JSON.parse(text);
  return { ...s, id: as, pid: s.pid > 0, created: typeof s.created };
}

/** The init's capabilities, ids and NoNewPrivs, and its mounts (ids and device numbers left out). */
function initView(pid: number, id: string, as: string, more: [string, string][] = []): { status: string[]; mounts: string[] } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .filter((l) => /^(Cap|NoNewPrivs|Seccomp|Uid|Gid|Groups|Umask)/.test(l));
  return { status, mounts: mountsSeenBy(pid, [[id, as], ...more]) };
}

function cgroupView(id: string, as: string): Record<string, unknown> {
  const dirs = cgroupDirsNamed(id).sort();
  const file = (controller: string, name: string) => {
    const dir = dirs.find((d) => d.includes(`/${controller}/`));
    return dir ? readFileSync(join(dir, name), "utf8") : "";
  };
  return {
    dirs: dirs.map((d) => swap(d, id, as)),
    devices: file("devices", "devices.list"),
    shares: file("cpu", "cpu.shares"),
    pids: file("pids", "pids.max"),
    memory: file("memory", "memory.limit_in_bytes"),
    memsw: existsSync(join(dirs.find((d) => d.includes("/memory/")) ?? "/nonexistent", "memory.memsw.limit_in_bytes"))
      ? file("memory", "memory.memsw.limit_in_bytes")
      : "",
  };
}

/** Start a created container and wait until it has exited; its output. */
async function startAndOutput(id: string, out: string, env: Record<string, string>): Promise<string> {
  polisOk(root, ["start", id], { env });
  await waitFor(() => JSON.parse(polisOk(root, ["state", id], { env: NODE }).stdout).status === "stopped", 10_000);
  return readFileSync(out, "utf8");
}

interface TwinOptions {
  args?: (id: string) => string[];
  mode?: "none" | "text" | "json";
  cwd?: string;
}

/** Node's create of one twin, the native one of the other; everything compared. */
async function twins(bundleFor: (id: string) => string, o: TwinOptions = {}): Promise<string> {
  const a = uniqueId("ncn");
  const b = uniqueId("ncx");
  // one bundle per twin when it depends on the id (compared with the paths swapped)
  const bundleOfTwin = new Map<string, string>();
  const bundleFor1 = (id: string) => bundleOfTwin.get(id) ?? bundleOfTwin.set(id, bundleFor(id)).get(id)!;
  const args = o.args ?? ((id: string) => ["--bundle", bundleFor1(id)]);
  const trace = join(scratch, `trace-${seq}`);
  const viaNode = createWith(NODE, a, args(a), { mode: o.mode, cwd: o.cwd });
  const viaNative = createWith(NATIVE, b, args(b), { mode: o.mode, cwd: o.cwd, trace });
  expect(existsSync(trace) ? readFileSync(trace, "utf8") : "", "handed to node").toBe(`create: native: ${b}\n`);
  const strip = ({ out: _out, ...r }: Outcome & { out: string }) => r;
  expect({ ...strip(viaNative), stderr: swap(viaNative.stderr, b, a), log: viaNative.log && swap(viaNative.log, b, a) }).toEqual(
    strip(viaNode),
  );
  expect(viaNode.code, viaNode.stderr).toBe(0);
  const paths: [string, string][] = bundleFor1(a) === bundleFor1(b) ? [] : [[bundleFor1(b), bundleFor1(a)]];
  expect(rowOf(b, a, paths)).toEqual(rowOf(a, a));
  expect(eventsOf(b, a, paths)).toEqual(eventsOf(a, a));
  expect(stateOf(b, a, paths)).toEqual(stateOf(a, a));
  expect(cgroupView(b, a)).toEqual(cgroupView(a, a));
  const pidA = JSON.parse(polisOk(root, ["state", a], { env: NODE }).stdout).pid;
  const pidB = JSON.parse(polisOk(root, ["state", b], { env: NODE }).stdout).pid;
  expect(initView(pidB, b, a, paths)).toEqual(initView(pidA, a, a));
  for (const [id, pid] of [
    [a, pidA],
    [b, pidB],
  ] as const) {
    const given = args(id);
    const at = given.indexOf("--pid-file");
    if (at >= 0) expect(readFileSync(given[at + 1], "utf8")).toBe(String(pid));
  }
  const outA = await startAndOutput(a, viaNode.out, NODE);
  const outB = await startAndOutput(b, viaNative.out, LAUNCHER);
  expect(swap(outB, b, a)).toEqual(outA);
  expect(outA).toContain("hello");
  for (const id of [a, b]) polisOk(root, ["delete", id], { env: NODE });
  for (const id of [a, b]) expect(cgroupDirsNamed(id)).toEqual([]);
  return outA;
}

describe("native create: twins with node's", () => {
  it("the test config (read-only root, caps, rlimits, masked and read-only paths, devices)", async () => {
    const b = bundleOf(() => {});
    await twins(() => b);
    await twins(() => b, { mode: "json" });
  }, 180_000);

  it("polis spec's config with a process of its own, and its variations", async () => {
    const variations: ((c: Config) => void)[] = [
      (c) => {
        c.root.readonly = false;
        c.process.cwd = "/tmp";
        c.process.env.push("FOO=bar baz");
      },
      (c) => {
        delete c.process.user; // normalised to root as node records it
        c.process.noNewPrivileges = false;
      },
      (c) => {
        c.process.user = { uid: 65534, gid: 65534, additionalGids: [1, 2] };
        c.process.capabilities = { bounding: ["CAP_CHOWN"], effective: [], permitted: [] };
      },
      (c) => {
        c.process.rlimits = [
          { type: "RLIMIT_NOFILE", hard: 4096, soft: 2048 },
          { type: "RLIMIT_NPROC", hard: 100, soft: 100 },
        ];
        c.process.oomScoreAdj = 100;
        c.linux.sysctl = { "net.ipv4.ip_forward": "1" };
      },
      (c) => {
        c.mounts.push({ destination: "/data", type: "bind", source: "rootfs/etc", options: ["rbind", "ro"] });
        c.mounts.push({ destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["size=1m", "mode=700"] });
        c.linux.maskedPaths.push("/etc/hostname");
        c.linux.readonlyPaths.push("/tmp");
      },
      (c) => {
        c.linux.resources.devices = [
          { allow: false, access: "rwm" },
          { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
          { allow: true, type: "b", major: 8, access: "r" },
        ];
      },
      (c) => {
        delete c.annotations;
      },
      (c) => {
        // a user namespace (the plan maps the ids; nothing else of create changes)
        c.linux.namespaces.push({ type: "user" });
        c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.mounts = c.mounts.filter((m: { type?: string }) => m.type !== "cgroup");
      },
      (c) => {
        // containerd's default device rules and cpu shares (ctr run), and a pids limit (podman)
        c.linux.resources = {
          devices: [
            { allow: false, access: "rwm" },
            ...[
              [1, 3],
              [1, 8],
              [1, 7],
              [5, 0],
              [1, 5],
              [1, 9],
              [5, 1],
              [136, undefined],
              [5, 2],
            ].map(([major, minor]) => ({
              allow: true,
              type: "c",
              major,
              ...(minor === undefined ? {} : { minor }),
              access: "rwm",
            })),
          ],
          cpu: { shares: 1024 },
          pids: { limit: 2048 },
        };
      },
      (c) => {
        // CRI's memory limit (with swap where the kernel accounts it), and runc's -1
        const memory = controllerDir("memory");
        const memsw = memory?.v2 === false && existsSync(join(memory.hierarchy.mountpoint, "memory.memsw.limit_in_bytes"));
        c.linux.resources.memory = memsw ? { limit: 64 << 20, swap: 96 << 20 } : { limit: 64 << 20 };
      },
      (c) => {
        c.linux.resources.memory = { limit: -1 };
      },
    ];
    for (const edit of variations) {
      const b = bundleOf(edit);
      await twins(() => b);
    }
  }, 180_000);

  it("seccomp: podman's default profile, and a profile that denies mkdir with EACCES", async () => {
    const podman = JSON.parse(readFileSync(join(__dirname, "..", "fixtures", "native-plan", "seccomp-podman.json"), "utf8"));
    // a denied call's error, compared whole between the twins (the discriminating errno is EACCES below)
    const withDenied = (c: Config, denied: string) =>
      (c.process.args = [...REPORT.slice(0, 2), `${REPORT[2]}; echo; ${denied}; echo rc=$?`]);
    const viaPodman = await twins(() =>
      bundleOf((c) => {
        c.linux.seccomp = podman;
        withDenied(c, "swapon /dev/null 2>&1");
      }),
    );
    expect(viaPodman).toMatch(/Seccomp:\s+2/);
    expect(viaPodman).toContain("swapon: /dev/null: Operation not permitted");
    const denyMkdir = {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }],
    };
    const viaDeny = await twins(() =>
      bundleOf((c) => {
        c.linux.seccomp = denyMkdir;
        c.process.noNewPrivileges = false; // the filter loaded before the capabilities are dropped
        withDenied(c, "mkdir /dev/shm/d 2>&1");
      }),
    );
    expect(viaDeny).toMatch(/Seccomp:\s+2/);
    expect(viaDeny).toContain("Permission denied");
    expect(viaDeny).toContain("rc=1");
  }, 180_000);

  it("cgroupsPath absolute and relative, --pid-file, --no-new-keyring, --no-pivot, a relative bundle", async () => {
    const own: string[] = [];
    await twins((id) => {
      const b = bundleOf((c) => (c.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${id}`));
      return b;
    }, {});
    await twins((id) => {
      own.push(`ncr-${id}`);
      return bundleOf((c) => (c.linux.cgroupsPath = `ncr-${id}/leaf`));
    });
    // the relative parents (named with the id): node's delete leaves them, as runc's
    for (const name of own) for (const d of cgroupDirsNamed(name)) rmdirSync(d);

    const b = bundleOf(() => {});
    const pidFiles = join(scratch, "pids");
    await twins(() => b, { args: (id) => ["--bundle", b, "--pid-file", join(pidFiles + id)] });
    await twins(() => b, { args: () => ["-b", b, "--no-new-keyring", "--no-pivot"] });
    await twins(() => b, { args: () => ["--bundle", relative(scratch, b)], cwd: scratch });
    await twins(() => b, { args: () => [], cwd: b, mode: "text" });
  }, 180_000);
});

/** A create the launcher must leave to node: handed off (the trace says why), and it works as node's. */
function handedOff(
  args: (id: string) => string[],
  env: Record<string, string> = {},
  globals: string[] = [],
): { a: string; b: string; why: string } {
  const a = uniqueId("ncn");
  const b = uniqueId("ncx");
  const trace = join(scratch, `trace-${seq}`);
  const viaNode = createWith({ ...NODE, ...env }, a, args(a), { mode: "json", globals });
  const viaLauncher = createWith({ ...LAUNCHER, ...env }, b, args(b), { mode: "json", trace, globals });
  const why = existsSync(trace) ? readFileSync(trace, "utf8") : "";
  expect(why).toMatch(/^create: (node|undone, then node): /);
  const { out: _o1, ...n } = viaNode;
  const { out: _o2, ...l } = viaLauncher;
  expect({ ...l, stderr: swap(l.stderr, b, a), log: l.log && swap(l.log, b, a) }).toEqual(n);
  const bundleA = args(a)[args(a).indexOf("--bundle") + 1];
  const bundleB = args(b)[args(b).indexOf("--bundle") + 1];
  if (n.code === 0) expect(rowOf(b, a, bundleA === bundleB ? [] : [[bundleB, bundleA]])).toEqual(rowOf(a, a));
  return { a, b, why };
}

describe("native create: what it leaves to node", () => {
  it("hands off configs and flags it does not do, before any change, and they work as before", async () => {
    const cases: [string, (c: Config) => void, string[]?][] = [
      ["hooks", (c) => (c.hooks = { prestart: [{ path: "/bin/true" }] })],
      ["process.terminal", (c) => (c.process.terminal = true)],
      ["linux.resources other than devices", (c) => (c.linux.resources.memory = { limit: 64 << 20, reservation: 32 << 20 })],
      ["linux.resources other than devices", (c) => (c.linux.resources.cpu = { shares: 512, quota: 10000 })],
      // node's error (swap below the limit), found before any change
      ["linux.resources other than devices", (c) => (c.linux.resources.memory = { limit: 64 << 20, swap: 32 << 20 })],
      ["annotations", (c) => (c.annotations = { "org.polis.a": 'x "quoted" \\ y' })],
      ["annotations", (c) => (c.annotations = { "10": "integer-like keys move to the front" })],
    ];
    for (const [why, edit] of cases) {
      const b = bundleOf(edit);
      const r = handedOff(() => ["--bundle", b]);
      expect(r.why, why).toContain(why);
      for (const id of [r.a, r.b]) polis(root, ["delete", "--force", id], { env: NODE });
      await turnEventLoop(); // four node commands a case, ~40 in all: see turnEventLoop
    }
    // a cgroupsPath node normalises (each twin its own: they would share the cgroup)
    const perId = new Map<string, string>();
    const r = handedOff((id) => {
      if (!perId.has(id))
        perId.set(
          id,
          bundleOf((c) => (c.linux.cgroupsPath = `x/../${id}`)),
        );
      return ["--bundle", perId.get(id)!];
    });
    expect(r.why).toContain("linux.cgroupsPath");
    for (const id of [r.a, r.b]) polis(root, ["delete", "--force", id], { env: NODE });
    // flags: a console socket, preserved fds; a missing bundle
    const b = bundleOf(() => {});
    for (const flags of [
      ["--preserve-fds", "1"],
      ["--console-socket", join(scratch, "none.sock")],
    ]) {
      const r = handedOff(() => ["--bundle", b, ...flags]);
      for (const id of [r.a, r.b]) polis(root, ["delete", "--force", id], { env: NODE });
      await turnEventLoop();
    }
    const systemd = handedOff(() => ["--bundle", b], {}, ["--systemd-cgroup"]);
    expect(systemd.why).toContain("--systemd-cgroup");
    const missing = handedOff(() => ["--bundle", join(scratch, "no-such-bundle")]);
    expect(missing.why).toContain("bundle");
  }, 180_000);

  it("an id in use: node's error, nothing of the other container touched", () => {
    const b = bundleOf(() => {});
    const id = uniqueId("ncdup");
    expect(createWith(NATIVE, id, ["--bundle", b]).code).toBe(0);
    const before = rowOf(id, id);
    const viaNode = createWith(NODE, id, ["--bundle", b], { mode: "text" });
    const viaLauncher = createWith(LAUNCHER, id, ["--bundle", b], { mode: "text" });
    expect(viaNode.code).toBe(1);
    expect({ ...viaLauncher, out: "" }).toEqual({ ...viaNode, out: "" });
    expect(rowOf(id, id)).toEqual(before);
    expect(polis(root, ["state", id], { env: NODE }).stdout).toContain('"status": "created"');
    polisOk(root, ["delete", "--force", id], { env: NODE });
  });

  it("a cgroup write that fails after the first change: all undone, then node's error", () => {
    // a parent whose device rules deny /dev/null: the container's cgroup cannot allow it
    const parent = `${TEST_CGROUP_PARENT}/ncr-deny-${RUN}`;
    const devices = hierarchyMounts().find((m) => m.endsWith("/devices"));
    if (!devices) return; // no v1 devices controller: node does every create here anyway
    const dir = join(devices, parent);
    spawnSync("mkdir", ["-p", dir]);
    writeFileSync(join(dir, "devices.deny"), "c 1:3 rwm");
    const bundleFor = (id: string) => bundleOf((c) => (c.linux.cgroupsPath = `${parent}/${id}`));
    const a = uniqueId("ncn");
    const b = uniqueId("ncx");
    const trace = join(scratch, `trace-${seq}`);
    try {
      for (const mode of ["text", "json"] as const) {
        const viaNode = createWith(NODE, a, ["--bundle", bundleFor(a)], { mode });
        const viaLauncher = createWith(LAUNCHER, b, ["--bundle", bundleFor(b)], { mode, trace });
        expect(viaNode.code).toBe(1);
        expect(viaNode.stderr).toContain("EPERM");
        expect(readFileSync(trace, "utf8")).toMatch(/^create: undone, then node: linux.resources.devices: /m);
        const { out: _o1, ...n } = viaNode;
        const { out: _o2, ...l } = viaLauncher;
        expect({ ...l, stderr: swap(l.stderr, b, a), log: l.log && swap(l.log, b, a) }).toEqual(n);
        // nothing left by either: row, state directory, cgroup
        for (const id of [a, b]) {
          expect(rowOf(id, id)).toBeUndefined();
          expect(existsSync(join(root, "containers", id))).toBe(false);
          expect(cgroupDirsNamed(id)).toEqual([]);
        }
      }
    } finally {
      // the parent in every hierarchy (made by the creates, as runc's would be)
      for (const d of cgroupDirsNamed(`ncr-deny-${RUN}`)) rmdirSync(d);
    }
  });
});

describe("native create: SIGKILLed half-way", () => {
  it("leaves what delete --force cleans, at every step", async () => {
    const b = bundleOf(() => {});
    for (const step of ["inserted", "cgroup", "pid", "ready"]) {
      const id = uniqueId(`nck-${step}`);
      made.push(id);
      const env: Record<string, string | undefined> = { ...process.env, ...NATIVE, POLIS_CREATE_STOP_AT: step };
      delete env.NODE_EXTRA_CA_CERTS;
      const child = spawn(POLIS, ["--root", root, "create", "--bundle", b, id], { stdio: "ignore", env });
      const stat = () => readFileSync(`/proc/${child.pid}/stat`, "utf8");
      await waitFor(
        () =>
          stat()
            .slice(stat().lastIndexOf(")") + 2)
            .startsWith("T"),
        10_000,
      );
      const row = rowOrNull(id);
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
      expect(row, step).not.toBeNull();
      // a dead creator: stopped, on both paths
      for (const env2 of [NODE, NATIVE])
        expect(JSON.parse(polisOk(root, ["state", id], { env: env2 }).stdout).status).toBe("stopped");
      if (step === "cgroup" || step === "pid" || step === "ready") expect(cgroupDirsNamed(id).length).toBeGreaterThan(0);
      polisOk(root, ["delete", "--force", id], { env: LAUNCHER });
      expect(rowOrNull(id)).toBeNull();
      expect(existsSync(join(root, "containers", id))).toBe(false);
      expect(cgroupDirsNamed(id)).toEqual([]);
      const pid = rowPid(row);
      if (pid) expect(pidAlive(pid)).toBe(false);
    }
  });
});

function rowOrNull(id: string): Record<string, unknown> | null {
  const db = new Database(join(root, "state.db"), { readonly: true });
  try {
    return (db.prepare("SELECT * FROM containers WHERE id = ?").get(id) as Record<string, unknown>) ?? null;
  } finally {
    db.close();
  }
}

function rowPid(row: Record<string, unknown> | null): number {
  // the row read when the create stopped; at "pid" and "ready" it has the init's pid
  return row && typeof row.pid === "number" ? row.pid : 0;
}

describe("native create and run: the plan sent to the shim is node's, byte for byte", () => {
  it("detach (create) and wait (run) mode", async () => {
    const { parseSpec } = await import("../../src/spec/load.js");
    const { planInit } = await import("../../src/container/launch.js");
    const { cgroupManager } = await import("../../src/cgroups/index.js");
    const b = bundleOf((c) => (c.process.args = ["true"]));
    for (const [verb, mode] of [
      ["create", "detach"],
      ["run", "wait"],
    ] as const) {
      const id = uniqueId(`ncplan-${verb}`);
      const dump = join(scratch, `plan-${id}`);
      const env: Record<string, string | undefined> = { ...process.env, ...NATIVE, POLIS_PLAN_DUMP_TO: dump };
      delete env.NODE_EXTRA_CA_CERTS;
      const r = spawnSync(POLIS, ["--root", root, verb, "--bundle", b, id], { stdio: "ignore", env, timeout: 30_000 });
      expect(r.status).toBe(0);
      made.push(id);
      const spec = parseSpec(readFileSync(join(b, "config.json"), "utf8"));
      const cgroup = cgroupManager({ cgroupsPath: spec.linux?.cgroupsPath, id });
      const rec = {
        id,
        bundle: b,
        rootfs: join(b, "rootfs"),
        stateDir: join(root, "containers", id),
        sessionKeyring: `_ses.${id}`,
      } as never;
      const o = { id, bundle: b, noPivot: false, noNewKeyring: false, preserveFds: 0 } as never;
      const g = { root, logFormat: "text", debug: false, systemdCgroup: false } as never;
      const plan = await planInit({ g, o, spec, rec, cgroup, mode });
      expect(readFileSync(dump).equals(plan.encode()), `${verb}: plan bytes`).toBe(true);
      if (verb === "create") polisOk(root, ["delete", "--force", id], { env: NODE });
    }
  });
});

describe("native run (foreground and --detach): twins with node's", () => {
  /** `run` on both paths: exit code, output (the container's too), log, events; nothing left. */
  function runTwins(edit: (c: Config) => void, expectCode: number, handedOff?: RegExp): void {
    const flags: string[] = [];
    const b = bundleOf(edit);
    const a = uniqueId("nrn");
    const x = uniqueId("nrx");
    const trace = join(scratch, `trace-${seq}`);
    const run = (env: Record<string, string>, id: string, mode: "text" | "json", withTrace?: string) => {
      const n = seq++;
      const out = join(scratch, `run-out-${n}`);
      const err = join(scratch, `run-err-${n}`);
      const log = join(scratch, `run-log-${n}`);
      const fullEnv: Record<string, string | undefined> = { ...process.env, ...env };
      delete fullEnv.NODE_EXTRA_CA_CERTS;
      if (withTrace) fullEnv.POLIS_LAUNCHER_TRACE = withTrace;
      const o = openSync(out, "w+");
      const e = openSync(err, "w+");
      try {
        const r = spawnSync(POLIS, ["--root", root, "--log", log, "--log-format", mode, "run", ...flags, "--bundle", b, id], {
          stdio: ["ignore", o, e],
          env: fullEnv,
          timeout: 30_000,
        });
        made.push(id);
        return {
          code: r.status,
          stdout: swap(readFileSync(out, "utf8"), x, a),
          stderr: swap(readFileSync(err, "utf8").replace(TIME, "<time>"), x, a),
          log: swap(readFileSync(log, "utf8").replace(TIME, "<time>"), x, a),
        };
      } finally {
        closeSync(o);
        closeSync(e);
      }
    };
    for (const mode of ["text", "json"] as const) {
      const viaNode = run(NODE, a, mode);
      const viaNative = run(handedOff ? LAUNCHER : NATIVE, x, mode, trace);
      if (handedOff) expect(readFileSync(trace, "utf8")).toMatch(handedOff);
      else expect(readFileSync(trace, "utf8")).toBe(`run: native: ${x}\n`);
      rmSync(trace);
      expect(viaNative).toEqual(viaNode);
      expect(viaNode.code).toBe(expectCode);
      expect(eventsOf(x, a)).toEqual(eventsOf(a, a));
      if (!handedOff)
        expect(eventsOf(a, a).map((e: any) => e.action)).toEqual(
          mode === "text" ? ["create", "start", "delete"] : ["create", "start", "delete", "create", "start", "delete"],
        );
      for (const id of [a, x]) {
        expect(rowOrNull(id)).toBeNull();
        expect(existsSync(join(root, "containers", id))).toBe(false);
        expect(cgroupDirsNamed(id)).toEqual([]);
      }
    }
  }

  it("exit codes, the container's output, events; nothing left", () => {
    runTwins((c) => (c.process.args = REPORT), 0);
    runTwins((c) => (c.process.args = ["sh", "-c", "echo out; echo err >&2; exit 3"]), 3);
    // a death by signal: 128+N (without a pid namespace the shell is not its namespace's init)
    runTwins((c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "pid");
      c.process.args = ["sh", "-c", "echo dying; kill -9 $$"];
    }, 137);
    // the shim fails to find the binary: undone, then node's run reports it
    runTwins((c) => (c.process.args = ["/no/such/binary"]), 1, /^create: undone, then node: polis-shim reported/);
  }, 180_000);

  it("--detach: created and started, the row left for delete, as node's", async () => {
    const b = bundleOf((c) => (c.process.args = ["sh", "-c", "echo detached; sleep 100"]));
    const a = uniqueId("nrdn");
    const x = uniqueId("nrdx");
    const trace = join(scratch, `trace-${seq}`);
    const viaNode = createWith(NODE, a, ["-d", "--bundle", b], { mode: "json", verb: "run" });
    const viaNative = createWith(NATIVE, x, ["-d", "--bundle", b], { mode: "json", verb: "run", trace });
    expect(readFileSync(trace, "utf8")).toBe(`run: native: ${x}\n`);
    // stdout is the container's, written once it runs: compared below, when both have written
    const { out: outA, stdout: _s1, ...n } = viaNode;
    const { out: outX, stdout: _s2, ...l } = viaNative;
    expect(l).toEqual(n);
    expect(n.code).toBe(0);
    expect(rowOf(x, a)).toEqual(rowOf(a, a));
    expect(eventsOf(x, a)).toEqual(eventsOf(a, a));
    expect(stateOf(x, a)).toEqual(stateOf(a, a));
    expect(JSON.parse(polisOk(root, ["state", x], { env: NODE }).stdout).status).toBe("running");
    await waitFor(() => readFileSync(outA, "utf8") === "detached\n" && readFileSync(outX, "utf8") === "detached\n");
    for (const id of [a, x]) polisOk(root, ["delete", "--force", id], { env: NODE });
  });

  it("forwards the signals polis gets to the container's process", async () => {
    const b = bundleOf((c) => (c.process.args = ["sh", "-c", 'trap "echo got TERM; exit 7" TERM; echo ready; sleep 100 & wait']));
    for (const env of [NODE, NATIVE]) {
      const id = uniqueId("nrsig");
      made.push(id);
      const out = join(scratch, `sig-${id}`);
      const fd = openSync(out, "w+");
      const fullEnv: Record<string, string | undefined> = { ...process.env, ...env };
      delete fullEnv.NODE_EXTRA_CA_CERTS;
      const child = spawn(POLIS, ["--root", root, "run", "--bundle", b, id], { stdio: ["ignore", fd, "inherit"], env: fullEnv });
      closeSync(fd);
      await waitFor(() => readFileSync(out, "utf8").includes("ready"), 15_000);
      const code = new Promise((r) => child.once("exit", (c) => r(c)));
      child.kill("SIGTERM");
      expect(await code).toBe(7);
      expect(readFileSync(out, "utf8")).toBe("ready\ngot TERM\n");
      expect(rowOrNull(id)).toBeNull();
      expect(cgroupDirsNamed(id)).toEqual([]);
    }
  });

  it("hands off what it does not do (before any change) and a failure after one (all undone)", () => {
    const cases: [(c: Config) => void, string[], string][] = [
      [(c) => (c.process.terminal = true), ["--console-socket", join(scratch, "none.sock")], "run --console-socket"],
      [
        (c) => (c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "mount")),
        [],
        "mount namespace",
      ],
      [(c) => (c.process.args = ["true"]), ["--keep", "--rm"], ""],
    ];
    for (const [edit, flags, why] of cases) {
      const b = bundleOf(edit);
      const a = uniqueId("nrn");
      const x = uniqueId("nrx");
      const trace = join(scratch, `trace-${seq}`);
      const viaNode = createWith(NODE, a, ["--bundle", b, ...flags], { mode: "json", verb: "run" });
      const viaLauncher = createWith(LAUNCHER, x, ["--bundle", b, ...flags], { mode: "json", verb: "run", trace });
      if (why) expect(readFileSync(trace, "utf8")).toContain(why);
      else expect(existsSync(trace)).toBe(false); // a flag the launcher does not know: node at once
      const { out: _o1, ...n } = viaNode;
      const { out: _o2, ...l } = viaLauncher;
      expect({ ...l, stderr: swap(l.stderr, x, a), log: l.log && swap(l.log, x, a) }).toEqual(n);
      for (const id of [a, x]) polis(root, ["delete", "--force", id], { env: NODE });
    }
    // the device rule a parent denies: undone, then node's run fails with its own error
    const devices = hierarchyMounts().find((m) => m.endsWith("/devices"));
    if (!devices) return;
    const parent = `${TEST_CGROUP_PARENT}/nrun-deny-${RUN}`;
    const dir = join(devices, parent);
    spawnSync("mkdir", ["-p", dir]);
    writeFileSync(join(dir, "devices.deny"), "c 1:3 rwm");
    try {
      const a = uniqueId("nrn");
      const x = uniqueId("nrx");
      const trace = join(scratch, `trace-${seq}`);
      const bFor = (id: string) => bundleOf((c) => (c.linux.cgroupsPath = `${parent}/${id}`));
      const viaNode = createWith(NODE, a, ["--bundle", bFor(a)], { mode: "text", verb: "run" });
      const viaLauncher = createWith(LAUNCHER, x, ["--bundle", bFor(x)], { mode: "text", verb: "run", trace });
      expect(readFileSync(trace, "utf8")).toMatch(/^create: undone, then node: linux.resources.devices: /);
      expect(viaNode.code).toBe(1);
      const { out: _o1, ...n } = viaNode;
      const { out: _o2, ...l } = viaLauncher;
      expect({ ...l, stderr: swap(l.stderr, x, a), log: l.log && swap(l.log, x, a) }).toEqual(n);
      for (const id of [a, x]) {
        expect(rowOrNull(id)).toBeNull();
        expect(cgroupDirsNamed(id)).toEqual([]);
      }
    } finally {
      for (const d of cgroupDirsNamed(`nrun-deny-${RUN}`)) rmdirSync(d);
    }
  }, 180_000);
});

describe("native create with a terminal through --console-socket (ctr run -t, conmon)", () => {
  it("sends the pty as node's create does; the row, the init and the output match", async () => {
    const b = bundleOf((c) => {
      c.process.terminal = true;
      c.process.args = ["sh", "-c", "tty; stty size; echo hi"];
    });
    const seen: Record<string, unknown>[] = [];
    for (const env of [NODE, NATIVE]) {
      const id = uniqueId(env === NODE ? "nctn" : "nctx");
      const sock = join(scratch, `console-${seq}.sock`);
      const receiver = spawn("python3", [join(REPO, "test", "helpers", "console_receiver.py"), sock], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let got = "";
      receiver.stdout.on("data", (d: Buffer) => (got += d.toString()));
      await waitFor(() => got.includes("listening"));
      const trace = join(scratch, `trace-${seq}`);
      const r = createWith(env, id, ["--bundle", b, "--console-socket", sock], { trace: env === NATIVE ? trace : undefined });
      expect(r.code, r.stderr).toBe(0);
      if (env === NATIVE) expect(readFileSync(trace, "utf8")).toBe(`create: native: ${id}\n`);
      const pid = JSON.parse(polisOk(root, ["state", id], { env: NODE }).stdout).pid;
      const row = rowOf(id, "ID")!;
      const view = initView(pid, id, "ID");
      const done = new Promise((res) => receiver.once("exit", res));
      polisOk(root, ["start", id], { env: LAUNCHER });
      await done;
      polisOk(root, ["delete", "--force", id], { env: NODE });
      seen.push({ row: { ...row, bundle: "", rootfs: "" }, view, output: got.replace(/\r/g, "") });
    }
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[0].output).toContain("hi");
  });
});

describe("native run with a terminal the shim proxies (polis run -t)", () => {
  it("gives the output, window size and exit code of node's", async () => {
    const { PTY_HARNESS } = await import("../helpers/terminal.js");
    const script = join(scratch, "pty-harness.py");
    writeFileSync(script, PTY_HARNESS);
    const b = bundleOf((c) => {
      c.process.terminal = true;
      c.process.args = ["sh", "-c", "tty; stty size; [ -t 0 ] && echo stdin-is-tty; echo hi; exit 4"];
    });
    const seen: unknown[] = [];
    for (const env of [NODE, NATIVE]) {
      const id = uniqueId("nrtty");
      made.push(id);
      const trace = join(scratch, `trace-${seq++}`);
      const fullEnv: Record<string, string | undefined> = { ...process.env, ...env, POLIS_LAUNCHER_TRACE: trace };
      delete fullEnv.NODE_EXTRA_CA_CERTS;
      const argv = [POLIS, "--root", root, "run", "--bundle", b, id];
      const r = spawnSync("python3", [script, JSON.stringify({ argv, rows: 30, cols: 100, timeout: 20 })], {
        env: fullEnv,
        encoding: "utf8",
        timeout: 40_000,
      });
      const result = JSON.parse(r.stdout);
      if (env === NATIVE) expect(readFileSync(trace, "utf8")).toBe(`run: native: ${id}\n`);
      expect(rowOrNull(id)).toBeNull();
      expect(cgroupDirsNamed(id)).toEqual([]);
      seen.push(result);
    }
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[0]).toEqual({ out: "/dev/pts/0\r\n30 100\r\nstdin-is-tty\r\nhi\r\n", code: 4 });
  });
});

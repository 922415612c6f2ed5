// A foreground `polis run --image` done by the native launcher (native/launcher/run_image.c)
// against node's (POLIS_NATIVE=0), on images pulled from a real registry: twins run from one
// image, one per path, must give the same exit code, stdout and stderr, the same container row
// (every column), image-bundle resource row, config.json (byte for byte), bundle directories
// and init mounts (the `volatile` overlay over the same layers) while they run, the same events,
// and leave nothing behind (bundle, rows, cgroups). The native twin runs with POLIS_NODE=/bin/false
// and a trace that must say "native". What the launcher leaves to node (Volumes, a User, -d,
// a digest reference, an unknown image, layers to unpack ...) is handed off and works as node's;
// a failure after the bundle was made is undone before node redoes the run; a run SIGKILLed
// after the bundle was recorded is cleaned by `delete --force`.
import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostPlatform } from "../../src/image/manifest.js";
import { Store } from "../../src/state/store.js";
import { OciLayout, push, tarOf } from "../helpers/oci-layout.js";
import { POLIS, polis, polisOk, tempRoot, uniqueId, waitFor, launcherEnv, mountsSeenBy } from "../helpers/polis.js";
import { idsWithRows, leftOf } from "../helpers/state-ids.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { baseRootfs } from "../helpers/rootfs.js";
import { writeTar } from "../helpers/tarball.js";

const NODE = { POLIS_NATIVE: "0" };
const NATIVE = { POLIS_NATIVE: "1", POLIS_NODE: "/bin/false" };
const LAUNCHER = { POLIS_NATIVE: "1" };
const ARCH = hostPlatform().architecture;

/** What a container prints: who and where it is, then READY; it waits for a line on stdin. */
const REPORT =
  "echo hello; id; pwd; hostname; env | sort; cat /layer2; grep -E '^(Cap|NoNewPrivs)' /proc/self/status; touch /x && echo writable; echo READY; read x; echo bye";

const work = mkdtempSync(join(tmpdir(), "polis-nrunimage-"));
let reg: TestRegistry;
let root: string;
const ref = (tag: string) => `${reg.host}/polis/nrun:${tag}`;
let seq = 0;
let pulledTemplates: unknown[] = [];
const templates = () => {
  const db = new Database(join(root, "state.db"), { readonly: true });
  try {
    return db.prepare("SELECT * FROM image_run_templates ORDER BY image").all();
  } finally {
    db.close();
  }
};

beforeAll(async () => {
  reg = await startRegistry();
  const layout = new OciLayout(join(work, "oci"));
  const base = layout.layer(tarOf(baseRootfs(), join(work, "base.tar")), "gzip");
  const two = layout.layer(writeTar(join(work, "two.tar"), [{ name: "layer2", data: "from the second layer\n" }]), "gzip");
  const images: Record<string, Record<string, unknown>> = {
    plain: {
      Cmd: ["sh", "-c", REPORT],
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello world"],
      WorkingDir: "/tmp",
      Labels: { "org.polis.test": "twin", "b.label": "two" },
      ExposedPorts: { "80/tcp": {}, "53/udp": {} },
      StopSignal: "SIGINT",
    },
    entry: { Entrypoint: ["sh", "-c"], Cmd: ["echo from the image"], Env: ["X=1"] },
    exit3: { Cmd: ["sh", "-c", "echo going; exit 3"] },
    volumes: { Volumes: { "/data": {} }, Cmd: ["sh", "-c", "echo vol"] },
    user: { User: "1", Cmd: ["id", "-u"] },
    nocmd: {},
    health: { Cmd: ["echo", "healthy image"], Healthcheck: { Test: ["CMD", "true"], Interval: 1_000_000_000 } },
  };
  for (const [tag, config] of Object.entries(images)) {
    layout.image({ layers: [base, two], config, arch: ARCH, tag });
    push(layout.dir, tag, `docker://${ref(tag)}`);
  }
  root = tempRoot();
  for (const tag of Object.keys(images)) polisOk(root, ["pull", "-q", "--tls-verify=false", ref(tag)], { env: NODE });
}, 180_000);

afterAll(async () => {
  for (const id of idsWithRows(root)) polis(root, ["delete", "--force", id], { env: NODE });
  rmSync(root, { recursive: true, force: true });
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const swap = (text: string, from: string, to: string) => text.split(from).join(to);
const TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/g;

const cleanEnv = launcherEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** taken while the container waited on stdin (READY printed) */
  during?: Record<string, unknown>;
}

/** What the state database and the bundle say about `id` while it runs, `id` written as `as`. */
function snapshot(id: string, as: string): Record<string, unknown> {
  const db = new Database(join(root, "state.db"), { readonly: true });
  try {
    const row = db.prepare("SELECT * FROM containers WHERE id = ?").get(id) as Record<string, any>;
    const resources = db.prepare("SELECT * FROM container_resources WHERE container_id = ?").all(id);
    const bundle = join(root, "bundles", id);
    const pid = row.pid as number;
    const mounts = mountsSeenBy(pid, [[id, as]]);
    const { pid: _p, pid_start_time: _s, creator_pid: _c, creator_start_time: _t, created, ...rest } = row;
    expect(created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    return JSON.parse(
      swap(
        JSON.stringify({
          row: rest,
          resources,
          config: readFileSync(join(bundle, "config.json"), "utf8"),
          bundle: readdirSync(bundle)
            .sort()
            .map((n) => `${n} ${(statSync(join(bundle, n)).mode & 0o7777).toString(8)}`),
          rootfsOnHost: readdirSync(join(bundle, "rootfs")),
          mounts,
        }),
        id,
        as,
      ),
    );
  } finally {
    db.close();
  }
}

/** `polis run --image REF ID [-- args]`; when the container prints READY, a snapshot, then a line on stdin. */
async function runImage(
  env: Record<string, string>,
  tag: string,
  id: string,
  args: string[] = [],
  o: { trace?: string; flags?: string[]; atReady?: (id: string) => void } = {},
): Promise<Run> {
  const argv = ["--root", root, "run", "--image", ref(tag), ...(o.flags ?? []), id, ...(args.length ? ["--", ...args] : [])];
  const child = spawn(POLIS, argv, { env: cleanEnv(env, o.trace), stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b) => (stdout += b));
  child.stderr.on("data", (b) => (stderr += b));
  const exited = new Promise<number | null>((res) => child.once("exit", res));
  let during: Record<string, unknown> | undefined;
  const ready = Promise.race([waitFor(() => stdout.includes("READY\n"), 30_000).then(() => true), exited.then(() => false)]);
  if (await ready) {
    try {
      during = snapshot(id, "ID");
      o.atReady?.(id);
    } finally {
      child.stdin.end("\n");
    }
  } else {
    child.stdin.end();
  }
  const code = await exited;
  await new Promise((r) => setImmediate(r));
  return { code, stdout: swap(stdout, id, "ID"), stderr: swap(stderr, id, "ID").replace(TIME, "<time>"), during };
}

function eventsOf(id: string): unknown[] {
  const store = Store.open(root);
  try {
    return store.listEvents({ id }).map((e) => {
      const { durationMs, ...attributes } = e.attributes as Record<string, unknown>;
      expect(durationMs).toBeTypeOf("number");
      return { type: e.type, action: e.action, attributes: JSON.parse(swap(JSON.stringify(attributes), id, "ID")) };
    });
  } finally {
    store.close();
  }
}

const NOTHING_LEFT = { bundle: false, rows: { n: 0 }, resources: { n: 0 }, cgroups: [] };

/** Twins: node's run, then the launcher's (its trace must say native); everything compared. */
async function twins(tag: string, args: string[] = [], flags: string[] = []): Promise<Run> {
  const n = seq++;
  const viaNode = uniqueId(`rn${n}`);
  const viaNative = uniqueId(`rc${n}`);
  const a = await runImage(NODE, tag, viaNode, args, { flags });
  const trace = join(work, `trace-${n}`);
  const b = await runImage(NATIVE, tag, viaNative, args, { trace, flags });
  expect(existsSync(trace) ? readFileSync(trace, "utf8") : "", "handed to node").toBe(`run: native: ${viaNative}\n`);
  expect(b).toEqual(a);
  expect(eventsOf(viaNative)).toEqual(eventsOf(viaNode));
  expect(leftOf(root, viaNode)).toEqual(NOTHING_LEFT);
  expect(leftOf(root, viaNative)).toEqual(NOTHING_LEFT);
  return b;
}

describe("native run --image: the same as node's", () => {
  it("pull records a run template for each image that needs nothing from its rootfs (no Volumes, no User, a command)", () => {
    const db = new Database(join(root, "state.db"), { readonly: true });
    try {
      const tags = db
        .prepare("SELECT n.name FROM image_names n JOIN image_run_templates t ON t.image = n.image ORDER BY n.name")
        .all()
        .map((r) => (r as { name: string }).name);
      expect(tags).toEqual(["entry", "exit3", "health", "plain"].map(ref));
    } finally {
      db.close();
    }
    pulledTemplates = templates();
  });

  it("an image's Cmd, Env, WorkingDir, labels and ports: output, rows, config.json, mounts, events, cleanup", async () => {
    const r = await twins("plain");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("hello\nuid=0(root)");
    expect(r.stdout).toContain("/tmp\nID\n");
    expect(r.stdout).toContain("GREETING=hello world\n");
    expect(r.stdout).toContain("from the second layer\nCap");
    expect(r.stdout).toContain("writable\nREADY\nbye\n");
    const d = r.during as { config: string; mounts: string[]; resources: unknown[]; rootfsOnHost: string[] };
    const spec = JSON.parse(d.config);
    expect(spec.hostname).toBe("ID");
    expect(spec.annotations).toMatchObject({
      "org.polis.test": "twin",
      "org.opencontainers.image.exposedPorts": "80/tcp,53/udp",
    });
    expect(spec.mounts[0]).toMatchObject({ destination: "/", type: "overlay", source: "overlay" });
    expect(spec.mounts[0].options.at(-1)).toBe("volatile");
    // two layers, top first, and no sync of the upper file system when it goes
    expect(d.mounts.find((m) => m.startsWith("/ / "))).toMatch(
      /^\/ \/ \S+ overlay overlay \S*lowerdir=[^,]*images\/layers\/[^,:]+:[^,]*images\/layers\/[^,:]+,upperdir=.*fsync=volatile/,
    );
    expect(d.resources).toHaveLength(1);
    expect(d.rootfsOnHost).toEqual([]);
  });

  it("arguments after the id replace Cmd after the Entrypoint; an image without one runs them alone", async () => {
    expect((await twins("entry", ["echo $X args; echo READY; read x"])).stdout).toBe("1 args\nREADY\n");
    expect((await twins("plain", ["sh", "-c", "echo just these; echo READY; read x"])).stdout).toBe("just these\nREADY\n");
    expect((await twins("entry")).stdout).toBe("from the image\n");
  });

  it("the container's exit code is run's; --rm (a foreground run deletes anyway) changes nothing", async () => {
    const r = await twins("exit3");
    expect(r).toMatchObject({ code: 3, stdout: "going\n", stderr: "" });
    expect((await twins("exit3", [], ["--rm"])).code).toBe(3);
  });

  it("node's runs (makeBundle) found the templates pull made as they would have made them", () => {
    expect(pulledTemplates).toHaveLength(4);
    expect(templates()).toEqual(pulledTemplates);
  });
});

/** The launcher with its trace (node allowed), and node alone: same outcome; returns the trace. */
async function handedOff(
  tag: string,
  args: string[] = [],
  flags: string[] = [],
  prepare?: (id: string) => void,
): Promise<{ trace: string; run: Run }> {
  const n = seq++;
  const viaNode = uniqueId(`hn${n}`);
  const viaLauncher = uniqueId(`hl${n}`);
  prepare?.(viaNode);
  const a = await runImage(NODE, tag, viaNode, args, { flags });
  prepare?.(viaLauncher);
  const trace = join(work, `trace-${n}`);
  const b = await runImage(LAUNCHER, tag, viaLauncher, args, { trace, flags });
  expect({ ...b, during: undefined }).toEqual({ ...a, during: undefined });
  expect(b.during).toEqual(a.during);
  return { trace: existsSync(trace) ? swap(readFileSync(trace, "utf8"), viaLauncher, "ID") : "", run: b };
}

describe("native run --image: what it leaves to node", () => {
  it("a resource another room recorded while it ran (network connect): node's delete --force at the end releases it", async () => {
    const trace = join(work, `trace-${seq++}`);
    const id = uniqueId("room");
    const r = await runImage(LAUNCHER, "plain", id, [], {
      trace,
      atReady: (c) => {
        const store = Store.open(root);
        store.addResource(c, "network-sandbox", "hosts", {});
        store.close();
      },
    });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/READY\nbye\n$/);
    expect(readFileSync(trace, "utf8")).toBe(`run: native: ${id}\n`);
    expect(leftOf(root, id)).toEqual(NOTHING_LEFT);
    expect(eventsOf(id).map((e) => (e as { action: string }).action)).toEqual(["create", "start", "delete"]);
  });

  it("images whose config reads the rootfs (Volumes, User) or has no command get no run template: node runs them", async () => {
    for (const [tag, out] of [
      ["volumes", "vol\n"],
      ["user", "1\n"],
    ]) {
      const { trace, run } = await handedOff(tag);
      expect(run).toMatchObject({ code: 0, stdout: out, stderr: "" });
      expect(trace).toMatch(/^create: node: run --image: no run template/);
    }
    const { trace, run } = await handedOff("nocmd");
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("the image has no Entrypoint or Cmd");
    expect(trace).toMatch(/^create: node: run --image: no run template/);
  });

  it("an unknown image, a taken id and an image id for a name: node's answers", async () => {
    const unknown = await handedOff("nosuchtag");
    expect(unknown.run.code).toBe(1);
    expect(unknown.run.stderr).toContain("image not known");
    const taken = await handedOff("exit3", [], [], (id) =>
      polisOk(root, ["run", "-d", "--image", ref("exit3"), id], { env: NODE }),
    );
    expect(taken.run.code).toBe(1);
    expect(taken.trace).toBe("create: node: the id is taken\n");
    for (const id of idsWithRows(root)) polis(root, ["delete", "--force", id], { env: NODE });
    // an image by (a prefix of) its id: node's resolveImage
    const db = new Database(join(root, "state.db"), { readonly: true });
    const image = (db.prepare("SELECT image FROM image_names WHERE name = ?").get(ref("entry")) as { image: string }).image;
    db.close();
    const n = seq++;
    const trace = join(work, `trace-${n}`);
    const byId = await runImage(LAUNCHER, "entry", uniqueId("byid"), [], { trace });
    expect(byId.stdout).toBe("from the image\n");
    const r = polis(root, ["run", "--image", image.slice(7, 19), uniqueId("byid")], { env: cleanEnv(LAUNCHER, trace) });
    expect(r).toMatchObject({ code: 0, stdout: "from the image\n" });
  });

  it("--bundle-dir, a flag among the arguments, -d --rm and a Healthcheck with -d go to node (and work)", async () => {
    const dir = join(work, `bdir-${seq++}`);
    const withDir = await handedOff("entry", [], ["--bundle-dir", dir]);
    expect(withDir.run).toMatchObject({ code: 0, stdout: "from the image\n" });
    expect(withDir.trace).toBe("");
    const r = polis(root, ["run", "--image", ref("plain"), uniqueId("flag"), "echo", "-n", "x"], { env: cleanEnv(NATIVE) });
    // node's path (/bin/false here): the launcher did not take "-n" as an argument of its own
    expect(r.code).toBe(1);
    for (const [tag, flags] of [
      ["exit3", ["-d", "--rm"]],
      ["health", ["-d"]],
    ] as const) {
      const id = uniqueId("tonode");
      expect(polis(root, ["run", ...flags, "--image", ref(tag), id], { env: cleanEnv(NATIVE) }).code).toBe(1);
      expect(leftOf(root, id)).toEqual(NOTHING_LEFT);
    }
    // in the foreground, an image's Healthcheck is not run (node's rule): native
    expect((await twins("health")).stdout).toBe("healthy image\n");
  });

  it("layers to unpack again (a layer directory gone): node unpacks them, and the next run is native", async () => {
    const layers = join(root, "images", "layers");
    const aside = join(work, `aside-${seq++}`);
    mkdirSync(aside);
    const top = readdirSync(layers);
    for (const l of top) renameSync(join(layers, l), join(aside, l));
    try {
      const trace = join(work, `trace-${seq++}`);
      const run = await runImage(LAUNCHER, "entry", uniqueId("unpack"), [], { trace });
      expect(run).toMatchObject({ code: 0, stdout: "from the image\n", stderr: "" });
      expect(readFileSync(trace, "utf8")).toBe("create: node: run --image: layers to unpack\n");
      expect(readdirSync(layers).sort()).toEqual([...top].sort());
    } finally {
      rmSync(aside, { recursive: true, force: true });
    }
    await twins("entry");
  });
});

describe("native run --image: failures after the bundle", () => {
  it("a bundle directory that is there already: the row is taken back, node reports it", async () => {
    const { trace, run } = await handedOff("entry", [], [], (id) => mkdirSync(join(root, "bundles", id), { recursive: true }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("already exists");
    expect(trace).toBe(
      `create: node: run --image: make the bundle directory\nrun --image: bundle undone: ${join(root, "bundles", "ID")}\n`,
    );
  });

  it("a create the launcher cannot finish (--preserve-fds) undoes the bundle, then node runs it all", async () => {
    const { trace, run } = await handedOff("entry", [], ["--preserve-fds", "0"]);
    expect(run).toMatchObject({ code: 0, stdout: "from the image\n" });
    expect(trace).toMatch(/^run: native/);
    const undone = await handedOff("entry", [], ["--preserve-fds", "1"]);
    expect(undone.run).toMatchObject({ code: 0, stdout: "from the image\n" });
    expect(undone.trace).toBe(`create: node: --preserve-fds\nrun --image: bundle undone: ${join(root, "bundles", "ID")}\n`);
  });

  it("a run SIGKILLed once its container row is in: delete --force gives back the bundle and every row", async () => {
    const id = uniqueId("killed");
    const child = spawn(POLIS, ["--root", root, "run", "--image", ref("entry"), id], {
      env: { ...cleanEnv(NATIVE), POLIS_CREATE_STOP_AT: "inserted" },
      stdio: "ignore",
    });
    const exited = new Promise((res) => child.once("exit", res));
    await waitFor(() => readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]?.startsWith("T"), 20_000);
    expect(existsSync(join(root, "bundles", id, "config.json"))).toBe(true);
    child.kill("SIGKILL");
    await exited;
    polisOk(root, ["delete", "--force", id], { env: cleanEnv(LAUNCHER) });
    expect(leftOf(root, id)).toEqual(NOTHING_LEFT);
  });
});

describe("native run --image: a signal before it hands off", () => {
  it("SIGTERM caught before the hand-off: the bundle and its rows undone, then polis ends by it; node never runs it", async () => {
    const id = uniqueId("sigho");
    const trace = join(work, `trace-${seq++}`);
    // --preserve-fds 1: handed to node from the create, after the bundle was made
    const child = spawn(POLIS, ["--root", root, "run", "--preserve-fds", "1", "--image", ref("entry"), id], {
      env: { ...cleanEnv(LAUNCHER, trace), POLIS_CREATE_STOP_AT: "handoff" },
      stdio: "ignore",
    });
    const exited = new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
    await waitFor(() => readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]?.startsWith("T"), 20_000);
    expect(existsSync(join(root, "bundles", id, "config.json"))).toBe(true);
    child.kill("SIGTERM");
    child.kill("SIGCONT");
    expect(await exited).toEqual({ code: null, signal: "SIGTERM" });
    expect(swap(readFileSync(trace, "utf8"), id, "ID")).toMatch(
      /^create: node: --preserve-fds\nrun --image: bundle undone: .*\nrun: SIGTERM caught before the hand-off, raised again\n/,
    );
    expect(leftOf(root, id)).toEqual(NOTHING_LEFT);
  });
});

describe("native create, run -d and run --keep of an image, and their delete", () => {
  const hostMounts = (id: string) =>
    readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.split(" ")[4]?.startsWith(join(root, "bundles", id)))
      .map((l) => {
        const f = l.split(" ");
        return swap([f[4], f[5], ...f.slice(f.indexOf("-") + 1)].join(" "), id, "ID");
      });

  /** `polis VERB... --image REF ID` with stdio in files (a created init holds create's). */
  function call(env: Record<string, string>, verb: string[], id: string, trace?: string): Run {
    const n = seq++;
    const out = join(work, `out-${n}`);
    const err = join(work, `err-${n}`);
    const o = openSync(out, "w+");
    const e = openSync(err, "w+");
    try {
      const r = spawnSync(POLIS, ["--root", root, ...verb, "--image", ref("exit3"), id], {
        stdio: ["ignore", o, e],
        env: cleanEnv(env, trace),
        timeout: 30_000,
      });
      // run -d returns before the container's own output: read it once the container has stopped
      if (verb.includes("-d")) untilStopped(id);
      return {
        code: r.status,
        stdout: swap(readFileSync(out, "utf8"), id, "ID"),
        stderr: swap(readFileSync(err, "utf8"), id, "ID"),
      };
    } finally {
      closeSync(o);
      closeSync(e);
    }
  }

  function untilStopped(id: string): void {
    const end = Date.now() + 20_000;
    while (JSON.parse(polisOk(root, ["state", id]).stdout).status !== "stopped") {
      if (Date.now() > end) throw new Error(`${id} did not stop`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }

  function view(id: string): Record<string, unknown> {
    const db = new Database(join(root, "state.db"), { readonly: true });
    try {
      const {
        pid,
        pid_start_time: _s,
        creator_pid: _c,
        creator_start_time: _t,
        created: _d,
        ...row
      } = db.prepare("SELECT * FROM containers WHERE id = ?").get(id) as Record<string, any>;
      expect(pid).toBeGreaterThan(0);
      const bundle = join(root, "bundles", id);
      return JSON.parse(
        swap(
          JSON.stringify({
            row,
            resources: db.prepare("SELECT * FROM container_resources WHERE container_id = ?").all(id),
            config: readFileSync(join(bundle, "config.json"), "utf8"),
            rootfs: readdirSync(join(bundle, "rootfs")).sort(),
          }),
          id,
          "ID",
        ),
      );
    } finally {
      db.close();
    }
  }

  it("the overlay mounted on the host, rows, config.json and output as node's; native delete as node's", async () => {
    for (const verb of [["create"], ["run", "-d"], ["run", "--keep"]]) {
      const [viaNode, viaNative] = [uniqueId("vn"), uniqueId("vc")];
      const trace = join(work, `trace-${seq++}`);
      const a = call(NODE, verb, viaNode);
      const b = call(NATIVE, verb, viaNative, trace);
      expect(b, verb.join(" ")).toEqual(a);
      expect(b.code).toBe(verb.includes("--keep") ? 3 : 0);
      expect(readFileSync(trace, "utf8")).toBe(`${verb[0]}: native: ${viaNative}\n`);
      for (const id of [viaNode, viaNative]) {
        if (verb.includes("-d"))
          await waitFor(() => JSON.parse(polisOk(root, ["state", id]).stdout).status === "stopped", 20_000);
      }
      expect(view(viaNative)).toEqual(view(viaNode));
      const mounts = hostMounts(viaNative);
      expect(mounts).toEqual(hostMounts(viaNode));
      expect(mounts).toHaveLength(1);
      expect(mounts[0]).toMatch(/^\S+\/bundles\/ID\/rootfs \S+ overlay overlay \S*lowerdir=[^,]*images\/layers\/[^,:]+:/);
      expect(mounts[0]).not.toContain("volatile");
      const force = verb[0] === "create" ? ["--force"] : [];
      const delNode = polis(root, ["delete", ...force, viaNode], { env: cleanEnv(NODE) });
      const delNative = polis(root, ["delete", ...force, viaNative], { env: cleanEnv(NATIVE) });
      expect(delNative).toEqual(delNode);
      expect(delNative).toMatchObject({ code: 0, stdout: "", stderr: "" });
      expect(eventsOf(viaNative)).toEqual(eventsOf(viaNode));
      for (const id of [viaNode, viaNative]) {
        expect(leftOf(root, id)).toEqual(NOTHING_LEFT);
        expect(hostMounts(id)).toEqual([]);
      }
    }
  });

  it("a container with another room's resource as well is node's to delete", () => {
    const id = uniqueId("dother");
    polisOk(root, ["create", "--image", ref("exit3"), id], { env: cleanEnv(LAUNCHER) });
    const store = Store.open(root);
    store.addResource(id, "network-sandbox", "hosts", {});
    store.close();
    // node's path is /bin/false here: the hand-off shows as its exit code
    expect(polis(root, ["delete", "--force", id], { env: cleanEnv(NATIVE) }).code).toBe(1);
    polisOk(root, ["delete", "--force", id], { env: cleanEnv(LAUNCHER) });
    expect(leftOf(root, id)).toEqual(NOTHING_LEFT);
  });
});

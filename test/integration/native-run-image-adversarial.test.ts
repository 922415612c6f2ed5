// The native `run --image` (native/launcher/run_image.c) against node's (POLIS_NATIVE=0) on the
// inputs most likely to tell them apart: arguments SQLite's JSON functions must carry through
// unchanged (quotes, backslashes, control characters, odd UTF-8, JSON-looking text, flag-looking
// words, a long one), arguments given without `--`, a 255-byte id, every spelling of a Docker Hub
// name node resolves to the same image, a tag moved to another image by a second pull, and a
// bundle another run has recorded but not yet turned into a container (the race of two runs
// with one id).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostPlatform } from "../../src/image/manifest.js";
import { Store } from "../../src/state/store.js";
import { OciLayout, push, tarOf } from "../helpers/oci-layout.js";
import { POLIS, polis, polisOk, tempRoot, uniqueId, waitFor, launcherEnv } from "../helpers/polis.js";
import { idsWithRows, leftOf } from "../helpers/state-ids.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { baseRootfs } from "../helpers/rootfs.js";

const NODE = { POLIS_NATIVE: "0" };
const NATIVE = { POLIS_NATIVE: "1", POLIS_NODE: "/bin/false" };
const LAUNCHER = { POLIS_NATIVE: "1" };
const ARCH = hostPlatform().architecture;

/** Text JSON.stringify and SQLite's JSON functions could write differently. */
const ODD_TEXT = 'q"b\\s/\n\t\x01\x1b\x7f é 😀 \u2028\u2029 </script>';

const work = mkdtempSync(join(tmpdir(), "polis-nrunadv-"));
let reg: TestRegistry;
let root: string;
let layout: OciLayout;
let base: ReturnType<OciLayout["layer"]>;
const ref = (tag: string) => `${reg.host}/polis/nrunadv:${tag}`;
let seq = 0;

/** An image of the base layer and `config`, pushed as `tag` (`name`: its name in the layout). */
function pushImage(tag: string, config: Record<string, unknown>, name = tag): void {
  layout.image({ layers: [base], config, arch: ARCH, tag: name });
  push(layout.dir, name, `docker://${ref(tag)}`);
}

beforeAll(async () => {
  reg = await startRegistry();
  layout = new OciLayout(join(work, "oci"));
  base = layout.layer(tarOf(baseRootfs(), join(work, "base.tar")), "gzip");
  // prints each argument in <>, its hostname, then waits for a line on stdin
  pushImage("entry", {
    Entrypoint: ["sh", "-c", 'for a in "$@"; do printf "<%s>" "$a"; done; echo; hostname; echo READY; read x', "argv0"],
    Cmd: ["from", "the image"],
  });
  pushImage("moving", { Cmd: ["echo", "first image"] });
  pushImage("plain", { Cmd: ["true"] });
  pushImage("odd", {
    Entrypoint: ["sh", "-c", 'printf "<%s>" "$ODD"; echo; echo READY; read x'],
    Env: [`ODD=${ODD_TEXT}`, "PATH=/usr/bin:/bin"],
    Labels: { "a.b": "1" },
    WorkingDir: "/tmp/ü dir",
    StopSignal: "SIGRTMIN+3",
  });
  root = tempRoot();
  for (const tag of ["entry", "moving", "plain", "odd"])
    polisOk(root, ["pull", "-q", "--tls-verify=false", ref(tag)], { env: NODE });
}, 180_000);

afterAll(async () => {
  for (const id of idsWithRows(root)) polis(root, ["delete", "--force", id], { env: NODE });
  rmSync(root, { recursive: true, force: true });
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const swap = (text: string, from: string, to: string) => text.split(from).join(to);
/** `id` written as ID, then a longer id's first 63 bytes (its hostname) as ID63 */
const hide = (text: string, id: string) =>
  id.length > 63 ? swap(swap(text, id, "ID"), id.slice(0, 63), "ID63") : swap(text, id, "ID");

const env = launcherEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** config.json and the resource rows, taken while the container waited on stdin */
  config?: string;
  resources?: unknown[];
}

/** `polis run --image IMAGE <argv...>` (argv holds the id and what follows); `id` written as ID. */
async function runImage(e: Record<string, string>, image: string, id: string, argv: string[], trace?: string): Promise<Run> {
  const child = spawn(POLIS, ["--root", root, "run", "--image", image, ...argv], {
    env: env(e, trace),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b) => (stdout += b));
  child.stderr.on("data", (b) => (stderr += b));
  const exited = new Promise<number | null>((res) => child.once("exit", res));
  const ready = Promise.race([waitFor(() => stdout.includes("READY\n"), 30_000).then(() => true), exited.then(() => false)]);
  let config: string | undefined;
  let resources: unknown[] | undefined;
  if (await ready) {
    try {
      config = hide(readFileSync(join(root, "bundles", id, "config.json"), "utf8"), id);
      const db = new Database(join(root, "state.db"), { readonly: true });
      try {
        resources = JSON.parse(
          swap(JSON.stringify(db.prepare("SELECT * FROM container_resources WHERE container_id = ?").all(id)), id, "ID"),
        );
      } finally {
        db.close();
      }
    } finally {
      child.stdin.end("\n");
    }
  } else {
    child.stdin.end();
  }
  const code = await exited;
  return { code, stdout: hide(stdout, id), stderr: hide(stderr, id), config, resources };
}

const NOTHING_LEFT = { bundle: false, rows: { n: 0 }, resources: { n: 0 }, cgroups: [] };

/** node's run, then the launcher's, which must be native: same code, output, config.json, rows; nothing left. */
async function twins(image: string, argv: (id: string) => string[], mkId = (id: string) => id): Promise<Run> {
  const n = seq++;
  const [viaNode, viaNative] = [mkId(uniqueId(`advn${n}`)), mkId(uniqueId(`advc${n}`))];
  const a = await runImage(NODE, image, viaNode, argv(viaNode));
  const trace = join(work, `trace-${n}`);
  const b = await runImage(NATIVE, image, viaNative, argv(viaNative), trace);
  expect(existsSync(trace) ? readFileSync(trace, "utf8") : "", "handed to node").toBe(`run: native: ${viaNative}\n`);
  expect(b).toEqual(a);
  expect(leftOf(root, viaNode)).toEqual(NOTHING_LEFT);
  expect(leftOf(root, viaNative)).toEqual(NOTHING_LEFT);
  return b;
}

const ODD_ARGS = [
  'a "quoted" word',
  "back\\slash \\n \\u0041 \\",
  "new\nline\ttab\rreturn",
  "\x01\x02\x08\x0b\x0c\x1b\x1f\x7f",
  "ü € 😀 \u2028 \u2029 \u00a0 \ufeff \u{10ffff}",
  "",
  " ",
  "--rm",
  "-d",
  "--image=other",
  "--",
  "[1,2]",
  '{"a":1}',
  "null",
  "123",
  "true",
  "'single' $(echo no) `echo no` $HOME",
  "x".repeat(60_000),
];

describe("native run --image: arguments and ids node's way", () => {
  it("odd arguments after -- reach the process, and config.json, byte for byte as node's", async () => {
    const r = await twins(ref("entry"), (id) => [id, "--", ...ODD_ARGS]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${ODD_ARGS.map((a) => `<${a}>`).join("")}\nID\nREADY\n`);
    const spec = JSON.parse(r.config!);
    expect(spec.process.args.slice(4)).toEqual(ODD_ARGS);
  });

  it("arguments without --, and some before and after --", async () => {
    expect((await twins(ref("entry"), (id) => [id, "one", "two words"])).stdout).toBe("<one><two words>\nID\nREADY\n");
    expect((await twins(ref("entry"), (id) => [id, "one", "--", "-x", "--"])).stdout).toBe("<one><-x><-->\nID\nREADY\n");
    // no arguments: the image's Cmd
    expect((await twins(ref("entry"), (id) => [id])).stdout).toBe("<from><the image>\nID\nREADY\n");
  });

  it("a 255-byte id: the hostname is its first 63 bytes", async () => {
    let long = "";
    const r = await twins(
      ref("entry"),
      (id) => [id],
      (id) => (long = `${id}-${"i".repeat(255 - id.length - 1)}`),
    );
    expect(long).toHaveLength(255);
    expect(r).toMatchObject({ code: 0, stdout: "<from><the image>\nID63\nREADY\n" });
    expect(JSON.parse(r.config!).hostname).toBe("ID63");
  });
});

/** `polis [GLOBAL...] run --image IMAGE ID [ARGS...]` without stdin: code, stdout and stderr, `id` written as ID. */
function failing(
  e: Record<string, string>,
  image: string,
  id: string,
  trace?: string,
  o: { global?: string[]; args?: string[] } = {},
): { code: number; stdout: string; stderr: string } {
  const r = polis(root, [...(o.global ?? []), "run", "--image", image, id, ...(o.args ?? [])], { env: env(e, trace) });
  const hide = (t: string) => swap(t, id, "ID").replace(/time="[^"]*"/g, 'time="<time>"');
  return { code: r.code, stdout: hide(r.stdout), stderr: hide(r.stderr) };
}

describe("native run --image: an image config with odd text", () => {
  it("Env, WorkingDir and StopSignal with quotes, escapes and odd UTF-8: config.json byte for byte as node's", async () => {
    const r = await twins(ref("odd"), (id) => [id]);
    expect(r.stdout).toBe(`<${ODD_TEXT}>\nREADY\n`);
    expect(JSON.parse(r.config!).process.env).toContain(`ODD=${ODD_TEXT}`);
  });

  it("a label with a backslash (annotations native create leaves to node): the bundle is undone and node runs it", async () => {
    pushImage("oddlabel", { Cmd: ["sh", "-c", "echo READY; read x"], Labels: { "a\\b": "c\\d" } });
    polisOk(root, ["pull", "-q", "--tls-verify=false", ref("oddlabel")], { env: NODE });
    const n = seq++;
    const [viaNode, viaLauncher] = [uniqueId(`bsn${n}`), uniqueId(`bsl${n}`)];
    const trace = join(work, `trace-${n}`);
    const a = await runImage(NODE, ref("oddlabel"), viaNode, [viaNode]);
    const b = await runImage(LAUNCHER, ref("oddlabel"), viaLauncher, [viaLauncher], trace);
    expect(b).toEqual(a);
    expect(JSON.parse(b.config!).annotations).toMatchObject({ "a\\b": "c\\d" });
    expect(swap(readFileSync(trace, "utf8"), viaLauncher, "ID")).toBe(
      `create: node: annotations\nrun --image: bundle undone: ${join(root, "bundles", "ID")}\n`,
    );
    expect(leftOf(root, viaNode)).toEqual(NOTHING_LEFT);
    expect(leftOf(root, viaLauncher)).toEqual(NOTHING_LEFT);
  });
});

describe("native run --image: failures of the container and of the command line", () => {
  it("a command the image does not have, a global --config that does not exist: node's code and texts", () => {
    for (const o of [
      { args: ["--", "/no/such/command"] },
      { args: ["--", "/"] },
      { global: ["--config", "/no/such/config.yaml"] },
    ]) {
      const n = seq++;
      const [viaNode, viaLauncher] = [uniqueId(`cmdn${n}`), uniqueId(`cmdl${n}`)];
      const a = failing(NODE, ref("plain"), viaNode, undefined, o);
      const b = failing(LAUNCHER, ref("plain"), viaLauncher, join(work, `trace-${n}`), o);
      expect(b, JSON.stringify(o)).toEqual(a);
      expect(a.stderr, JSON.stringify(o)).toMatch(o.args ? /find executable .*\((ENOENT|EACCES)\)/ : /^$/);
      expect(leftOf(root, viaNode)).toEqual(NOTHING_LEFT);
      expect(leftOf(root, viaLauncher)).toEqual(NOTHING_LEFT);
    }
  });
});

describe("native run --image: image names as node resolves them", () => {
  it("every spelling of a Docker Hub name node takes for the same image is native and the same", async () => {
    polisOk(root, ["tag", ref("entry"), "docker.io/library/nrunadv:latest"], { env: NODE });
    for (const name of [
      "nrunadv",
      "nrunadv:latest",
      "library/nrunadv",
      "docker.io/nrunadv",
      "docker.io/library/nrunadv:latest",
      "index.docker.io/library/nrunadv",
      "index.docker.io/nrunadv:latest",
    ]) {
      expect((await twins(name, (id) => [id, "--", name])).stdout, name).toBe(`<${name}>\nID\nREADY\n`);
    }
  });

  it("spellings node refuses or does not know: handed off, node's error", () => {
    for (const name of [
      "NRUNADV",
      "nrunadv:",
      "nrunadv:bad:tag",
      "Docker.io/nrunadv",
      "docker.io//nrunadv",
      "/nrunadv",
      "nrunadv@sha256:0000000000000000000000000000000000000000000000000000000000000000",
      `nrunadv:${"t".repeat(129)}`,
      "nrunadv:latest ",
      "nrünadv",
    ]) {
      const n = seq++;
      const [viaNode, viaLauncher] = [uniqueId(`badn${n}`), uniqueId(`badl${n}`)];
      const trace = join(work, `trace-${n}`);
      const a = failing(NODE, name, viaNode);
      const b = failing(LAUNCHER, name, viaLauncher, trace);
      expect(b, name).toEqual(a);
      expect(a.code, name).toBe(1);
      expect(readFileSync(trace, "utf8"), name).toMatch(/^create: node: run --image: (no run template|an image reference)/);
      expect(leftOf(root, viaLauncher)).toEqual(NOTHING_LEFT);
    }
  });

  it("a tag pulled again onto another image: the next native run runs the new image; after rmi, node's error", async () => {
    const once = (e: Record<string, string>, trace?: string) =>
      polis(root, ["run", "--image", ref("moving"), uniqueId("mv")], { env: env(e, trace) });
    expect(once(NATIVE)).toMatchObject({ code: 0, stdout: "first image\n" });
    pushImage("moving", { Cmd: ["echo", "second image"] }, "moving2");
    polisOk(root, ["pull", "-q", "--tls-verify=false", ref("moving")], { env: NODE });
    const trace = join(work, `trace-${seq++}`);
    expect(once(NATIVE, trace)).toMatchObject({ code: 0, stdout: "second image\n" });
    expect(readFileSync(trace, "utf8")).toMatch(/^run: native: mv-/);
    polisOk(root, ["rmi", ref("moving")], { env: NODE });
    const id = uniqueId("gone");
    const a = failing(NODE, ref("moving"), id);
    expect(failing(LAUNCHER, ref("moving"), id)).toEqual(a);
    expect(a.stderr).toContain("image not known");
  });
});

describe("native run --image: two runs with one id", () => {
  it("a bundle another run has recorded (no container yet): refused, its row and directory left to it", () => {
    for (const e of [NODE, LAUNCHER]) {
      const id = uniqueId("race");
      const dir = join(root, "bundles", id);
      const store = Store.open(root);
      store.addResource(id, "image-bundle", dir, { image: "sha256:another", dir });
      store.close();
      mkdirSync(join(dir, "rootfs"), { recursive: true });
      const r = polis(root, ["run", "--image", ref("entry"), id], { env: env(e) });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`polis delete --force ${id}`);
      const db = new Database(join(root, "state.db"), { readonly: true });
      try {
        expect(db.prepare("SELECT kind, name FROM container_resources WHERE container_id = ?").all(id)).toEqual([
          { kind: "image-bundle", name: dir },
        ]);
      } finally {
        db.close();
      }
      expect(existsSync(join(dir, "rootfs"))).toBe(true);
      polisOk(root, ["delete", "--force", id], { env: env(e) });
      expect(leftOf(root, id)).toEqual(NOTHING_LEFT);
    }
  });
});

describe("native run --image: three runs with one id at once", () => {
  it("one runs, the others fail with a clear error; nothing of any is left", async () => {
    for (const round of [0, 1, 2]) {
      const id = uniqueId(`race3-${round}`);
      const children = [LAUNCHER, LAUNCHER, NODE].map((e) => {
        const child = spawn(POLIS, ["--root", root, "run", "--image", ref("entry"), id], {
          env: env(e),
          stdio: ["pipe", "pipe", "pipe"],
        });
        const out = { stdout: "", stderr: "" };
        child.stdout.on("data", (b) => (out.stdout += b));
        child.stderr.on("data", (b) => (out.stderr += b));
        const exited = new Promise<number | null>((res) => child.once("exit", res));
        return { child, out, exited };
      });
      // the winner waits for a line; the losers end by themselves
      await waitFor(
        () => children.filter((c) => c.out.stdout.includes("READY\n") || c.child.exitCode !== null).length === 3,
        30_000,
      );
      const winners = children.filter((c) => c.out.stdout.includes("READY\n"));
      expect(winners, children.map((c) => c.out.stderr).join("")).toHaveLength(1);
      for (const c of children) c.child.stdin.end("\n");
      const codes = await Promise.all(children.map((c) => c.exited));
      for (const [i, c] of children.entries()) {
        if (c === winners[0]) {
          expect(codes[i]).toBe(0);
          expect(c.out.stdout).toBe(`<from><the image>\n${id}\nREADY\n`);
        } else {
          expect(codes[i]).toBe(1);
          expect(c.out.stderr).toMatch(/already exists|is recorded for container/);
        }
      }
      expect(leftOf(root, id)).toEqual(NOTHING_LEFT);
    }
  });
});

describe("rmi against run --image", () => {
  it("an rmi that checked for users before a run recorded its bundle does not take the image from under it", async () => {
    pushImage("victim", { Cmd: ["echo", "victim"] }); // an image of its own: no other name points at it
    polisOk(root, ["pull", "-q", "--tls-verify=false", ref("victim")], { env: NODE });
    const dbPath = join(root, "state.db");
    const db = new Database(dbPath);
    const image = (db.prepare("SELECT image FROM image_names WHERE name = ?").get(ref("victim")) as { image: string }).image;
    const holder = uniqueId("holder");
    // the write lock held as a run holds it while it records its bundle; rmi reads meanwhile (WAL)
    db.exec("BEGIN IMMEDIATE");
    const child = spawn(POLIS, ["--root", root, "rmi", ref("victim")], { env: env(NODE), stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b) => (stderr += b));
    const exited = new Promise<number | null>((res) => child.once("exit", res));
    const opened = () => {
      try {
        return readdirSync(`/proc/${child.pid}/fd`).some((f) => {
          try {
            return readlinkSync(`/proc/${child.pid}/fd/${f}`) === dbPath;
          } catch {
            return false;
          }
        });
      } catch {
        return true; // gone
      }
    };
    await waitFor(opened, 30_000);
    await new Promise((r) => setTimeout(r, 500)); // its reads are done by now: it waits for the lock
    db.prepare("INSERT INTO container_resources (container_id, kind, name, data) VALUES (?, 'image-bundle', ?, ?)").run(
      holder,
      join(root, "bundles", holder),
      JSON.stringify({ image, dir: join(root, "bundles", holder) }),
    );
    db.exec("COMMIT");
    const code = await exited;
    try {
      expect({ code, stderr: stderr.replace(/time="[^"]*"/, "") }).toEqual({
        code: 1,
        stderr: ` level=error msg="${ref("victim")}: image is in use by container ${holder} (delete it first, or rmi --force)"\n`,
      });
      expect(db.prepare("SELECT count(*) AS n FROM images WHERE id = ?").get(image)).toEqual({ n: 1 });
    } finally {
      db.close();
      polisOk(root, ["delete", "--force", holder], { env: NODE });
    }
    expect(leftOf(root, holder)).toEqual(NOTHING_LEFT);
  });
});

describe("native create --image handed to node after its host mount", () => {
  const hostMounts = (id: string) =>
    readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.split(" ")[4]?.startsWith(join(root, "bundles", id)));

  it("create --preserve-fds 1: the launcher's mount is taken back, node's is the only one, and delete leaves none", () => {
    const id = uniqueId("pfd");
    const trace = join(work, `trace-${seq++}`);
    const r = polis(root, ["create", "--preserve-fds", "1", "--image", ref("plain"), id], { env: env(LAUNCHER, trace) });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(swap(readFileSync(trace, "utf8"), id, "ID")).toBe(
      `create: node: --preserve-fds\nrun --image: bundle undone: ${join(root, "bundles", "ID")}\n`,
    );
    expect(hostMounts(id)).toHaveLength(1);
    polisOk(root, ["delete", "--force", id], { env: env(LAUNCHER) });
    expect(hostMounts(id)).toEqual([]);
    expect(leftOf(root, id)).toEqual(NOTHING_LEFT);
  });

  it("create SIGKILLed after its host mount, at each step: delete --force takes the mount, bundle and rows", async () => {
    for (const step of ["inserted", "cgroup", "pid"]) {
      const id = uniqueId(`kill-${step}`);
      const child = spawn(POLIS, ["--root", root, "create", "--image", ref("plain"), id], {
        env: { ...env(NATIVE), POLIS_CREATE_STOP_AT: step },
        stdio: "ignore",
      });
      const exited = new Promise((res) => child.once("exit", res));
      await waitFor(() => readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]?.startsWith("T"), 20_000);
      expect(hostMounts(id), step).toHaveLength(1);
      child.kill("SIGKILL");
      await exited;
      polisOk(root, ["delete", "--force", id], { env: env(LAUNCHER) });
      expect(hostMounts(id), step).toEqual([]);
      expect(leftOf(root, id), step).toEqual(NOTHING_LEFT);
    }
  });
});

describe("native run --image: a container's tree deeper than PATH_MAX in its upper directory", () => {
  it("its run ends, and its bundle goes, as node's (both gave up with ENAMETOOLONG, leaving bundle and row)", () => {
    // 25 levels of 200-byte names, made with relative paths (past 4096 bytes on the host)
    const name = "d".repeat(200);
    const script = `cd /tmp && i=0; while [ $i -lt 25 ]; do mkdir ${name} && cd ${name} 2>/dev/null || break; i=$((i+1)); done; echo made`;
    const results = [NODE, NATIVE].map((e) => {
      const id = uniqueId("deep");
      const trace = join(work, `trace-${seq++}`);
      const r = polis(root, ["run", "--image", ref("plain"), id, "--", "sh", "-c", script], { env: env(e, trace) });
      if (e === NATIVE) expect(readFileSync(trace, "utf8")).toBe(`run: native: ${id}\n`);
      return { code: r.code, stdout: r.stdout, stderr: r.stderr, left: leftOf(root, id) };
    });
    expect(results[1]).toEqual(results[0]);
    expect(results[0]).toEqual({ code: 0, stdout: "made\n", stderr: "", left: NOTHING_LEFT });
  });

  it("a release that died half-way through flattening: delete --force finishes it", () => {
    const id = uniqueId("deep2");
    const dir = join(root, "bundles", id);
    let path = join(dir, "upper");
    mkdirSync(path, { recursive: true });
    mkdirSync(join(dir, ".polis-deep-0", "x"), { recursive: true }); // left by the release that died
    // deeper than PATH_MAX, made from inside (relative mkdirs), as a container would
    const name = "e".repeat(250);
    const levels = 20;
    const sh = `cd '${path}' && i=0; while [ $i -lt ${levels} ]; do mkdir ${name} && cd ${name} || exit 1; i=$((i+1)); done`;
    spawnSync("sh", ["-c", sh], { stdio: "ignore" });
    path = join(path, name);
    expect(path.length).toBeLessThan(4096);
    const store = Store.open(root);
    store.addResource(id, "image-bundle", dir, { image: "sha256:gone", dir });
    store.close();
    for (const e of [NATIVE, NODE]) {
      // the launcher hands delete --force of an id without a container row to node (/bin/false here: kept)
      const r = polis(root, ["delete", "--force", id], { env: env(e) });
      if (e === NODE) expect(r).toMatchObject({ code: 0, stderr: "" });
    }
    expect(leftOf(root, id)).toEqual(NOTHING_LEFT);
  });
});

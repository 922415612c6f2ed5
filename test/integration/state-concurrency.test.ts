// Many polis processes share one state.db. Each worker here is a separate node process running
// the real store (bundled by esbuild from src/state/store.ts), released at the same instant so
// that first open + migration (or the copy of the build's template), inserts and phase
// transitions all really contend.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "../helpers/rootfs.js";

let work: string;
/** the store bundled from src/ and a worker script beside it */
let worker: string;
/** the same in a directory with a state template beside the bundle, as dist/ has */
let seededWorker: string;
const nodePath = { ...process.env, NODE_PATH: join(REPO, "node_modules") };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "polis-state-conc-"));
  worker = await makeWorker(work);
  const seeded = join(work, "seeded");
  mkdirSync(seeded);
  seededWorker = await makeWorker(seeded);
  const write = `import { writeStateTemplate } from ${JSON.stringify(join(seeded, "store.mjs"))};
    writeStateTemplate(${JSON.stringify(join(seeded, "state-template.db"))});`;
  execFileSync(process.execPath, ["--input-type=module", "-e", write], { env: nodePath });
  // a mark only the template has, so that a root shows whether it was copied from it
  const template = new Database(join(seeded, "state-template.db"));
  template.pragma(`application_id = ${TEMPLATE_MARK}`);
  template.close();
});

const TEMPLATE_MARK = 7157;
const applicationId = (root: string) => {
  const db = new Database(join(root, "state.db"), { readonly: true });
  try {
    return db.pragma("application_id", { simple: true });
  } finally {
    db.close();
  }
};

/** Bundles the store into `dir` and writes a worker script beside it; returns the script. */
async function makeWorker(dir: string): Promise<string> {
  const storeBundle = join(dir, "store.mjs");
  await build({
    entryPoints: [join(REPO, "src/state/store.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["better-sqlite3"], // native: resolved at run time through NODE_PATH
    outfile: storeBundle,
    logLevel: "silent",
  });
  const script = join(dir, "worker.mjs");
  // argv: root op id [extra]. Prints "ready", waits for "go" on stdin, then prints one JSON
  // result line.
  writeFileSync(
    script,
    `
import { Store } from ${JSON.stringify(storeBundle)};
const [root, op, id, extra] = process.argv.slice(2);
let buf = "";
process.stdin.on("data", (d) => {
  buf += d;
  if (!buf.includes("\\n")) return;
  process.stdin.pause();
  let result;
  try {
    const store = Store.open(root);
    try {
      if (op === "insert") {
        store.insert({
          id, bundle: "/bundle/" + extra, rootfs: "/bundle/" + extra + "/rootfs", phase: "created",
          pid: null, pidStartTime: null, bootId: "b", creatorPid: process.pid, creatorStartTime: "1",
          created: new Date().toISOString(), owner: "root", annotations: { worker: extra },
          config: { ociVersion: "1.2.0" }, cgroupPaths: {}, stateDir: "/run/x/" + id,
        });
        result = { ok: true };
      } else if (op === "start") {
        result = { ok: true, won: store.transition(id, "created", { phase: "running", pid: Number(extra) }) };
      } else {
        result = { ok: true }; // "open": the database as a fresh open leaves it
      }
    } finally {
      store.close();
    }
  } catch (e) {
    result = { ok: false, name: e?.name, message: String(e?.message ?? e) };
  }
  process.stdout.write(JSON.stringify(result) + "\\n");
});
process.stdout.write("ready\\n");
`,
  );
  return script;
}

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Result {
  ok: boolean;
  won?: boolean;
  name?: string;
  message?: string;
}

/** Starts every worker, waits until all are loaded, then releases them together. */
async function race(root: string, jobs: Array<[op: string, id: string, extra: string]>, script = worker): Promise<Result[]> {
  const env = nodePath;
  const procs = jobs.map(([op, id, extra]) =>
    spawn(process.execPath, [script, root, op, id, extra], { env, stdio: ["pipe", "pipe", "pipe"] }),
  );
  let ready!: () => void;
  let waiting = procs.length;
  const allReady = new Promise<void>((r) => (ready = r));
  const results = procs.map(
    (p) =>
      new Promise<Result>((resolve, reject) => {
        let out = "";
        let err = "";
        p.stdout.on("data", (d) => {
          const wasReady = out.startsWith("ready\n");
          out += d;
          if (!wasReady && out.startsWith("ready\n") && --waiting === 0) ready();
        });
        p.stderr.on("data", (d) => (err += d));
        p.on("error", reject);
        p.on("exit", (code) => {
          if (code !== 0) reject(new Error(`worker exited ${code}: ${err}`));
          else resolve(JSON.parse(out.slice("ready\n".length)));
        });
      }),
  );
  // Release them together only once every one is loaded and waiting (node start-up is slow).
  await Promise.race([allReady, Promise.all(results)]);
  for (const p of procs) p.stdin.end("go\n");
  return Promise.all(results);
}

describe("state store under concurrency", () => {
  it.each([
    ["migrating", false],
    ["copying the build's template", true],
  ])(
    "20 concurrent creators on a fresh root (%s) all succeed; of 2 racing on one id exactly one wins",
    async (_how, seeded) => {
      const root = join(work, seeded ? "root-insert-seeded" : "root-insert");
      const jobs: Array<[string, string, string]> = [];
      for (let i = 0; i < 20; i++) jobs.push(["insert", `c${i}`, `w${i}`]);
      jobs.push(["insert", "same", "racer-a"], ["insert", "same", "racer-b"]);

      const results = await race(root, jobs, seeded ? seededWorker : worker);
      expect(applicationId(root)).toBe(seeded ? TEMPLATE_MARK : 0);

      const all = JSON.stringify(results);
      expect(all).not.toMatch(/locked|busy/i);
      for (let i = 0; i < 20; i++) expect(results[i], `worker c${i}`).toEqual({ ok: true });
      const racers = results.slice(20);
      const winners = racers.filter((r) => r.ok);
      const losers = racers.filter((r) => !r.ok);
      expect(winners).toHaveLength(1);
      expect(losers).toEqual([{ ok: false, name: "ContainerExistsError", message: "container with id same already exists" }]);

      // What is on disk agrees: every id once, and "same" belongs to the racer that was told it won.
      const { Store } = await import("../../src/state/store.js");
      const store = Store.open(root);
      try {
        const recs = store.list();
        expect(recs.map((r) => r.id).sort()).toEqual([...jobs.slice(0, 20).map((j) => j[1]), "same"].sort());
        const winner = racers[0].ok ? "racer-a" : "racer-b";
        expect(store.get("same")?.annotations).toEqual({ worker: winner });
        expect(store.get("c7")?.bundle).toBe("/bundle/w7");
      } finally {
        store.close();
      }
    },
    60_000,
  );

  it("a fresh root copied from the template has the migrated schema and version, 0600, and no temp file left", async () => {
    const schema = (root: string) => {
      const db = new Database(join(root, "state.db"), { readonly: true });
      try {
        return {
          version: db.pragma("user_version", { simple: true }),
          wal: db.pragma("journal_mode", { simple: true }),
          objects: db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").all(),
        };
      } finally {
        db.close();
      }
    };
    const migrated = join(work, "root-migrated");
    const seeded = join(work, "root-seeded");
    expect(await race(migrated, [["open", "x", ""]])).toEqual([{ ok: true }]);
    expect(await race(seeded, [["open", "x", ""]], seededWorker)).toEqual([{ ok: true }]);
    expect([applicationId(migrated), applicationId(seeded)]).toEqual([0, TEMPLATE_MARK]);
    expect(schema(seeded)).toEqual(schema(migrated));
    expect((schema(seeded).objects as unknown[]).length).toBeGreaterThan(10);
    expect(statSync(join(seeded, "state.db")).mode & 0o777).toBe(0o600);
    expect(readdirSync(seeded).filter((f) => f.includes("template"))).toEqual([]);
  });

  it("of 10 concurrent starts of one created container exactly one moves it to running", async () => {
    const root = join(work, "root-start");
    // Set up through a worker too, so this root is also created by a separate process.
    expect(await race(root, [["insert", "ctr", "setup"]])).toEqual([{ ok: true }]);

    const jobs: Array<[string, string, string]> = [];
    for (let i = 0; i < 10; i++) jobs.push(["start", "ctr", String(1000 + i)]);
    const results = await race(root, jobs);

    expect(results.every((r) => r.ok)).toBe(true);
    const won = results.flatMap((r, i) => (r.won ? [1000 + i] : []));
    expect(won).toHaveLength(1);

    const { Store } = await import("../../src/state/store.js");
    const store = Store.open(root);
    try {
      expect(store.get("ctr")).toMatchObject({ phase: "running", pid: won[0] });
    } finally {
      store.close();
    }
  }, 60_000);
});

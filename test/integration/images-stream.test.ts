// A small base layer is unpacked while it downloads (pull.ts, unpack.ts's LayerStream). Killed
// half-way, the pull leaves no blob under the layer's digest, no layer directory and no image:
// only temp files, which the next pull takes over (the partial blob, resumed with Range) or
// sweeps (the half-written layer dir, the manifest's temp file if the kill came while it was
// stored). That pull then gives the tree an uninterrupted one gives.
// The unpacker (a child, polis-layer) killed half-way fails the pull and leaves nothing.
// The registry is a small server here that holds the layer's second half back until told.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OciLayout, type Desc, tarOf } from "../helpers/oci-layout.js";
import { polisOk, POLIS, tempRoot, waitFor, polisAsync } from "../helpers/polis.js";
import { closeServer, listenLocal } from "../helpers/registry.js";
import { baseRootfs } from "../helpers/rootfs.js";
import { snapshot } from "../helpers/tree.js";
import { unpackersOf } from "../helpers/unpackers.js";

const work = mkdtempSync(join(tmpdir(), "polis-images-stream-"));
const roots: string[] = [];
// polis through polisAsync: not blocking this process (the registry below runs in it)
const run = polisAsync;
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const root = () => {
  const r = tempRoot();
  roots.push(r);
  return r;
};
let layout: OciLayout;
let manifest: Desc;
let layer: { desc: Desc; diffId: string };
let server: Server;
let host = "";
/** while set, the layer blob's answers stop after this many bytes and wait */
let holdAt: number | undefined;
const held: (() => void)[] = [];
const ranges: (string | undefined)[] = [];

beforeAll(async () => {
  layout = new OciLayout(join(work, "oci"));
  layer = layout.layer(tarOf(baseRootfs(), join(work, "base.tar")), "gzip");
  manifest = layout.image({ layers: [layer], tag: "1" });
  const blob = (digest: string) => readFileSync(join(layout.dir, "blobs", "sha256", digest.slice(7)));
  server = createServer((req, res) => {
    const url = req.url ?? "";
    if (url === "/v2/") return res.end("{}");
    if (url === "/v2/s/base/manifests/1" || url === `/v2/s/base/manifests/${manifest.digest}`) {
      return res.writeHead(200, { "content-type": manifest.mediaType }).end(blob(manifest.digest));
    }
    const m = /^\/v2\/s\/base\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url);
    if (!m) return res.writeHead(404).end();
    const data = blob(m[1]);
    if (m[1] !== layer.desc.digest) return res.end(data);
    ranges.push(req.headers.range);
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? "")?.[1] ?? 0);
    res.writeHead(from ? 206 : 200, {
      "content-length": data.length - from,
      ...(from && { "content-range": `bytes ${from}-${data.length - 1}/${data.length}` }),
    });
    if (holdAt === undefined) return res.end(data.subarray(from));
    res.write(data.subarray(from, holdAt));
    held.push(() => res.end(data.subarray(holdAt)));
  });
  host = await listenLocal(server);
});

afterAll(async () => {
  for (const release of held.splice(0)) release();
  await closeServer(server);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe("a base layer unpacked while it downloads", () => {
  it("killed half-way: no blob, layer or image under a real name; the next pull resumes and sweeps", async () => {
    const clean = root();
    expect(await run(clean, ["pull", "-q", "--tls-verify=false", `${host}/s/base:1`])).toMatchObject({ code: 0 });
    const layers = (r: string) => join(r, "images", "layers");
    const want = snapshot(join(layers(clean), layer.diffId.slice(7)), { mtimes: true });
    expect(layer.desc.size).toBeLessThan(4 << 20); // small enough to be streamed

    const r = root();
    holdAt = layer.desc.size >> 1;
    ranges.length = 0;
    const child = spawn(POLIS, ["--root", r, "pull", "-q", "--tls-verify=false", `${host}/s/base:1`], { stdio: "ignore", env });
    const exited = new Promise((res) => child.once("exit", res));
    const tmp = join(r, "images", "tmp");
    // the first half is being unpacked: the temp layer dir has bin/ with busybox's links in it
    const partialLayer = () =>
      existsSync(tmp) &&
      readdirSync(tmp).some(
        (f) => f.startsWith("layer-") && existsSync(join(tmp, f, "bin")) && readdirSync(join(tmp, f, "bin")).length > 10,
      );
    await waitFor(partialLayer, 20_000);
    child.kill("SIGKILL");
    await exited;
    holdAt = undefined;
    for (const release of held.splice(0)) release();

    expect(existsSync(join(r, "images", "blobs", "sha256", layer.desc.digest.slice(7)))).toBe(false);
    expect(readdirSync(layers(r))).toEqual([]);
    expect(polisOk(r, ["images", "--format", "json"]).stdout.trim()).toBe("[]");
    expect(readdirSync(tmp).some((f) => f.startsWith("layer-"))).toBe(true); // what the kill left

    const again = await run(r, ["--debug", "pull", "-q", "--tls-verify=false", `${host}/s/base:1`]);
    expect(again).toMatchObject({ code: 0, stdout: `${manifest.digest}\n` });
    expect(again.stderr).toMatch(/resuming blob/);
    expect(ranges.at(-1)).toMatch(/^bytes=[1-9]\d*-$/); // the partial blob was resumed, not refetched
    expect(readdirSync(tmp)).toEqual([]);
    expect(readdirSync(layers(r))).toEqual([layer.diffId.slice(7)]);
    expect(snapshot(join(layers(r), layer.diffId.slice(7)), { mtimes: true })).toEqual(want);
  }, 60_000);

  it("the unpacker killed half-way: the pull fails saying so; no blob, layer, temp dir or image is left", async () => {
    const r = root();
    holdAt = layer.desc.size >> 1;
    const child = spawn(POLIS, ["--root", r, "pull", "-q", "--tls-verify=false", `${host}/s/base:1`], {
      stdio: ["ignore", "ignore", "pipe"],
      env,
    });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
    await waitFor(() => unpackersOf(child.pid as number).length === 1 && held.length > 0, 20_000);
    process.kill(unpackersOf(child.pid as number)[0], "SIGKILL");
    for (const release of held.splice(0)) release(); // (reads holdAt: the rest of the blob)
    holdAt = undefined;
    expect(await exited).toBe(1);
    expect(stderr).toMatch(/layer sha256:[0-9a-f]{64}: the unpacker \S+polis-layer was killed by SIGKILL without a report/);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(existsSync(join(r, "images", "blobs", "sha256", layer.desc.digest.slice(7)))).toBe(false);
    expect(readdirSync(join(r, "images", "layers"))).toEqual([]);
    expect(readdirSync(join(r, "images", "tmp"))).toEqual([]);
    expect(polisOk(r, ["images", "--format", "json"]).stdout.trim()).toBe("[]");
  }, 60_000);

  it("a spare unpacker no layer claims (the image is there under another name) is stopped and leaves nothing", async () => {
    const r = root();
    expect(await run(r, ["pull", "-q", "--tls-verify=false", `${host}/s/base:1`])).toMatchObject({ code: 0 });
    const again = await run(r, ["--debug", "pull", "-q", "--tls-verify=false", `${host}/s/base@${manifest.digest}`]);
    expect(again).toMatchObject({ code: 0, stdout: `${manifest.digest}\n` });
    expect(again.stderr).not.toMatch(/no spare unpacker/);
    expect(readdirSync(join(r, "images", "tmp"))).toEqual([]);
    expect(readdirSync(join(r, "images", "layers"))).toEqual([layer.diffId.slice(7)]);
  }, 60_000);

  it("the unpacker missing: the pull fails with one line naming it, and leaves nothing", async () => {
    const r = root();
    const missing = join(work, "no-polis-layer");
    const got = await new Promise<{ code: number | null; stderr: string }>((res) => {
      const child = spawn(POLIS, ["--root", r, "pull", "-q", "--tls-verify=false", `${host}/s/base:1`], {
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...env, POLIS_LAYER: missing },
      });
      let stderr = "";
      child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      child.once("close", (code) => res({ code, stderr }));
    });
    expect(got.code).toBe(1);
    expect(got.stderr.trim().split("\n")).toHaveLength(1);
    expect(got.stderr).toContain(`: cannot run the unpacker ${missing}: spawn ${missing} ENOENT (build it: npm run install)`);
    expect(readdirSync(join(r, "images", "layers"))).toEqual([]);
    expect(readdirSync(join(r, "images", "tmp"))).toEqual([]);
    expect(readdirSync(join(r, "images", "blobs", "sha256"))).toEqual([]);
    expect(polisOk(r, ["images", "--format", "json"]).stdout.trim()).toBe("[]");
  }, 60_000);
});

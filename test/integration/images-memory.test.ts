// The pull turns TurboFan off at run time before its first layer byte (src/image/memory.ts:
// issue 13's peak RSS), after loading what the unpacking needs: a builtin module loaded after the
// switch would compile without node's code cache. `--debug` reports the switch and, at exit, the
// builtins loaded after it. The registry is a small server here serving an OCI layout.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OciLayout, type Desc, tarOf } from "../helpers/oci-layout.js";
import { tempRoot, polisAsync } from "../helpers/polis.js";
import { baseRootfs } from "../helpers/rootfs.js";

const work = mkdtempSync(join(tmpdir(), "polis-images-memory-"));
const roots: string[] = [];
// polis through polisAsync: not blocking this process (the registry below runs in it)
const run = polisAsync;
let manifest: Desc;
let layer: { desc: Desc; diffId: string };
let server: Server;
let host = "";

beforeAll(async () => {
  const layout = new OciLayout(join(work, "oci"));
  layer = layout.layer(tarOf(baseRootfs(), join(work, "base.tar")), "gzip");
  manifest = layout.image({ layers: [layer], tag: "1" });
  const blob = (digest: string) => readFileSync(join(layout.dir, "blobs", "sha256", digest.slice(7)));
  server = createServer((req, res) => {
    const url = req.url ?? "";
    if (url === "/v2/") return res.end("{}");
    if (url === "/v2/m/base/manifests/1") {
      return res.writeHead(200, { "content-type": manifest.mediaType }).end(blob(manifest.digest));
    }
    const m = /^\/v2\/m\/base\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url);
    if (!m) return res.writeHead(404).end();
    res.end(blob(m[1]));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const SWITCH = /V8 --no-opt from the first layer byte on \((\d+) node builtins loaded\)/;
const LATE = /node builtins loaded after --no-opt: ([^"\n]*)/;

describe("pull: TurboFan off from the first layer byte on", () => {
  it("is switched off once the unpacking's modules are loaded, and only fs.rmSync's helper loads after", async () => {
    const r = tempRoot();
    roots.push(r);
    const got = await run(r, ["--debug", "pull", "-q", "--tls-verify=false", `${host}/m/base:1`]);
    expect(got).toMatchObject({ code: 0, stdout: `${manifest.digest}\n` });
    expect(readdirSync(join(r, "images", "layers"))).toEqual([layer.diffId.slice(7)]);
    expect(got.stderr).toMatch(SWITCH);
    expect(Number(SWITCH.exec(got.stderr)?.[1])).toBeGreaterThan(50);
    // zlib, streams, crypto, http all came before: each compiled after would lose its code cache
    const late = LATE.exec(got.stderr)?.[1];
    expect(late).toBeDefined();
    const names = late === "none" ? [] : (late ?? "").split(" ");
    expect(names.filter((n) => n !== "internal/fs/rimraf")).toEqual([]);

    // the same image again: nothing to download, nothing switched (nor the unpacker loaded)
    const again = await run(r, ["--debug", "pull", "-q", "--tls-verify=false", `${host}/m/base:1`]);
    expect(again).toMatchObject({ code: 0, stdout: `${manifest.digest}\n` });
    expect(again.stderr).not.toMatch(SWITCH);
    expect(again.stderr).not.toMatch(LATE);
  }, 60_000);
});

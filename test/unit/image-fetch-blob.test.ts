// Blob downloads against a fake registry that drops the connection half-way: the download
// resumes with a Range request from the bytes it has (and starts over when the server ignores
// the range), and the blob gets its digest name only with the right content.
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { blobPath, ensureDirs, tmpDir } from "../../src/image/content.js";
import { fetchBlob } from "../../src/image/fetch-blob.js";
import { Registry } from "../../src/image/registry.js";
import { selfSignedCert } from "../helpers/registry.js";

const servers: Server[] = [];
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `127.0.0.1:${(s.address() as { port: number }).port}`;
}
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const blob = randomBytes(3 << 20);
const desc = {
  mediaType: "application/vnd.oci.image.layer.v1.tar",
  digest: `sha256:${createHash("sha256").update(blob).digest("hex")}`,
  size: blob.length,
};

/** A registry whose first blob answer sends `cut` bytes and drops the connection; later ones honour Range when `ranges`. */
async function flaky(ranges: boolean, seen: (string | undefined)[]): Promise<string> {
  const cut = 1 << 20;
  return serve((req, res) => {
    if (req.url === "/v2/") return res.end("{}");
    seen.push(req.headers.range);
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (seen.length === 1) {
      res.writeHead(200, { "content-length": blob.length });
      res.write(blob.subarray(0, cut), () => setTimeout(() => req.socket.destroy(), 50));
      return;
    }
    if (range && ranges) {
      const from = Number(range[1]);
      res.writeHead(206, { "content-range": `bytes ${from}-${blob.length - 1}/${blob.length}` });
      return res.end(blob.subarray(from));
    }
    res.writeHead(200, { "content-length": blob.length }).end(blob);
  });
}

async function fetchFrom(host: string, inNode = true): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), "polis-fetch-"));
  roots.push(root);
  ensureDirs(root);
  const r = new Registry({ name: host, host, insecure: true });
  expect(await fetchBlob(r, "a/b", desc, root, { inNode })).toBe(true);
  expect(readFileSync(blobPath(root, desc.digest)).equals(blob)).toBe(true);
  expect(readdirSync(tmpDir(root))).toEqual([]);
  return root;
}

// node's download (inNode) and polis-fetch's (a plain-HTTP registry: native/fetch/polis-fetch.c)
describe.each([
  ["node", true],
  ["polis-fetch", false],
])("a blob download cut half-way (%s)", (_, inNode) => {
  it("resumes with a Range request from the bytes already written", async () => {
    const seen: (string | undefined)[] = [];
    await fetchFrom(await flaky(true, seen), inNode);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBeUndefined();
    const from = Number(/^bytes=(\d+)-$/.exec(seen[1] ?? "")?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(1 << 20);
  }, 20_000);

  it("starts over when the registry ignores the Range request", async () => {
    const seen: (string | undefined)[] = [];
    await fetchFrom(await flaky(false, seen), inNode);
    expect(seen.slice(0, 2).map((r) => r !== undefined)).toEqual([false, true]);
    // node drops the 200 and asks again without a Range; polis-fetch starts the file over with it
    if (inNode) expect(seen.at(-1)).toBeUndefined();
    else expect(seen).toHaveLength(2);
  }, 20_000);
});

describe("a partial blob a killed pull left behind", () => {
  it("taken over when it is empty too (the pull died before its first byte)", async () => {
    const host = await serve((req, res) => (req.url === "/v2/" ? res.end("{}") : res.end(blob)));
    const root = mkdtempSync(join(tmpdir(), "polis-fetch-"));
    roots.push(root);
    ensureDirs(root);
    const gone = spawnSync("true").pid; // a pid that is no process now
    const left = join(tmpDir(root), `${desc.digest.slice(7)}.${gone}.0badf00d`);
    writeFileSync(left, "");
    const r = new Registry({ name: host, host, insecure: true });
    expect(await fetchBlob(r, "a/b", desc, root, {})).toBe(true);
    expect(readFileSync(blobPath(root, desc.digest)).equals(blob)).toBe(true);
    expect(readdirSync(tmpDir(root))).toEqual([]);
  }, 20_000);
});

// The seam for an unpacker that is a process (layer-store.ts's StreamedLayer): its stdin becomes
// polis-fetch's stdout, so the bytes go from one child to the other. `cat` stands in for it.
describe("a sink fed by polis-fetch itself", () => {
  async function feedSink(host: string) {
    const root = mkdtempSync(join(tmpdir(), "polis-fetch-"));
    roots.push(root);
    ensureDirs(root);
    const out = join(root, "unpacker-got");
    const cat = spawn("sh", ["-c", 'exec cat > "$0"', out], { stdio: ["pipe", "ignore", "ignore"] });
    const exited = new Promise((r) => cat.once("exit", r));
    const calls: string[] = [];
    const sink = {
      sink: cat.stdin as Writable,
      fedElsewhere: () => {
        calls.push("fedElsewhere");
        cat.stdin?.destroy(); // node's end: the pipe ends when polis-fetch exits
      },
      broken: () => calls.push("broken"),
      tee: () => {
        calls.push("tee"); // node's download must not feed it once a process had it
      },
    };
    const r = new Registry({ name: host, host, insecure: true });
    expect(await fetchBlob(r, "a/b", desc, root, { feed: sink })).toBe(true);
    expect(readFileSync(blobPath(root, desc.digest)).equals(blob)).toBe(true);
    await exited;
    return { calls, got: readFileSync(out) };
  }

  it("gets the whole blob from polis-fetch; node's end is closed once it runs", async () => {
    const host = await serve((req, res) => (req.url === "/v2/" ? res.end("{}") : res.end(blob)));
    const { calls, got } = await feedSink(host);
    expect(calls).toEqual(["fedElsewhere"]);
    expect(got.equals(blob)).toBe(true);
  }, 20_000);

  it("a download resumed midway: broken (a second run cannot feed it), the blob still whole", async () => {
    const { calls, got } = await feedSink(await flaky(true, []));
    expect(calls).toEqual(["fedElsewhere", "broken"]);
    expect(got.length).toBeLessThan(blob.length);
  }, 20_000);
});

// Over HTTPS polis-fetch checks the certificate with OpenSSL's store plus the CA files node
// trusts; a refusal there (`tls ...`) is not the last word: node downloads the blob after its
// own check, and the registry's later blobs straight away. A stand-in polis-fetch (POLIS_FETCH)
// refuses every certificate, as one whose store lacks a root node has would.
describe("an HTTPS registry whose certificate polis-fetch refuses", () => {
  const REAL_FETCH = join(__dirname, "..", "..", "native", "build", "Release", "polis-fetch");

  /**
   * A registry over HTTPS with a self-signed certificate (/v2/ and the blob), its client trusting
   * that certificate, and a stand-in polis-fetch (`script` given the file its calls go to) that
   * `run` sees as POLIS_FETCH.
   */
  async function withStandIn(script: (calls: string) => string, run: (r: Registry, cert: string, host: string) => Promise<void>) {
    const dir = mkdtempSync(join(tmpdir(), "polis-fetch-tls-"));
    roots.push(dir);
    const cert = selfSignedCert(dir);
    const s = createHttpsServer({ key: readFileSync(cert.key), cert: readFileSync(cert.cert) }, (req, res) =>
      req.url === "/v2/" ? res.end("{}") : res.end(blob),
    );
    servers.push(s as unknown as Server);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(s.address() as { port: number }).port}`;
    const calls = join(dir, "calls");
    const standIn = join(dir, "polis-fetch");
    writeFileSync(standIn, script(calls));
    chmodSync(standIn, 0o755);
    const tls = { ca: [readFileSync(cert.cert, "utf8")], caFiles: [cert.cert], verify: true };
    const r = new Registry({ name: host, host, insecure: false, tls });
    const before = process.env.POLIS_FETCH;
    process.env.POLIS_FETCH = standIn;
    try {
      await run(r, cert.cert, host);
    } finally {
      r.close();
      if (before === undefined) delete process.env.POLIS_FETCH;
      else process.env.POLIS_FETCH = before;
    }
    return readFileSync(calls, "utf8").trim().split("\n");
  }

  /** One blob into a fresh root: downloaded, whole, no temp file left. */
  async function fetchInto(r: Registry): Promise<void> {
    const root = mkdtempSync(join(tmpdir(), "polis-fetch-"));
    roots.push(root);
    ensureDirs(root);
    expect(await fetchBlob(r, "a/b", desc, root, { inNode: false })).toBe(true);
    expect(readFileSync(blobPath(root, desc.digest)).equals(blob)).toBe(true);
    expect(readdirSync(tmpDir(root))).toEqual([]);
  }

  it("node downloads the blob, and the next ones without asking polis-fetch again", async () => {
    let where = { cert: "", host: "" };
    // the blob downloads refuse the certificate; the registry's other requests (a session) are the real polis-fetch's
    const ran = await withStandIn(
      (calls) =>
        `#!/bin/sh\n[ "$1" = --session ] && exec ${REAL_FETCH} "$@"\necho "$*" >> ${calls}\necho "tls unable to get local issuer certificate" >&3\n`,
      async (r, cert, host) => {
        where = { cert, host };
        await fetchInto(r);
        await fetchInto(r);
      },
    );
    expect(ran).toHaveLength(1); // the second blob went to node straight away
    expect(ran[0]).toContain(`--url https://${where.host}/v2/a/b/blobs/${desc.digest}`);
    expect(ran[0]).toContain(`--ca-file ${where.cert}`);
    expect(ran[0]).not.toContain("--insecure");
  }, 20_000);

  it("refused by the registry's session already: no blob download asks polis-fetch", async () => {
    // the session answers its first request with OpenSSL's refusal, then waits for its stdin's end
    const ran = await withStandIn(
      (calls) =>
        `#!/bin/sh\necho "$1" >> ${calls}\n[ "$1" = --session ] && echo "error tls unable to get local issuer certificate" && exec cat >/dev/null\n`,
      async (r) => {
        await fetchInto(r);
        expect(r.tlsInNode).toBe(true);
      },
    );
    expect(ran).toEqual(["--session"]);
  }, 20_000);
});

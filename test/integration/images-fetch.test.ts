// Layer downloads from a plain-HTTP registry go through polis-fetch (native/fetch/polis-fetch.c):
// the blob's bytes never enter node. Checked from outside with `--debug`, whose log names the
// path each blob took ("blob downloaded by polis-fetch" / "by node", "handed to node"), and by
// what the registry saw (requests, Range headers, tokens). A real registry (docker-registry)
// for the usual case; a small server here for the edge cases: chunked bodies, a connection cut
// midway (resumed with Range), a server ignoring Range, wrong digests and sizes (node's error
// texts), a 401 that needs a fresh token and a redirect (both handed to node), polis-fetch and
// polis SIGKILLed midway (nothing leaked, the next pull resumes), and no polis-fetch at all.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OciLayout, push, type Desc, tarOf } from "../helpers/oci-layout.js";
import { POLIS, pidAlive, polisAsync, polisOk, tempRoot, waitFor } from "../helpers/polis.js";
import { closeServer, freePort, listenLocal, startRegistry, type TestRegistry } from "../helpers/registry.js";
import { baseRootfs } from "../helpers/rootfs.js";
import { writeTar } from "../helpers/tarball.js";
import { snapshot } from "../helpers/tree.js";

const work = mkdtempSync(join(tmpdir(), "polis-images-fetch-"));
const roots: string[] = [];
const root = () => {
  const r = tempRoot();
  roots.push(r);
  return r;
};
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

let layout: OciLayout;
let manifest: Desc;
let base: { desc: Desc; diffId: string };
let data: { desc: Desc; diffId: string };
const blobOf = (digest: string) => readFileSync(join(layout.dir, "blobs", "sha256", digest.slice(7)));

/** Which way each blob came, from a --debug log: digest -> "polis-fetch" | "node" (the last word). */
function pathsTaken(stderr: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stderr.split("\n")) {
    const got = /msg="blob downloaded by (polis-fetch|node)".* digest="(sha256:[0-9a-f]{64})"/.exec(line);
    if (got) m.set(got[2], got[1]);
  }
  return m;
}

beforeAll(() => {
  layout = new OciLayout(join(work, "oci"));
  base = layout.layer(tarOf(baseRootfs(), join(work, "base.tar")), "gzip");
  // 2 MiB that gzip cannot shrink, uncompressed: the blob's bytes are the tar's
  const blob = randomBytes(3 << 19).toString("base64");
  data = layout.layer(writeTar(join(work, "data.tar"), [{ name: "big", data: blob }]), "none");
  manifest = layout.image({ layers: [base, data], tag: "1" });
});

afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe("a real registry (docker-registry)", () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
    push(layout.dir, "1", `docker://${reg.host}/f/img:1`);
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it("every layer comes through polis-fetch, the config through node; the tree is node's", async () => {
    // (skopeo's push may recompress: the digests are the registry's, counted by path)
    const r = root();
    const got = await polisAsync(r, ["--debug", "pull", "-q", "--tls-verify=false", `${reg.host}/f/img:1`]);
    expect(got.code, got.stderr).toBe(0);
    const ways = (stderr: string) => [...pathsTaken(stderr).values()].sort();
    expect(ways(got.stderr)).toEqual(["node", "polis-fetch", "polis-fetch"]); // the config, two layers
    expect(got.stderr).not.toMatch(/handed to node/);

    // without polis-fetch (not built): node downloads every blob, the same layers come out
    const plain = root();
    const child = spawn(POLIS, ["--root", plain, "--debug", "pull", "-q", "--tls-verify=false", `${reg.host}/f/img:1`], {
      env: { ...env, POLIS_FETCH: join(work, "no-such-polis-fetch") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    expect(await new Promise((res) => child.once("close", res))).toBe(0);
    expect(stderr).toMatch(/polis-fetch cannot run: node downloads the blobs/);
    expect(ways(stderr)).toEqual(["node", "node", "node"]);
    const dir = (x: string, sub: string) => join(x, "images", sub);
    const blobs = readdirSync(dir(r, "blobs/sha256")).sort();
    expect(readdirSync(dir(plain, "blobs/sha256")).sort()).toEqual(blobs);
    for (const b of blobs) {
      expect(readFileSync(join(dir(r, "blobs/sha256"), b)).equals(readFileSync(join(dir(plain, "blobs/sha256"), b)))).toBe(true);
    }
    const chains = readdirSync(dir(r, "layers")).sort();
    expect(chains).toHaveLength(2);
    expect(readdirSync(dir(plain, "layers")).sort()).toEqual(chains);
    for (const c of chains) {
      expect(snapshot(join(dir(r, "layers"), c), { mtimes: true })).toEqual(
        snapshot(join(dir(plain, "layers"), c), { mtimes: true }),
      );
    }
    expect(readdirSync(dir(r, "tmp"))).toEqual([]);
  }, 60_000);
});

describe("a registry with edge cases", () => {
  type Mode = "plain" | "chunked" | "cut" | "cut-no-range" | "corrupt" | "long" | "auth" | "redirect" | "hold";
  let mode: Mode = "plain";
  /** the layer the mode applies to (the base one is unpacked while it downloads) */
  let target: "data" | "base" = "data";
  const targetDigest = () => (target === "data" ? data : base).desc.digest;
  let server: Server;
  let host = "";
  /** the data layer's requests: their Range and Authorization headers */
  const asked: { range?: string; auth?: string; url: string }[] = [];
  let tokens = 0;
  const held: (() => void)[] = [];

  const serveData = (req: IncomingMessage, res: ServerResponse, blob: Buffer) => {
    const n = asked.length;
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? "")?.[1] ?? 0);
    const half = blob.length >> 1;
    if (mode === "chunked") return res.writeHead(200).end(blob); // no length: node's http sends it chunked
    if (mode === "corrupt") return res.writeHead(200, { "content-length": blob.length }).end(Buffer.from(blob).fill(0x41, 0, 16));
    if (mode === "long") return res.writeHead(200).end(Buffer.concat([blob, Buffer.from("extra")]));
    if ((mode === "cut" || mode === "cut-no-range") && n === 1) {
      res.writeHead(200, { "content-length": blob.length });
      res.write(blob.subarray(0, half), () => setTimeout(() => req.socket.destroy(), 50));
      return;
    }
    if (mode === "hold" && !from) {
      res.writeHead(200, { "content-length": blob.length });
      res.write(blob.subarray(0, half));
      held.push(() => res.end(blob.subarray(half)));
      return;
    }
    if (from && mode !== "cut-no-range") {
      res.writeHead(206, {
        "content-range": `bytes ${from}-${blob.length - 1}/${blob.length}`,
        "content-length": blob.length - from,
      });
      return res.end(blob.subarray(from));
    }
    res.writeHead(200, { "content-length": blob.length }).end(blob);
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? "";
      const auth = req.headers.authorization;
      if (url.startsWith("/token")) {
        tokens++;
        return res.end(JSON.stringify({ token: `t${tokens}` }));
      }
      // auth: any token for everything but the data layer, which only takes a second token
      if (mode === "auth" && url !== "/v2/" && !auth?.startsWith("Bearer ")) {
        return res
          .writeHead(401, { "www-authenticate": `Bearer realm="http://${host}/token",service="test"` })
          .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      }
      if (url === "/v2/") return res.end("{}");
      if (url === "/v2/t/img/manifests/1")
        return res.writeHead(200, { "content-type": manifest.mediaType }).end(blobOf(manifest.digest));
      const storage = /^\/storage\/(sha256:[0-9a-f]{64})$/.exec(url);
      if (storage) return res.end(blobOf(storage[1]));
      const m = /^\/v2\/t\/img\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url);
      if (!m) return res.writeHead(404).end();
      if (m[1] !== targetDigest()) return res.end(blobOf(m[1]));
      asked.push({ range: req.headers.range, auth, url });
      if (mode === "auth" && auth === "Bearer t1") {
        return res
          .writeHead(401, { "www-authenticate": `Bearer realm="http://${host}/token",service="test"` })
          .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      }
      if (mode === "redirect") return res.writeHead(307, { location: `/storage/${m[1]}` }).end();
      serveData(req, res, blobOf(m[1]));
    });
    host = await listenLocal(server);
  });
  afterAll(async () => {
    for (const release of held.splice(0)) release();
    await closeServer(server);
  });
  beforeEach(() => {
    asked.length = 0;
    tokens = 0;
    target = "data";
  });

  const pull = (r: string, m: Mode) => {
    mode = m;
    return polisAsync(r, ["--debug", "pull", "-q", "--tls-verify=false", `${host}/t/img:1`]);
  };
  /** A whole pull: the data layer in the store, as the registry has it; no temp file left. */
  const pulled = (r: string) => {
    expect(readFileSync(join(r, "images", "blobs", "sha256", data.desc.digest.slice(7))).equals(blobOf(data.desc.digest))).toBe(
      true,
    );
    expect(readdirSync(join(r, "images", "tmp"))).toEqual([]);
    expect(readdirSync(join(r, "images", "layers")).length).toBe(2);
  };

  it("a chunked body", async () => {
    const r = root();
    const got = await pull(r, "chunked");
    expect(got.code, got.stderr).toBe(0);
    expect(pathsTaken(got.stderr).get(data.desc.digest)).toBe("polis-fetch");
    expect(asked).toHaveLength(1);
    pulled(r);
  }, 30_000);

  it("a connection cut midway: resumed with a Range request", async () => {
    const r = root();
    const got = await pull(r, "cut");
    expect(got.code, got.stderr).toBe(0);
    expect(got.stderr).toMatch(/blob download interrupted, resuming.*net ECONNRESET/);
    expect(pathsTaken(got.stderr).get(data.desc.digest)).toBe("polis-fetch");
    expect(asked.map((a) => a.range)).toEqual([undefined, expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
    pulled(r);
  }, 30_000);

  it.each(["data", "base"] as const)(
    "a server that ignores Range: the file starts over (%s layer)",
    async (layer) => {
      const r = root();
      target = layer;
      const got = await pull(r, "cut-no-range");
      expect(got.code, got.stderr).toBe(0);
      expect(got.stderr).toMatch(/ignored the Range request, downloaded the blob from the start/);
      expect(pathsTaken(got.stderr).get(targetDigest())).toBe("polis-fetch");
      expect(asked).toHaveLength(2);
      pulled(r);
    },
    30_000,
  );

  it.each([
    ["corrupt", /content has digest sha256:[0-9a-f]{64} \(corrupted in the registry or on the way\): refusing it/],
    ["long", /the registry sent more than the \d+ bytes the manifest says/],
  ] as const)(
    "%s content: node's error text, nothing left behind",
    async (m, text) => {
      const r = root();
      const got = await pull(r, m);
      expect(got.code).toBe(1);
      const line = got.stderr.split("\n").find((l) => l.includes("level=error")) ?? "";
      expect(line).toContain(`${host}/t/img@${data.desc.digest}: `);
      expect(line).toMatch(text);
      expect(readdirSync(join(r, "images", "tmp"))).toEqual([]);
      expect(existsSync(join(r, "images", "blobs", "sha256", data.desc.digest.slice(7)))).toBe(false);
      expect(polisOk(r, ["images", "--format", "json"]).stdout.trim()).toBe("[]");
    },
    30_000,
  );

  it("a 401 for polis-fetch's token: node gets a fresh one and the blob", async () => {
    const r = root();
    const got = await pull(r, "auth");
    expect(got.code, got.stderr).toBe(0);
    expect(got.stderr).toMatch(/blob download handed to node.* answer="status 401"/);
    expect(pathsTaken(got.stderr).get(data.desc.digest)).toBe("node");
    expect(asked.map((a) => a.auth)).toEqual(["Bearer t1", "Bearer t1", "Bearer t2"]); // polis-fetch, node, node re-authed
    pulled(r);
  }, 30_000);

  it("a redirect: handed to node, which follows it", async () => {
    const r = root();
    const got = await pull(r, "redirect");
    expect(got.code, got.stderr).toBe(0);
    expect(got.stderr).toMatch(/blob download handed to node.* answer="status 307"/);
    expect(pathsTaken(got.stderr).get(data.desc.digest)).toBe("node");
    expect(asked).toHaveLength(2);
    pulled(r);
  }, 30_000);

  /** polis's polis-fetch child for the data layer, once it runs */
  const fetchChild = (parent: number): number | undefined => {
    for (const p of readdirSync("/proc")) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const stat = readFileSync(`/proc/${p}/stat`, "utf8");
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const forData = readFileSync(`/proc/${p}/cmdline`, "utf8").includes(data.desc.digest);
        if (stat.includes("(polis-fetch)") && Number(rest[1]) === parent && forData) return Number(p);
      } catch {
        // gone meanwhile
      }
    }
    return undefined;
  };
  const startHeld = (r: string) => {
    mode = "hold";
    const child = spawn(POLIS, ["--root", r, "--debug", "pull", "-q", "--tls-verify=false", `${host}/t/img:1`], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const closed = new Promise<number | null>((res) => child.once("close", res));
    return { child, closed, stderr: () => stderr };
  };
  const partialSize = (r: string) =>
    readdirSync(join(r, "images", "tmp"))
      .filter((f) => f.startsWith(data.desc.digest.slice(7)))
      .map((f) => readFileSync(join(r, "images", "tmp", f)).length);

  it("polis-fetch SIGKILLed midway: the pull resumes it and succeeds", async () => {
    const r = root();
    const run = startHeld(r);
    let fetcher: number | undefined;
    await waitFor(() => (fetcher = fetchChild(run.child.pid!)) !== undefined && partialSize(r)[0] > 0, 20_000);
    // its headers came on stdin, not argv (which every user can read)
    expect(readFileSync(`/proc/${fetcher}/cmdline`, "utf8")).not.toMatch(/user-agent/i);
    expect(readFileSync(`/proc/${fetcher}/cmdline`, "utf8")).toContain("--header-fd\u00000");
    process.kill(fetcher!, "SIGKILL");
    mode = "plain"; // the resumed request is answered whole
    for (const release of held.splice(0)) release();
    expect(await run.closed, run.stderr()).toBe(0);
    expect(run.stderr()).toMatch(/blob download interrupted, resuming.*killed SIGKILL/);
    expect(asked.at(-1)?.range).toMatch(/^bytes=[1-9]\d*-$/);
    pulled(r);
  }, 30_000);

  it("polis SIGKILLed midway: polis-fetch goes with it, the next pull resumes the partial blob", async () => {
    const r = root();
    const run = startHeld(r);
    let fetcher: number | undefined;
    const half = data.desc.size >> 1;
    await waitFor(() => (fetcher = fetchChild(run.child.pid!)) !== undefined && partialSize(r)[0] === half, 20_000);
    run.child.kill("SIGKILL");
    await run.closed;
    await waitFor(() => !pidAlive(fetcher!), 5_000); // PR_SET_PDEATHSIG
    for (const release of held.splice(0)) release();
    expect(partialSize(r)).toEqual([data.desc.size >> 1]); // what it had written, nothing under the digest
    expect(existsSync(join(r, "images", "blobs", "sha256", data.desc.digest.slice(7)))).toBe(false);

    const again = await pull(r, "plain");
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming blob.*bytes=\d+/);
    expect(pathsTaken(again.stderr).get(data.desc.digest)).toBe("polis-fetch");
    expect(asked.at(-1)?.range).toBe(`bytes=${data.desc.size >> 1}-`);
    pulled(r);
  }, 30_000);
});

describe("polis-fetch on its own", () => {
  const BIN = join(__dirname, "..", "..", "native", "build", "Release", "polis-fetch");
  let server: Server;
  let port = 0;
  const body = randomBytes(1 << 20);
  const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/stall") {
        res.writeHead(200, { "content-length": body.length });
        res.write(body.subarray(0, 1000)); // and nothing more
        return;
      }
      if (req.url === "/blob") return res.writeHead(200, { "content-length": body.length }).end(body);
      if (req.url === "/auth" && req.headers.authorization === "Bearer sesame" && req.headers["x-two"] === "2")
        return res.end(body);
      if (req.url === "/auth") return res.writeHead(401).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await closeServer(server);
  });

  /** polis-fetch ARGS into a new empty file; its report (fd 3), exit code and stdout's byte count */
  const run = (args: string[], readStdout = true, stdin = "") =>
    new Promise<{ report: string; code: number | null; teed: number; file: string; stderr: string }>((resolve) => {
      const file = join(work, `out-${randomBytes(4).toString("hex")}`);
      writeFileSync(file, "");
      const child = spawn(BIN, ["--file", file, ...args], { stdio: ["pipe", "pipe", "pipe", "pipe"] });
      child.stdin?.on("error", () => {}); // a usage error exits before reading it
      child.stdin?.end(stdin);
      let report = "";
      let stderr = "";
      let teed = 0;
      (child.stdio[3] as NodeJS.ReadableStream).on("data", (d) => (report += d));
      child.stderr?.on("data", (d) => (stderr += d));
      if (readStdout) child.stdout?.on("data", (d: Buffer) => (teed += d.length));
      else child.stdout?.destroy(); // the reader is gone: EPIPE on the first copy
      child.once("close", (code) => resolve({ report: report.trim(), code, teed, file, stderr }));
    });
  const blobArgs = (path: string, host = "127.0.0.1") => [
    "--url",
    `http://${host}:${port}${path}`,
    "--size",
    String(body.length),
    "--digest",
    digest,
  ];

  it("downloads, verifies and copies to stdout with --tee; the name localhost resolves", async () => {
    const got = await run([...blobArgs("/blob", "localhost"), "--tee"]);
    expect(got).toMatchObject({ code: 0, report: `ok ${body.length} ${digest}`, teed: body.length });
    expect(readFileSync(got.file).equals(body)).toBe(true);
  });

  it("headers from --header-fd (polis's way: a token on argv would be readable by every user)", async () => {
    expect((await run([...blobArgs("/auth"), "--header-fd", "0"], true, "Authorization: Bearer sesame\nX-Two: 2\n")).report).toBe(
      `ok ${body.length} ${digest}`,
    );
    expect((await run([...blobArgs("/auth"), "--header-fd", "0"], true, "Authorization: Bearer nope\n")).report).toBe(
      "status 401",
    );
    const bad = await run([...blobArgs("/auth"), "--header-fd", "0"], true, "Authorization: Bearer x\rHost: evil\n");
    expect(bad).toMatchObject({ code: 2, report: "" });
  });

  it("a tee reader that goes away (EPIPE) does not stop the download", async () => {
    const got = await run([...blobArgs("/blob"), "--tee"], false);
    expect(got).toMatchObject({ code: 0, report: `ok ${body.length} ${digest}` });
    expect(readFileSync(got.file).equals(body)).toBe(true);
  });

  it("a stalled body: net ETIMEDOUT after --timeout-ms, the bytes so far kept for a resume", async () => {
    const got = await run([...blobArgs("/stall"), "--timeout-ms", "300"]);
    expect(got.code).toBe(0);
    expect(got.report).toMatch(/^net ETIMEDOUT read: no answer for 300 ms$/);
    expect(readFileSync(got.file).length).toBe(1000);
  });

  it("another answer, a refused connection, bad arguments", async () => {
    expect((await run(blobArgs("/nope"))).report).toBe("status 404");
    const closed = await freePort();
    expect((await run(["--url", `http://127.0.0.1:${closed}/x`, "--size", "1", "--digest", digest])).report).toBe(
      `net ECONNREFUSED connect 127.0.0.1:${closed}: Connection refused`,
    );
    const bad = await run(["--url", "ftp://127.0.0.1/x", "--size", "1", "--digest", digest]);
    expect(bad).toMatchObject({ code: 2, report: "" });
    expect(bad.stderr).toMatch(/--url ftp:\/\/127\.0\.0\.1\/x: only http:\/\/ and https:\/\/ URLs/);
    const both = await run([...blobArgs("/blob"), "--insecure", "--ca-file", "/x.pem"]);
    expect(both).toMatchObject({ code: 2, report: "" });
    expect(both.stderr).toMatch(/--insecure and --ca-file: one or the other/);
    const injected = await run([...blobArgs("/blob"), "--header", "X: a\r\nHost: evil"]);
    expect(injected).toMatchObject({ code: 2, report: "" });
  });
});

// A registry over HTTPS with a self-signed certificate: refused by default with a one-line error,
// pulled with the certificate as a configured CA file (verified), as NODE_EXTRA_CA_CERTS (which
// the launcher moves to POLIS_EXTRA_CA_CERTS so that node starts without parsing it), or with
// --tls-verify=false. The layers come through polis-fetch over TLS (its bytes never enter node),
// checked against the same CA files; polis-fetch's own TLS (verified, --insecure, a wrong host
// name, a resume) against an HTTPS server of the test's.
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostPlatform } from "../../src/image/manifest.js";
import { OciLayout, push } from "../helpers/oci-layout.js";
import { POLIS, POLIS_MJS, polis, tempRoot } from "../helpers/polis.js";
import { closeServer, selfSignedCert, startRegistry, type TestRegistry } from "../helpers/registry.js";
import { writeTar } from "../helpers/tarball.js";

const work = mkdtempSync(join(tmpdir(), "polis-tls-"));
let reg: TestRegistry;
let cert: { key: string; cert: string };
/** a CA of nobody's: trusting it must not cost the others */
let otherCert: { key: string; cert: string };
const roots: string[] = [];
/**
 * Which way each blob came, from a --debug log ("blob downloaded by polis-fetch" / "by node"),
 * sorted: the config (node's) and the layer download at once, and log in either order.
 */
const ways = (stderr: string) => [...stderr.matchAll(/msg="blob downloaded by (polis-fetch|node)"/g)].map((m) => m[1]).sort();
/** Each registry request of a --debug log: "<url> <status> <transport>" (native-http.ts: polis-fetch's session, or node). */
const answers = (stderr: string) =>
  [...stderr.matchAll(/msg="registry answer" status=(\d+) url="([^"]+)" via=(\S+)/g)].map((m) => `${m[2]} ${m[1]} ${m[3]}`);
const root = () => {
  const r = tempRoot();
  roots.push(r);
  return r;
};

beforeAll(async () => {
  cert = selfSignedCert(work);
  otherCert = selfSignedCert(mkdtempSync(join(work, "other-")));
  reg = await startRegistry({ tls: cert });
  const layout = new OciLayout(join(work, "oci"));
  const l = layout.layer(writeTar(join(work, "t.tar"), [{ name: "hello", data: "hi" }]), "gzip");
  layout.image({ layers: [l], config: { Cmd: ["true"] }, arch: hostPlatform().architecture, tag: "t" });
  push(layout.dir, "t", `docker://${reg.host}/tls/app:1`);
}, 60_000);

afterAll(async () => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("HTTPS registries", () => {
  it("a self-signed certificate is refused by default", () => {
    const r = polis(root(), ["pull", "-q", `${reg.host}/tls/app:1`]);
    expect(r.code).toBe(1);
    // node's error, from the manifest's request: no blob was asked for
    expect(r.stderr).toMatch(/registry unreachable: .*self[- ]signed certificate/i);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("pulls with the certificate as the registry's CA file in the config", () => {
    const r = root();
    const file = join(r, "config.yaml");
    writeFileSync(file, `registries:\n  "${reg.host}":\n    ca: ${cert.cert}\n`);
    const res = polis(r, ["--debug", "--config", file, "pull", "-q", `${reg.host}/tls/app:1`]);
    expect(res).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sha256:/) });
    // the config through node's download loop, the layer through polis-fetch, which trusted the same CA file
    expect(ways(res.stderr)).toEqual(["node", "polis-fetch"]);
    expect(res.stderr).not.toMatch(/handed to node/);
    // every request node made (the ping, the manifest, the config) went through polis-fetch's session
    const base = `https://${reg.host}/v2/`;
    expect(answers(res.stderr)).toEqual([
      `${base} 200 polis-fetch`,
      `${base}tls/app/manifests/1 200 polis-fetch`,
      expect.stringMatching(new RegExp(`^${base}tls/app/blobs/sha256:[0-9a-f]{64} 200 polis-fetch$`)),
    ]);
  });

  it("pulls over unverified HTTPS with --tls-verify=false", () => {
    // over HTTPS, not plain HTTP: the TLS hello that spares a plain registry the HTTPS attempt
    // got a TLS answer here; the requests went through polis-fetch's session (NODE_DEBUG=https
    // would show node's own HTTPS connections: none)
    const res = polis(root(), ["--debug", "pull", "-q", "--tls-verify=false", `${reg.host}/tls/app:1`], {
      env: { NODE_DEBUG: "https,tls" },
    });
    expect(res).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sha256:/) });
    expect(answers(res.stderr)).toHaveLength(3);
    for (const a of answers(res.stderr)) expect(a).toMatch(new RegExp(`^https://${reg.host}/v2/\\S* 200 polis-fetch$`));
    expect(res.stderr).not.toMatch(/^(HTTPS|TLS) \d+:/m);
    // the layer through polis-fetch, which checked no certificate either
    expect(ways(res.stderr)).toEqual(["node", "polis-fetch"]);
    expect(res.stderr).not.toMatch(/handed to node/);
  });

  it("a missing CA file is a one-line error naming it", () => {
    const r = root();
    const file = join(r, "config.yaml");
    writeFileSync(file, `registries:\n  "${reg.host}":\n    ca: /nonexistent/ca.pem\n`);
    expect(polis(r, ["--config", file, "pull", "-q", `${reg.host}/tls/app:1`]).stderr).toMatch(
      /registries: CA file \/nonexistent\/ca\.pem: ENOENT"\n$/,
    );
  });

  /** `argv` run with exactly `env` (plus PATH), no NODE_EXTRA_CA_CERTS unless given. */
  const run = (argv: string[], env: Record<string, string>) => {
    const r = spawnSync(argv[0], argv.slice(1), {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      encoding: "utf8",
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it("NODE_EXTRA_CA_CERTS reaches a pull through the launcher as POLIS_EXTRA_CA_CERTS; node starts without it", () => {
    // POLIS_NODE: a node that writes down the environment the launcher gave it
    const seen = join(work, "env-seen");
    const node = join(work, "node-env");
    writeFileSync(node, `#!/bin/sh\nenv > ${seen}\nexec ${process.execPath} "$@"\n`);
    chmodSync(node, 0o755);
    const env = { NODE_EXTRA_CA_CERTS: cert.cert, POLIS_NODE: node };
    const envSeen = () => readFileSync(seen, "utf8").split("\n");

    const r = run([POLIS, "--root", root(), "pull", "-q", `${reg.host}/tls/app:1`], env);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^sha256:/);
    expect(envSeen()).toContain(`POLIS_EXTRA_CA_CERTS=${cert.cert}`);
    expect(envSeen().filter((l) => l.startsWith("NODE_EXTRA_CA_CERTS="))).toEqual([]);

    // a command without TLS drops it altogether
    expect(run([POLIS, "--root", root(), "images", "-q"], env)).toMatchObject({ code: 0 });
    expect(envSeen().filter((l) => /^(NODE|POLIS)_EXTRA_CA_CERTS=/.test(l))).toEqual([]);
  });

  it("POLIS_EXTRA_CA_CERTS is trusted beside the config's CA files, and so is node's own NODE_EXTRA_CA_CERTS", () => {
    const r = root();
    const file = join(r, "config.yaml");
    writeFileSync(file, `registries:\n  "${reg.host}":\n    ca: ${otherCert.cert}\n`);
    const pull = (into = r) => [
      process.execPath,
      POLIS_MJS,
      "--root",
      into,
      "--config",
      file,
      "--debug",
      "pull",
      "-q",
      `${reg.host}/tls/app:1`,
    ];
    expect(run(pull(), {})).toMatchObject({ code: 1, stderr: expect.stringMatching(/self[- ]signed certificate/i) });
    const extra = run(pull(), { POLIS_EXTRA_CA_CERTS: cert.cert });
    expect(extra).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sha256:/) });
    expect(ways(extra.stderr)).toEqual(["node", "polis-fetch"]); // polis-fetch trusts it too
    // node dist/polis.mjs started with NODE_EXTRA_CA_CERTS: the config's CA must not replace it
    const nodeExtra = run(pull(root()), { NODE_EXTRA_CA_CERTS: cert.cert });
    expect(nodeExtra).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sha256:/) });
    expect(ways(nodeExtra.stderr)).toEqual(["node", "polis-fetch"]);
  });

  it("an unreadable POLIS_EXTRA_CA_CERTS is a warning naming it, as node's is; the certificate is then refused", () => {
    const r = run([process.execPath, POLIS_MJS, "--root", root(), "pull", "-q", `${reg.host}/tls/app:1`], {
      POLIS_EXTRA_CA_CERTS: "/nonexistent/extra.pem",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ignoring extra CA certificates from \/nonexistent\/extra\.pem \(POLIS_EXTRA_CA_CERTS\)/);
    expect(r.stderr).toMatch(/registry unreachable: .*self[- ]signed certificate/i);
  });
});

describe("polis-fetch on its own over HTTPS", () => {
  const BIN = join(__dirname, "..", "..", "native", "build", "Release", "polis-fetch");
  let server: Server;
  let port = 0;
  let tls: { key: string; cert: string };
  const body = randomBytes(3 << 20);
  const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  beforeAll(async () => {
    tls = selfSignedCert(mkdtempSync(join(work, "fetch-")));
    server = createServer({ key: readFileSync(tls.key), cert: readFileSync(tls.cert) }, (req, res) => {
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      if (range) {
        const from = Number(range[1]);
        res.writeHead(206, { "content-range": `bytes ${from}-${body.length - 1}/${body.length}` });
        return res.end(body.subarray(from));
      }
      if (req.url === "/chunked") {
        res.write(body.subarray(0, 1 << 20));
        return res.end(body.subarray(1 << 20)); // no Content-Length: chunked
      }
      res.writeHead(200, { "content-length": body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await closeServer(server as unknown as import("node:http").Server);
  });

  /** polis-fetch ARGS into a file holding `have` (the blob's first bytes); its report (fd 3), exit code, the file */
  const run = (args: string[], path = "/blob", host = "127.0.0.1", have = 0) =>
    new Promise<{ report: string; code: number | null; file: string }>((resolve) => {
      const file = join(work, `out-${randomBytes(4).toString("hex")}`);
      writeFileSync(file, body.subarray(0, have));
      const url = `https://${host}:${port}${path}`;
      const child = spawn(BIN, ["--url", url, "--file", file, "--size", String(body.length), "--digest", digest, ...args], {
        stdio: ["ignore", "ignore", "inherit", "pipe"],
      });
      let report = "";
      (child.stdio[3] as NodeJS.ReadableStream).on("data", (d) => (report += d));
      child.once("close", (code) => resolve({ report: report.trim(), code, file }));
    });
  const whole = (got: { report: string; code: number | null; file: string }) => {
    expect(got).toMatchObject({ code: 0, report: `ok ${body.length} ${digest}` });
    expect(readFileSync(got.file).equals(body)).toBe(true);
  };

  it("verified with --ca-file (Content-Length, chunked, a Range resume)", async () => {
    whole(await run(["--ca-file", tls.cert]));
    whole(await run(["--ca-file", "/nonexistent.pem", "--ca-file", tls.cert], "/chunked"));
    whole(await run(["--ca-file", tls.cert], "/blob", "127.0.0.1", 1 << 20));
  });

  it("a certificate it cannot verify, or for another name, is `tls …` (node's turn); --insecure takes any", async () => {
    expect(await run([])).toMatchObject({ code: 0, report: "tls self-signed certificate" });
    expect(await run(["--ca-file", tls.cert], "/blob", "localhost")).toMatchObject({ code: 0, report: "tls hostname mismatch" });
    whole(await run(["--insecure"]));
    whole(await run(["--insecure"], "/blob", "localhost"));
  });
});

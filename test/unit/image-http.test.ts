// The registry client's transport (src/image/http.ts) against local servers: a body cut short is
// a NetworkError the client retries (ECONNRESET), and TLS is verified against Node's CAs plus the
// extra ones (config, POLIS_EXTRA_CA_CERTS) or not at all.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttp, type Server } from "node:http";
import { createServer as createHttps } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createServer as createTcp, type Socket } from "node:net";
import { answersPlainHttp, HttpClient, NetworkError } from "../../src/image/http.js";
import { selfSignedCert } from "../helpers/registry.js";

const work = mkdtempSync(join(tmpdir(), "polis-http-"));
const cert = selfSignedCert(work);
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function listen(s: Server): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as { port: number }).port;
}

/** Announces 100 000 bytes, sends 10 000, then drops the connection. */
const cutShort = () =>
  createHttp((_req, res) => {
    res.writeHead(200, { "content-length": "100000" });
    res.write(Buffer.alloc(10_000));
    setTimeout(() => res.socket?.destroy(), 50);
  });

describe("registry transport", () => {
  it("a body cut short is a NetworkError with a retryable code, after the bytes that came", async () => {
    const port = await listen(cutShort());
    const res = await new HttpClient({ ca: [], verify: true }).get(`http://127.0.0.1:${port}/x`, {});
    expect(res.status).toBe(200);
    let got = 0;
    const error = await (async () => {
      for await (const c of res.body) got += c.length;
    })().catch((e) => e);
    expect(got).toBe(10_000);
    expect(error).toBeInstanceOf(NetworkError);
    expect(error.cause.code).toBe("ECONNRESET");
  });

  it("says who it is (a User-Agent) and sends the headers it is given", async () => {
    const seen: Record<string, string | string[] | undefined>[] = [];
    const port = await listen(
      createHttp((req, res) => {
        seen.push(req.headers);
        res.end("ok");
      }),
    );
    const res = await new HttpClient({ ca: [], verify: true }).get(`http://127.0.0.1:${port}/v2/`, { accept: "x/y" });
    expect(await res.text()).toBe("ok");
    expect(seen[0]).toMatchObject({ "user-agent": "polis", accept: "x/y" });
  });

  it("a refused connection is a NetworkError naming the address", async () => {
    const port = await listen(createHttp(() => {}));
    servers.pop()?.close();
    await new Promise((r) => setTimeout(r, 50));
    const error = await new HttpClient({ ca: [], verify: true }).get(`http://127.0.0.1:${port}/`, {}).catch((e) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect(error.cause.message).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  describe("TLS", () => {
    let url: string;
    const tlsServer = async () => {
      const port = await listen(
        createHttps({ key: readFileSync(cert.key), cert: readFileSync(cert.cert) }, (_req, res) =>
          res.end("ok"),
        ) as unknown as Server,
      );
      url = `https://127.0.0.1:${port}/v2/`;
    };
    const text = async (c: HttpClient) => (await c.get(url, {})).text();

    it("verifies against Node's CAs: a self-signed certificate is refused with its code", async () => {
      await tlsServer();
      const error = await text(new HttpClient({ ca: [], verify: true })).catch((e) => e);
      expect(error).toBeInstanceOf(NetworkError);
      expect(error.cause.code).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
    });

    it("trusts the extra CAs: PEM text from the config, or the POLIS_EXTRA_CA_CERTS file", async () => {
      await tlsServer();
      expect(await text(new HttpClient({ ca: [readFileSync(cert.cert, "utf8")], verify: true }))).toBe("ok");
      expect(await text(new HttpClient({ ca: [], caFile: cert.cert, verify: true }))).toBe("ok");
    });

    it("without verification any certificate goes", async () => {
      await tlsServer();
      expect(await text(new HttpClient({ ca: [], verify: false }))).toBe("ok");
    });
  });

  // An insecure registry is tried over HTTPS first (as podman and skopeo do); a TLS hello on a
  // bare socket tells a plain HTTP server (which answers it with a 400) from a TLS one before
  // node's TLS stack is loaded for an attempt bound to fail.
  describe("plain HTTP or TLS, by a TLS hello on a bare socket", () => {
    it("a plain HTTP server answers it with an HTTP status line", async () => {
      const seen: string[] = [];
      const port = await listen(createHttp((_req, res) => res.end("ok")));
      servers[0].on("connection", (s: Socket) => s.once("data", (d: Buffer) => seen.push(d.toString("hex", 0, 3))));
      expect(await answersPlainHttp(`127.0.0.1:${port}`)).toBe(true);
      expect(seen).toEqual(["160301"]); // a TLS handshake record is what the server got
    });

    it("a TLS server answers it in TLS", async () => {
      const port = await listen(
        createHttps({ key: readFileSync(cert.key), cert: readFileSync(cert.cert) }, (_req, res) =>
          res.end("ok"),
        ) as unknown as Server,
      );
      expect(await answersPlainHttp(`127.0.0.1:${port}`)).toBe(false);
    });

    it("a refused connection, a server that closes and a silent one are not plain HTTP (HTTPS is tried as before)", async () => {
      const closing = await listen(createTcp((s) => s.destroy()) as unknown as Server);
      expect(await answersPlainHttp(`127.0.0.1:${closing}`)).toBe(false);
      const silent = await listen(createTcp(() => {}) as unknown as Server);
      const t0 = Date.now();
      expect(await answersPlainHttp(`127.0.0.1:${silent}`, 200)).toBe(false);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
      servers.pop()?.close();
      servers.pop()?.close();
      await new Promise((r) => setTimeout(r, 50));
      expect(await answersPlainHttp(`127.0.0.1:${silent}`)).toBe(false);
    });
  });
});

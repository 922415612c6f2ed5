// The node side of polis-fetch's session mode (src/image/native-http.ts): its frames, read in
// pieces as a pipe delivers them, an answer's head read as node's http reads it, and the
// transport against local HTTPS servers (keep-alive, a server closing connections, requests at
// once, a dropped body, node's error texts, the TLS fallback to node, no polis-fetch).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { createServer as createHttps } from "node:https";
import { createServer as createTcp, type Server as NetServer } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { HttpClient, NetworkError } from "../../src/image/http.js";
import { NativeHttp } from "../../src/image/native-http.js";
import { type Frame, FrameReader, parseHead } from "../../src/image/session-frames.js";
import { closeServer, selfSignedCert } from "../helpers/registry.js";

const HEAD = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11";
const STREAM = Buffer.concat([
  Buffer.from(`head ${HEAD.length}\n${HEAD}`),
  Buffer.from("body 5\nhellobody 6\n world"),
  Buffer.from("body 0\n"),
  Buffer.from("error net ECONNREFUSED connect ECONNREFUSED 127.0.0.1:5443\n"),
]);

/** The frames of `chunks` fed one after the other, body pieces joined back per frame run. */
function read(chunks: Buffer[]): (string | [string, string])[] {
  const r = new FrameReader();
  const out: (string | [string, string])[] = [];
  for (const c of chunks) {
    for (const f of r.push(c) as Frame[]) {
      if (f.kind === "body") {
        const last = out[out.length - 1];
        if (Array.isArray(last) && last[0] === "body") last[1] += f.data.toString();
        else out.push(["body", f.data.toString()]);
      } else if (f.kind === "head") out.push(["head", f.head.toString()]);
      else if (f.kind === "error") out.push(["error", f.line]);
      else out.push(f.kind);
    }
  }
  return out;
}

const WHOLE = [["head", HEAD], ["body", "hello world"], "end", ["error", "net ECONNREFUSED connect ECONNREFUSED 127.0.0.1:5443"]];

describe("polis-fetch session frames", () => {
  it("reads a head, body pieces, the zero chunk and an error line", () => {
    expect(read([STREAM])).toEqual(WHOLE);
  });

  it("reads the same however the pipe cuts the bytes: one at a time, or at every place in two", () => {
    expect(read([...STREAM].map((b) => Buffer.from([b])))).toEqual(WHOLE);
    for (let at = 1; at < STREAM.length; at++) {
      expect(read([STREAM.subarray(0, at), STREAM.subarray(at)]), `cut at ${at}`).toEqual(WHOLE);
    }
  });

  it("hands body bytes on as they come, without waiting for the whole frame", () => {
    const r = new FrameReader();
    expect(r.push(Buffer.from("body 10\nabc"))).toEqual([{ kind: "body", data: Buffer.from("abc") }]);
    expect(r.push(Buffer.from("defghij"))).toEqual([{ kind: "body", data: Buffer.from("defghij") }]);
    expect(r.push(Buffer.from("body 0\n"))).toEqual([{ kind: "end" }]);
  });

  it("binary body bytes, newlines included, are data, not frames", () => {
    const data = Buffer.from([10, 0, 255, 10, 13, 10]);
    expect(read([Buffer.concat([Buffer.from(`body ${data.length}\n`), data, Buffer.from("body 0\n")])])).toEqual([
      ["body", data.toString()],
      "end",
    ]);
  });

  it("an unknown frame or a runaway line is an error (the session is dropped)", () => {
    expect(() => new FrameReader().push(Buffer.from("hello 3\nabc"))).toThrow(/an unknown frame "hello 3"/);
    expect(() => new FrameReader().push(Buffer.from("body x\n"))).toThrow(/an unknown frame/);
    expect(() => new FrameReader().push(Buffer.from("head -1\n"))).toThrow(/an unknown frame/);
    expect(() => new FrameReader().push(Buffer.alloc(2000, 97))).toThrow(/longer than 1024 bytes/);
  });
});

describe("an answer's head, as node's http reads it", () => {
  it("status, reason, lower-case names, values trimmed", () => {
    const h = parseHead(Buffer.from("HTTP/1.1 404 Not Found\r\nDocker-Distribution-API-Version:  registry/2.0 \r\nX-Empty:"));
    expect(h.status).toBe(404);
    expect(h.statusText).toBe("Not Found");
    expect([...h.headers]).toEqual([
      ["docker-distribution-api-version", "registry/2.0"],
      ["x-empty", ""],
    ]);
  });

  it("no reason phrase; HTTP/1.0", () => {
    expect(parseHead(Buffer.from("HTTP/1.0 200"))).toMatchObject({ status: 200, statusText: "" });
  });

  it("repeated headers: joined with ', ' (WWW-Authenticate), the first kept where node keeps it (Location, Content-Type)", () => {
    const h = parseHead(
      Buffer.from(
        [
          "HTTP/1.1 401 Unauthorized",
          'WWW-Authenticate: Bearer realm="https://a/token"',
          'www-authenticate: Basic realm="x"',
          "Location: /first",
          "Location: /second",
          "Content-Type: a/b",
          "content-type: c/d",
        ].join("\r\n"),
      ),
    );
    expect(h.headers.get("www-authenticate")).toBe('Bearer realm="https://a/token", Basic realm="x"');
    expect(h.headers.get("location")).toBe("/first");
    expect(h.headers.get("content-type")).toBe("a/b");
  });

  it("header values are latin1, as node's", () => {
    expect(parseHead(Buffer.from([...Buffer.from("HTTP/1.1 200 OK\r\nX: "), 0xe9])).headers.get("x")).toBe("é");
  });

  it("not a status line is an error", () => {
    expect(() => parseHead(Buffer.from("ICY 200 OK"))).toThrow(/not a status line/);
    expect(() => parseHead(Buffer.from("HTTP/2 200"))).toThrow(/not a status line/);
  });
});

// The transport against HTTPS servers of the test's own (polis-fetch as built by `npm run
// install`): what a registry client sees, and what node's HttpClient would have said instead.
describe("NativeHttp: HTTPS requests through polis-fetch sessions", () => {
  let work = "";
  let cert: { key: string; cert: string };
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "polis-native-http-"));
    cert = selfSignedCert(work);
  });
  const servers: Server[] = [];
  const tls = () => ({ key: readFileSync(cert.key), cert: readFileSync(cert.cert) });
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      if (typeof s.closeAllConnections === "function") await closeServer(s);
      else await new Promise((r) => s.close(r));
    }
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  async function listen(s: Server | NetServer): Promise<string> {
    servers.push(s as Server);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    return `127.0.0.1:${(s.address() as { port: number }).port}`;
  }
  /** A transport trusting the test's certificate: polis-fetch through --ca-file, node through its PEM. */
  const transport = (tlsArgs = ["--ca-file", cert.cert]) => {
    const node = new HttpClient({ ca: [readFileSync(cert.cert, "utf8")], verify: true });
    const t = new NativeHttp(tlsArgs, () => node);
    transports.push(t);
    return t;
  };
  const transports: NativeHttp[] = [];
  afterEach(() => {
    for (const t of transports.splice(0)) t.close();
  });

  it("status, headers and body (Content-Length and chunked) over one kept-alive connection, headers sent as given", async () => {
    let connections = 0;
    const seen: Record<string, unknown>[] = [];
    const s = createHttps(tls(), (req, res) => {
      seen.push(req.headers);
      if (req.url === "/chunked") {
        res.write("abc");
        return setTimeout(() => res.end("def"), 20);
      }
      res.writeHead(201, "Made", { "x-a": "1", "content-type": "text/plain" }).end("hello");
    });
    s.on("connection", () => connections++);
    const host = await listen(s as unknown as Server);
    const t = transport();
    const a = await t.get(`https://${host}/a`, { "user-agent": "polis", authorization: "Bearer x" });
    expect(a).toMatchObject({ status: 201, statusText: "Made", ok: true, via: "polis-fetch" });
    expect(a.headers.get("X-A")).toBe("1");
    expect(a.headers.get("missing")).toBeNull();
    expect(await a.text()).toBe("hello");
    expect(await (await t.get(`https://${host}/chunked`, {})).text()).toBe("abcdef");
    expect(await (await t.get(`https://${host}/json`, {})).text()).toBe("hello");
    expect(connections).toBe(1);
    expect(seen[0]).toMatchObject({ host, "user-agent": "polis", authorization: "Bearer x", connection: "keep-alive" });
  });

  it("a server that closes each connection after its answer without saying so: every request still answered", async () => {
    let connections = 0;
    const s = createHttps(tls(), (req, res) => {
      const socket = req.socket;
      res.end("ok", () => setTimeout(() => socket.destroy(), 5));
    });
    s.on("connection", () => connections++);
    const host = await listen(s as unknown as Server);
    const t = transport();
    for (let i = 0; i < 4; i++) {
      expect(await (await t.get(`https://${host}/${i}`, {})).text()).toBe("ok");
      await new Promise((r) => setTimeout(r, 30)); // the close has come
    }
    expect(connections).toBe(4);
  });

  it("a kept-alive connection the server drops as the next request arrives: sent again once on a new one", async () => {
    // answers the first request of each connection, then closes at the second one's arrival
    const requests: number[] = [];
    const s = createTlsServer(tls(), (socket) => {
      let seen = "";
      socket.on("data", (d: Buffer) => {
        seen += d.toString("latin1");
        const n = seen.split("\r\n\r\n").length - 1;
        requests.push(n);
        if (n === 1) socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        else socket.destroy();
      });
    });
    const host = await listen(s as unknown as Server);
    const t = transport();
    for (let i = 0; i < 3; i++) expect(await (await t.get(`https://${host}/${i}`, {})).text()).toBe("ok");
    expect(requests).toEqual([1, 2, 1, 2, 1]); // each later request: refused on the old connection, answered on a new one
  });

  it("requests at once: up to four children, each answer whole", async () => {
    let open = 0;
    let most = 0;
    const s = createHttps(tls(), (req, res) => {
      most = Math.max(most, ++open);
      setTimeout(() => {
        open--;
        res.end(req.url);
      }, 50);
    });
    const host = await listen(s as unknown as Server);
    const t = transport();
    const got = await Promise.all([1, 2, 3, 4, 5, 6].map(async (i) => (await t.get(`https://${host}/${i}`, {})).text()));
    expect(got).toEqual(["/1", "/2", "/3", "/4", "/5", "/6"]);
    expect(most).toBe(4);
  });

  it("a long body dropped midway ends its child; the next request gets another", async () => {
    const big = Buffer.alloc(4 << 20, 1);
    const s = createHttps(tls(), (req, res) => res.end(req.url === "/big" ? big : "small"));
    const host = await listen(s as unknown as Server);
    const t = transport();
    const res = await t.get(`https://${host}/big`, {});
    for await (const c of res.body) {
      expect(c.length).toBeGreaterThan(0);
      break; // the reader stops early: cancel
    }
    expect(await (await t.get(`https://${host}/small`, {})).text()).toBe("small");
  });

  it("a short body of unknown length dropped is read away: the same connection serves the next; a long one ends the child", async () => {
    let connections = 0;
    const s = createHttps(tls(), (req, res) => {
      res.write("x".repeat(100)); // chunked: no Content-Length
      if (req.url === "/long") {
        for (let i = 0; i < 40; i++) res.write(Buffer.alloc(64 << 10, 1));
      }
      setTimeout(() => res.end("y"), 20);
    });
    s.on("connection", () => connections++);
    const host = await listen(s as unknown as Server);
    const t = transport();
    (await t.get(`https://${host}/short`, {})).cancel();
    expect(await (await t.get(`https://${host}/next`, {})).text()).toHaveLength(101);
    expect(connections).toBe(1);
    (await t.get(`https://${host}/long`, {})).cancel();
    expect(await (await t.get(`https://${host}/after`, {})).text()).toHaveLength(101);
    expect(connections).toBe(2); // the child that read 1 MiB away went, with its connection
  });

  it("network errors: node's codes and texts, as HttpClient gives them", async () => {
    const failure = async (c: { get: NativeHttp["get"] }, url: string) => {
      const e = await c.get(url, {}).then(
        () => undefined,
        (x) => x,
      );
      expect(e).toBeInstanceOf(NetworkError);
      return { code: e.cause.code, message: e.cause.message };
    };
    const node = new HttpClient({ ca: [], verify: false });
    // refused
    const gone = await listen(createTcp());
    await new Promise((r) => servers.pop()?.close(r));
    const refused = await failure(transport(["--insecure"]), `https://${gone}/v2/`);
    expect(refused).toEqual({ code: "ECONNREFUSED", message: `connect ECONNREFUSED ${gone}` });
    expect(refused).toEqual(await failure(node, `https://${gone}/v2/`));
    // closed, or reset, at the TLS hello
    const closing = await listen(createTcp((sock) => sock.once("data", () => sock.end())));
    const closed = await failure(transport(["--insecure"]), `https://${closing}/v2/`);
    expect(closed).toEqual(await failure(node, `https://${closing}/v2/`));
    expect(closed).toEqual({
      code: "ECONNRESET",
      message: "Client network socket disconnected before secure TLS connection was established",
    });
    const resetting = await listen(createTcp((sock) => sock.once("data", () => sock.resetAndDestroy())));
    const reset = await failure(transport(["--insecure"]), `https://${resetting}/v2/`);
    expect(reset).toEqual(await failure(node, `https://${resetting}/v2/`));
    expect(reset).toEqual({ code: "ECONNRESET", message: "read ECONNRESET" });
    // cut midway through the body: node's "aborted", however it was cut
    const cutting = createHttps(tls(), (_req, res) => {
      res.writeHead(200, { "content-length": "100000" });
      res.write(Buffer.alloc(10_000), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const cut = await listen(cutting as unknown as Server);
    const bodyFailure = async (c: { get: NativeHttp["get"] }) => {
      const res = await c.get(`https://${cut}/`, {});
      let got = 0;
      const e = await (async () => {
        for await (const chunk of res.body) got += chunk.length;
      })().catch((x) => x);
      expect(got).toBe(10_000);
      expect(e).toBeInstanceOf(NetworkError);
      return { code: e.cause.code, message: e.cause.message };
    };
    const midway = await bodyFailure(transport(["--insecure"]));
    expect(midway).toEqual({ code: "ECONNRESET", message: "aborted" });
    expect(midway).toEqual(await bodyFailure(node));
    // closed after the request, before an answer
    const hangUp = createHttps(tls(), (req) => req.socket.destroy());
    const hung = await listen(hangUp as unknown as Server);
    const hup = await failure(transport(["--insecure"]), `https://${hung}/v2/`);
    expect(hup).toEqual({ code: "ECONNRESET", message: "socket hang up" });
    expect(hup).toEqual(await failure(node, `https://${hung}/v2/`));
  });

  it("a certificate polis-fetch refuses goes to node, whose trust decides (from then on for this registry)", async () => {
    const s = createHttps(tls(), (_req, res) => res.end("ok"));
    const host = await listen(s as unknown as Server);
    const t = transport([]); // OpenSSL's store alone: the test's certificate is unknown there
    const res = await t.get(`https://${host}/`, {});
    expect(res.via).toBe("node");
    expect(await res.text()).toBe("ok");
    expect(t.tlsInNode).toBe(true);
    expect((await t.get(`https://${host}/`, {})).via).toBe("node");
  });

  it("plain HTTP, a header with a line break, and no polis-fetch: node's transport", async () => {
    const s = createHttps(tls(), (_req, res) => res.end("ok"));
    const host = await listen(s as unknown as Server);
    const t = transport();
    const e = await t.get(`https://${host}/`, { authorization: "a\r\nb" }).catch((x) => x);
    expect(e.code).toBe("ERR_INVALID_CHAR"); // node's own refusal
    const saved = process.env.POLIS_FETCH;
    process.env.POLIS_FETCH = join(work, "nonexistent");
    try {
      // a module-wide verdict: a fresh import sees polis-fetch missing without touching the others' state
      vi.resetModules();
      const fresh = await import("../../src/image/native-http.js");
      const node = new HttpClient({ ca: [readFileSync(cert.cert, "utf8")], verify: true });
      const m = new fresh.NativeHttp(["--ca-file", cert.cert], () => node);
      const res = await m.get(`https://${host}/`, {});
      expect(res.via).toBe("node");
      expect(await res.text()).toBe("ok");
      expect(m.tlsInNode).toBe(true);
      m.close();
    } finally {
      if (saved === undefined) delete process.env.POLIS_FETCH;
      else process.env.POLIS_FETCH = saved;
    }
  });
});

// The registry client against small fake servers: Authorization never follows a redirect to
// another host, 5xx and dropped connections are retried, tokens are reused per scope.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { netMessage, Registry } from "../../src/image/registry.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];
async function serve(handler: Handler): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `127.0.0.1:${(s.address() as { port: number }).port}`;
}
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

const creds = { username: "u", password: "p" };
const basic = `Basic ${Buffer.from("u:p").toString("base64")}`;

describe("registry client", () => {
  it("follows a blob redirect to another host without the Authorization header", async () => {
    const seen: (string | undefined)[] = [];
    const storage = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.end("blob");
    });
    const host = await serve((req, res) => {
      if (req.headers.authorization !== basic) return res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end();
      if (req.url === "/v2/") return res.end("{}");
      res.writeHead(307, { location: `http://${storage}/data?sig=x` }).end();
    });
    const r = new Registry({ name: host, host, insecure: true, credentials: creds });
    const res = await r.get("a/b", "blobs/sha256:x");
    expect(await res.text()).toBe("blob");
    expect(seen).toEqual([undefined]);
  });

  it("retries 5xx answers and gives up with the status after a few", async () => {
    let calls = 0;
    const host = await serve((req, res) => {
      if (req.url === "/v2/") return res.end("{}");
      calls++;
      if (calls < 3) return res.writeHead(503).end();
      res.end("ok");
    });
    const r = new Registry({ name: host, host, insecure: true });
    expect(await (await r.get("a", "manifests/x")).text()).toBe("ok");
    expect(calls).toBe(3);
    const always = await serve((req, res) => (req.url === "/v2/" ? res.end("{}") : res.writeHead(500).end()));
    await expect(new Registry({ name: always, host: always, insecure: true }).get("a", "manifests/x")).rejects.toThrow(
      /registry answered 500/,
    );
  }, 20_000);

  it("retries a connection reset", async () => {
    let calls = 0;
    const host = await serve((req, res) => {
      if (req.url === "/v2/") return res.end("{}");
      if (++calls === 1) return req.socket.destroy();
      res.end("ok");
    });
    expect(await (await new Registry({ name: host, host, insecure: true }).get("a", "manifests/x")).text()).toBe("ok");
    expect(calls).toBe(2);
  });

  it("asks one token per repository and reuses it", async () => {
    const tokenCalls: string[] = [];
    const auth = await serve((req, res) => {
      const url = new URL(req.url!, "http://x");
      tokenCalls.push(url.searchParams.get("scope")!);
      res.end(JSON.stringify({ access_token: `T-${url.searchParams.get("scope")}`, expires_in: 300 }));
    });
    const host = await serve((req, res) => {
      const m = /^\/v2\/(.+)\/manifests/.exec(req.url!);
      const want = m ? `Bearer T-repository:${m[1]}:pull` : undefined;
      if (!m || req.headers.authorization !== want) {
        return res.writeHead(401, { "www-authenticate": `Bearer realm="http://${auth}/token",service="svc"` }).end();
      }
      res.end("ok");
    });
    const r = new Registry({ name: host, host, insecure: true });
    for (const repo of ["a", "a", "b/c", "a"]) expect(await (await r.get(repo, "manifests/1")).text()).toBe("ok");
    expect(tokenCalls).toEqual(["repository:a:pull", "repository:b/c:pull"]);
  });

  // An insecure registry that answers a TLS hello in plain HTTP is spoken to in plain HTTP at
  // once, without the /v2/ ping: the first request's 401 brings the challenge (as containerd
  // learns it), and /v2/ is asked only where its answer matters (login, a 404).
  describe("an insecure plain-HTTP registry", () => {
    const requests = (seen: string[]) => (req: IncomingMessage) =>
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? "-"}`);

    it("gets the manifest without a /v2/ ping; Basic credentials go after the first 401", async () => {
      const seen: string[] = [];
      const log = requests(seen);
      const host = await serve((req, res) => {
        log(req);
        if (req.headers.authorization !== basic) return res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end();
        res.end("ok");
      });
      const r = new Registry({ name: host, host, insecure: true, credentials: creds });
      expect(await (await r.get("a", "manifests/1")).text()).toBe("ok");
      expect(await (await r.get("a", "blobs/sha256:x")).text()).toBe("ok");
      expect(seen).toEqual(["GET /v2/a/manifests/1 -", `GET /v2/a/manifests/1 ${basic}`, `GET /v2/a/blobs/sha256:x ${basic}`]);
    });

    it("a 404 from a server whose /v2/ is no registry's says so; a registry's 404 is 'not found'", async () => {
      const web = await serve((_req, res) => res.writeHead(404).end());
      await expect(new Registry({ name: web, host: web, insecure: true }).get("a", "manifests/1")).rejects.toThrow(
        `${web}: /v2/ answered 404 Not Found: not a registry (distribution API v2)`,
      );
      const reg = await serve((req, res) => (req.url === "/v2/" ? res.end("{}") : res.writeHead(404).end()));
      await expect(new Registry({ name: reg, host: reg, insecure: true }).get("a", "manifests/1")).rejects.toThrow(
        `${reg}/a: not found`,
      );
    });

    it("login still asks /v2/ for the challenge, and checks the credentials there", async () => {
      const seen: string[] = [];
      const log = requests(seen);
      const host = await serve((req, res) => {
        log(req);
        if (req.headers.authorization !== basic) return res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end();
        res.end("{}");
      });
      await new Registry({ name: host, host, insecure: true, credentials: creds }).checkCredentials();
      expect(seen).toEqual(["GET /v2/ -", `GET /v2/ ${basic}`]);
      const wrong = new Registry({ name: host, host, insecure: true, credentials: { username: "u", password: "x" } });
      await expect(wrong.checkCredentials()).rejects.toThrow(`${host}: unauthorized: wrong username or password`);
    });

    // pull starts the probe first and fills its round trip with its own work (src/image/pull.ts)
    it("connect() sends the TLS probe at once; the first get waits for it and probes no more", async () => {
      const seen: string[] = [];
      const probes: string[] = [];
      const host = await serve((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        res.end("ok");
      });
      servers[servers.length - 1].on("clientError", (e: Error & { code?: string }, socket) => {
        probes.push(e.code ?? e.message);
        socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      });
      const r = new Registry({ name: host, host, insecure: true });
      r.connect();
      r.connect(); // a second call joins the first
      for (let i = 0; i < 200 && probes.length === 0; i++) await new Promise((ok) => setTimeout(ok, 5));
      expect(probes).toHaveLength(1); // before any get
      let sent = 0;
      const res = await r.get("a", "manifests/1", {}, "a:1", () => sent++);
      expect(sent).toBe(1); // the request was on the wire before its answer came back
      expect(await res.text()).toBe("ok");
      expect(await (await r.get("a", "blobs/sha256:x")).text()).toBe("ok");
      expect(probes).toHaveLength(1);
      expect(seen).toEqual(["GET /v2/a/manifests/1", "GET /v2/a/blobs/sha256:x"]);
    });

    it("a registry connect() could not reach fails the first get with the usual message", async () => {
      const gone = await serve(() => {});
      await new Promise((r) => servers.pop()!.close(r));
      const usual = `${gone}: registry unreachable: connect ECONNREFUSED ${gone}`;
      await expect(new Registry({ name: gone, host: gone, insecure: true }).get("a", "manifests/1")).rejects.toThrow(usual);
      const r = new Registry({ name: gone, host: gone, insecure: true });
      r.connect();
      await expect(r.get("a", "manifests/1")).rejects.toThrow(usual);
    });
  });
});

describe("netMessage: the useful part of a network error", () => {
  const failed = (cause: object) => ({ message: "request failed", cause });
  it("node's own text when it names the code; the code and the text when not", () => {
    expect(netMessage(failed({ code: "ECONNREFUSED", message: "connect ECONNREFUSED 127.0.0.1:1" }))).toBe(
      "connect ECONNREFUSED 127.0.0.1:1",
    );
    expect(netMessage(failed({ code: "ECONNRESET", message: "socket hang up" }))).toBe("ECONNRESET (socket hang up)");
  });

  it("a name whose addresses all failed (node's AggregateError, no message of its own): each attempt", () => {
    const aggregate = Object.assign(
      new AggregateError([new Error("connect ECONNREFUSED ::1:1"), new Error("connect ECONNREFUSED 127.0.0.1:1")], ""),
      {
        code: "ECONNREFUSED",
      },
    );
    expect(netMessage(failed(aggregate))).toBe("connect ECONNREFUSED ::1:1, connect ECONNREFUSED 127.0.0.1:1");
    expect(netMessage(failed({ code: "ECONNREFUSED", message: "" }))).toBe("ECONNREFUSED");
  });
});

// A pull over HTTPS opens no TLS connection in node: the registry's requests (the /v2/ ping, the
// token, manifests, the config, blobs handed back to node) go through polis-fetch's session mode
// (src/image/native-http.ts, native/fetch/polis-fetch.c). Checked from outside: --debug names the
// transport of every answer ("registry answer … via=polis-fetch"), a `--require` hook lists the
// node modules each node process loaded (node:tls, node:https, the tls_wrap binding: never), and
// the test's servers see the requests (credentials where they belong, keep-alive connections).
// Node's transport still serves a certificate polis-fetch's OpenSSL refuses (a stand-in that drops
// its CA files), and no polis-fetch at all; error texts are node's, byte for byte (the same pull
// with POLIS_FETCH pointing nowhere gives the same line); polis SIGKILLed leaves no child.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import { createServer as createTcp, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostPlatform } from "../../src/image/manifest.js";
import { OciLayout } from "../helpers/oci-layout.js";
import { POLIS_MJS, pidAlive, tempRoot, waitFor } from "../helpers/polis.js";
import { closeServer, selfSignedCert } from "../helpers/registry.js";
import { writeTar } from "../helpers/tarball.js";

const work = mkdtempSync(join(tmpdir(), "polis-https-session-"));
const roots: string[] = [];
const root = () => {
  const r = tempRoot();
  roots.push(r);
  return r;
};
const HOOK = join(__dirname, "..", "helpers", "module-log.cjs");
const FETCH = join(__dirname, "..", "..", "native", "build", "Release", "polis-fetch");
const PASSWORD = "s3cret-pw";
const BASIC = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString("base64")}`;

let cert: { key: string; cert: string };
let layout: OciLayout;
let manifest: { digest: string; mediaType: string };
const blob = (digest: string) => readFileSync(join(layout.dir, "blobs", "sha256", digest.slice(7)));

/** What a test server saw: "<server> <path> <authorization scheme or -> <connection number>". */
const seen: string[] = [];
const servers: (Server | NetServer)[] = [];
let registry = ""; // host:port of the registry (token auth; manifests and blobs redirected to storage)
let tokens = ""; // the token server: another origin
let storage = ""; // where the registry redirects to: another origin, which must not see Authorization
/** "hold": the registry keeps the manifest request unanswered (a pull to kill); "slow": answers it after 300 ms */
let mode: "normal" | "hold" | "slow" = "normal";

function serve(name: string, handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createHttps({ key: readFileSync(cert.key), cert: readFileSync(cert.cert) }, (req, res) => {
    const scheme = req.headers.authorization?.split(" ")[0] ?? "-";
    seen.push(`${name} ${req.url} ${scheme} ${(req.socket as unknown as { n: number }).n}`);
    handle(req, res);
  });
  let connections = 0;
  s.on("secureConnection", (socket) => Object.assign(socket, { n: ++connections }));
  servers.push(s as unknown as Server);
  return new Promise((r) => s.listen(0, "127.0.0.1", () => r(`127.0.0.1:${(s.address() as { port: number }).port}`)));
}

beforeAll(async () => {
  cert = selfSignedCert(work);
  layout = new OciLayout(join(work, "oci"));
  const l = layout.layer(writeTar(join(work, "t.tar"), [{ name: "hello", data: "hi" }]), "gzip");
  manifest = layout.image({ layers: [l], config: { Cmd: ["true"] }, arch: hostPlatform().architecture, tag: "1" });

  tokens = await serve("tokens", (req, res) => {
    if (req.headers.authorization !== BASIC) return res.writeHead(401).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: "tok1", expires_in: 300 }));
  });
  storage = await serve("storage", (req, res) => {
    const digest = /^\/(?:manifests|blobs)\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "")?.[1];
    if (!digest) return res.writeHead(404).end();
    const data = blob(digest);
    if (req.url?.startsWith("/manifests/")) {
      // chunked: written in two pieces, no Content-Length
      res.writeHead(200, { "content-type": manifest.mediaType });
      res.write(data.subarray(0, 10));
      return setTimeout(() => res.end(data.subarray(10)), 10);
    }
    res.writeHead(200, { "content-length": data.length }).end(data);
  });
  registry = await serve("registry", (req, res) => {
    if (req.headers.authorization !== "Bearer tok1") {
      return res
        .writeHead(401, { "www-authenticate": `Bearer realm="https://${tokens}/token",service="test"` })
        .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    }
    if (req.url === "/v2/") return res.end("{}");
    if (req.url === "/v2/s/img/manifests/huge") {
      // over pull's 4 MiB limit for a manifest, chunked (no length known up front)
      res.writeHead(200, { "content-type": manifest.mediaType });
      for (let i = 0; i < 80; i++) res.write(Buffer.alloc(64 << 10, 32));
      return res.end();
    }
    if (req.url === "/v2/s/img/manifests/nope") {
      const notFound = () => res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
      return mode === "slow" ? setTimeout(notFound, 300) : notFound();
    }
    if (req.url === "/v2/s/img/manifests/1") {
      if (mode === "hold") return; // never answered
      return res.writeHead(307, { location: `https://${storage}/manifests/${manifest.digest}` }).end();
    }
    const digest = /^\/v2\/s\/img\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "")?.[1];
    if (!digest) return res.writeHead(404).end('{"errors":[{"code":"NOT_FOUND"}]}');
    res.writeHead(307, { location: `https://${storage}/blobs/${digest}` }).end();
  });
}, 60_000);

afterAll(async () => {
  for (const s of servers) {
    if ("closeAllConnections" in s) await closeServer(s as Server);
    else await new Promise((r) => s.close(r));
  }
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** the node modules each node process of the pull loaded */
  modules: string[][];
}

/** `node dist/polis.mjs --root R ARGS` without blocking the test's servers, with the module hook. */
function polisRun(
  r: string,
  args: string[],
  env: Record<string, string> = {},
  started?: (pid: number) => void,
  input?: string,
  /** a command and its args in front of node (e.g. a mount namespace of its own) */
  prefix: string[] = [],
): Promise<Run> {
  const log = join(mkdtempSync(join(work, "modules-")), "m");
  const e: Record<string, string | undefined> = { ...process.env, POLIS_TEST_MODULE_LOG: log, ...env };
  delete e.NODE_EXTRA_CA_CERTS;
  const argv = [...prefix, process.execPath, "--require", HOOK, POLIS_MJS, "--root", r, ...args];
  const child = spawn(argv[0], argv.slice(1), {
    env: e,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  child.stdin?.end(input);
  if (child.pid) started?.(child.pid);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  return new Promise((resolve) =>
    child.once("close", (code) => {
      const dir = join(log, "..");
      const modules = readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8").split("\n"));
      resolve({ code, stdout, stderr, modules });
    }),
  );
}

const configFor = (host: string) => {
  const file = join(mkdtempSync(join(work, "config-")), "config.yaml");
  writeFileSync(file, `registries:\n  "${host}":\n    ca: ${cert.cert}\n`);
  return file;
};
const pullArgs = (extra: string[] = [], tag = "1") => [
  "--debug",
  "--config",
  configFor(registry),
  "pull",
  "-q",
  "--creds",
  `alice:${PASSWORD}`,
  ...extra,
  `${registry}/s/img:${tag}`,
];
/** Each registry request of a --debug log: "<url> <status> <transport>". */
const answers = (stderr: string) =>
  [...stderr.matchAll(/msg="registry answer" status=(\d+) url="([^"]+)" via=(\S+)/g)].map((m) => `${m[2]} ${m[1]} ${m[3]}`);
/** polis-fetch children of `parent` (any mode) */
const children = (parent: number): number[] =>
  readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, "utf8");
        return stat.includes("(polis-fetch)") && Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent;
      } catch {
        return false;
      }
    })
    .map(Number);
const TLS_MODULES = /^(NativeModule (tls|https|_tls_wrap)|Internal Binding tls_wrap)$/;
const nodeTls = (r: Run) => r.modules.flat().filter((m) => TLS_MODULES.test(m));

describe("a pull over HTTPS: every request through polis-fetch's session", () => {
  it("token auth on another origin, redirects to a third (chunked manifest), credentials only where they belong; node loads no TLS", async () => {
    seen.length = 0;
    const got = await polisRun(root(), pullArgs());
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const config = JSON.parse(blob(manifest.digest).toString()).config.digest;
    const r = `https://${registry}/v2`;
    const s = `https://${storage}`;
    expect(answers(got.stderr)).toEqual([
      `${r}/ 401 polis-fetch`, // the ping: the challenge
      `https://${tokens}/token 200 polis-fetch`,
      `${r}/s/img/manifests/1 307 polis-fetch`,
      `${s}/manifests/${manifest.digest} 200 polis-fetch`,
      `${r}/s/img/blobs/${config} 307 polis-fetch`,
      `${s}/blobs/${config} 200 polis-fetch`,
      // the layer: polis-fetch's one-shot download got the 307 and handed it to node's loop
      expect.stringMatching(new RegExp(`^${r}/s/img/blobs/sha256:[0-9a-f]{64} 307 polis-fetch$`)),
      expect.stringMatching(new RegExp(`^${s}/blobs/sha256:[0-9a-f]{64} 200 polis-fetch$`)),
    ]);
    expect(got.stderr).toMatch(/blob download handed to node.* answer="status 307"/);
    expect(nodeTls(got)).toEqual([]);
    expect(got.modules.length).toBeGreaterThan(0); // the hook ran
    // the password to the token server only, the token to the registry only, nothing to storage
    const auth = (server: string) => [...new Set(seen.filter((l) => l.startsWith(`${server} `)).map((l) => l.split(" ")[2]))];
    expect(auth("tokens")).toEqual(["Basic"]);
    expect(auth("registry")).toEqual(["-", "Bearer"]); // (the blob's one-shot download included)
    expect(seen.filter((l) => l.startsWith("registry ") && l.includes(" - ")).map((l) => l.split(" ")[1])).toEqual(["/v2/"]);
    expect(auth("storage")).toEqual(["-"]);
    // kept alive: fewer connections than requests (the registry's 5 requests: the ping, the
    // manifest, the config, the layer by polis-fetch's own download, then by node's loop through a
    // session, a second one when the config's was still busy; storage's 3 alike)
    const connections = (server: string) => {
      const mine = seen.filter((l) => l.startsWith(`${server} `));
      return [mine.length, new Set(mine.map((l) => l.split(" ")[3])).size];
    };
    expect(connections("registry")).toEqual([5, expect.toBeOneOf([2, 3])]);
    expect(connections("storage")).toEqual([3, expect.toBeOneOf([1, 2])]);
    expect(got.stderr).not.toContain(PASSWORD);
    expect(got.stderr).not.toContain("tok1");
  }, 30_000);

  it("--tls-verify=false: the same, nothing verified, node loads no TLS", async () => {
    const got = await polisRun(root(), pullArgs(["--tls-verify=false"]));
    expect(got.code, got.stderr).toBe(0);
    expect(answers(got.stderr).length).toBeGreaterThanOrEqual(8);
    for (const a of answers(got.stderr)) expect(a).toMatch(/^https:\/\/\S+ \d+ polis-fetch$/);
    expect(nodeTls(got)).toEqual([]);
  }, 30_000);

  it("a certificate polis-fetch's OpenSSL refuses: node's transport serves that registry, and node's trust decides", async () => {
    // the stand-in for a CA that node trusts and /etc/ssl/certs does not: a polis-fetch that
    // drops its --ca-file arguments (the one-shot downloads would be refused alike)
    const wrapper = join(work, "polis-fetch-no-ca");
    writeFileSync(
      wrapper,
      `#!/bin/bash\nargs=()\nwhile [ $# -gt 0 ]; do\n  if [ "$1" = --ca-file ]; then shift 2; continue; fi\n  args+=("$1"); shift\ndone\nexec ${FETCH} "\${args[@]}"\n`,
    );
    chmodSync(wrapper, 0o755);
    const got = await polisRun(root(), pullArgs(), { POLIS_FETCH: wrapper });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stderr).toMatch(/msg="registry request handed to node" answer="tls self-signed certificate"/);
    const all = answers(got.stderr);
    expect(all[0]).toBe(`https://${registry}/v2/ 401 node`);
    for (const a of all) expect(a).toMatch(/ node$/);
    expect(nodeTls(got)).toEqual(expect.arrayContaining(["NativeModule tls", "NativeModule https"]));
    // no blob tried polis-fetch: its certificate check would fail alike
    expect(got.stderr).not.toMatch(/blob downloaded by polis-fetch|blob download handed to node/);
  }, 30_000);

  it("no polis-fetch (POLIS_FETCH pointing nowhere): node's transport, the pull as before", async () => {
    const got = await polisRun(root(), pullArgs(), { POLIS_FETCH: join(work, "nonexistent") });
    expect(got.code, got.stderr).toBe(0);
    for (const a of answers(got.stderr)) expect(a).toMatch(/ node$/);
    expect(nodeTls(got).length).toBeGreaterThan(0);
  }, 30_000);
});

describe("polis login over HTTPS", () => {
  it("checks the password with the token server through polis-fetch's session; a wrong one: node's text", async () => {
    const home = mkdtempSync(join(work, "home-"));
    const env = {
      HOME: home,
      XDG_CONFIG_HOME: "",
      XDG_RUNTIME_DIR: "",
      REGISTRY_AUTH_FILE: "",
      DOCKER_CONFIG: "",
      POLIS_AUTH_FILE: "",
    };
    const login = (password: string, more: Record<string, string> = {}) =>
      polisRun(
        root(),
        ["--debug", "--config", configFor(registry), "login", "-u", "alice", "--password-stdin", registry],
        { ...env, ...more },
        undefined,
        `${password}\n`,
      );
    const ok = await login(PASSWORD);
    expect(ok.code, ok.stderr).toBe(0);
    expect(answers(ok.stderr)).toEqual([`https://${registry}/v2/ 401 polis-fetch`, `https://${tokens}/token 200 polis-fetch`]);
    expect(nodeTls(ok)).toEqual([]);
    const strip = (s: string) => s.replace(/time="[^"]*" /g, "").replace(/.*level=debug.*\n/g, "");
    const wrong = await login("nope");
    expect(wrong.code).toBe(1);
    expect(strip(wrong.stderr)).toMatch(/unauthorized: wrong username or password"\n$/);
    expect(strip(wrong.stderr)).toBe(strip((await login("nope", { POLIS_FETCH: join(work, "nonexistent") })).stderr));
  }, 30_000);
});

describe("errors over HTTPS: node's texts, whichever transport met them", () => {
  /** The error line of `pull HOST/x:1` (its time stripped), through the session and through node alone. */
  const both = async (host: string, global: string[] = [], prefix: string[] = []) => {
    const args = [...global, "pull", "-q", `${host}/x:1`];
    const strip = (s: string) => s.replace(/time="[^"]*" /g, "");
    const session = await polisRun(root(), args, {}, undefined, undefined, prefix);
    const node = await polisRun(root(), args, { POLIS_FETCH: join(work, "nonexistent") }, undefined, undefined, prefix);
    expect(session.code).toBe(1);
    expect(strip(session.stderr)).toBe(strip(node.stderr));
    return strip(session.stderr);
  };

  it("a refused connection", async () => {
    const s = createTcp();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(s.address() as { port: number }).port}`;
    await new Promise((r) => s.close(r));
    expect(await both(host)).toMatch(
      new RegExp(`registry unreachable: connect ECONNREFUSED ${host} \\(for a plain-HTTP registry use --tls-verify=false`),
    );
  }, 30_000);

  it("a connection closed at the TLS hello (retried, then given up)", async () => {
    const s = createTcp((socket) => socket.once("data", () => socket.end()));
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(s.address() as { port: number }).port}`;
    expect(await both(host)).toMatch(/registry unreachable: ECONNRESET \(Client network socket disconnected before secure TLS/);
  }, 30_000);

  it("a connection closed after the request (socket hang up)", async () => {
    const host = await serve("hangup", (req) => req.socket.destroy());
    expect(await both(host, ["--config", configFor(host)])).toMatch(/registry unreachable: ECONNRESET \(socket hang up\)/);
  }, 30_000);

  it("a manifest over the size limit: the same error; the child reading it is gone", async () => {
    let pid = 0;
    const sessions = new Set<number>();
    const args = pullArgs([], "huge").filter((a) => a !== "--debug");
    const strip = (s: string) => s.replace(/time="[^"]*" /g, "");
    const watch = setInterval(() => {
      for (const c of children(pid)) sessions.add(c);
    }, 5);
    const got = await polisRun(root(), args, {}, (p) => (pid = p));
    clearInterval(watch);
    expect(got.code).toBe(1);
    expect(strip(got.stderr)).toMatch(/s\/img:huge: manifest larger than 4194304 bytes"\n$/);
    const node = await polisRun(root(), args, { POLIS_FETCH: join(work, "nonexistent") });
    expect(strip(got.stderr)).toBe(strip(node.stderr));
    expect(sessions.size).toBeGreaterThan(0);
    await waitFor(() => [...sessions].every((p) => !(existsSync(`/proc/${p}`) && pidAlive(p))), 5000);
  }, 30_000);

  // node tries each address of a name (happy eyeballs) and, all refused, reports each attempt
  const loopback6 =
    existsSync("/proc/net/if_inet6") && readFileSync("/proc/net/if_inet6", "utf8").includes(`${"0".repeat(31)}1 `);
  it.skipIf(!loopback6)(
    "a name with two addresses, both refused (a private /etc/hosts in a mount namespace)",
    async () => {
      const hosts = join(work, "hosts");
      writeFileSync(hosts, "127.0.0.1 localhost\n::1 twoaddr.test\n127.0.0.1 twoaddr.test\n");
      const s = createTcp();
      await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
      const port = (s.address() as { port: number }).port;
      await new Promise((r) => s.close(r));
      const ns = ["unshare", "-m", "sh", "-c", `mount --bind ${hosts} /etc/hosts && exec "$@"`, "sh"];
      expect(await both(`twoaddr.test:${port}`, [], ns)).toContain(
        `registry unreachable: connect ECONNREFUSED ::1:${port}, connect ECONNREFUSED 127.0.0.1:${port} (for a plain-HTTP`,
      );
    },
    30_000,
  );

  it("a name that does not resolve", async () => {
    expect(await both("nohost.invalid")).toMatch(
      /nohost\.invalid: registry unreachable: getaddrinfo (ENOTFOUND|EAI_AGAIN) nohost\.invalid/,
    );
  }, 60_000);

  it("a certificate nobody trusts", async () => {
    expect(await both(registry)).toMatch(/registry unreachable: DEPTH_ZERO_SELF_SIGNED_CERT \(self-signed certificate\)/);
  }, 30_000);
});

describe("nothing left behind", () => {
  it("polis SIGKILLed while its session waits for an answer: the session goes too; its argv holds no credential", async () => {
    mode = "hold";
    let pid = 0;
    const run = polisRun(root(), pullArgs(), {}, (p) => (pid = p));
    try {
      let session: number[] = [];
      await waitFor(
        () => (session = children(pid)).length > 0 && seen.some((l) => l.startsWith("registry /v2/s/img/manifests/1 Bearer")),
      );
      const argv = readFileSync(`/proc/${session[0]}/cmdline`, "utf8").split("\0");
      expect(argv).toContain("--session");
      expect(argv.join(" ")).not.toMatch(/alice|Basic|Bearer|tok1/);
      process.kill(pid, "SIGKILL");
      await run;
      await waitFor(() => session.every((p) => !pidAlive(p)), 5000);
    } finally {
      mode = "normal";
    }
  }, 30_000);

  it("a pull that fails leaves no polis-fetch behind", async () => {
    mode = "slow"; // the 404 comes after 300 ms: the session is seen meanwhile
    let pid = 0;
    const sessions = new Set<number>();
    try {
      const run = polisRun(root(), pullArgs([], "nope"), {}, (p) => (pid = p));
      const watch = setInterval(() => {
        for (const c of children(pid)) sessions.add(c);
      }, 10);
      const got = await run;
      clearInterval(watch);
      expect(got.code).toBe(1);
      expect(got.stderr).toMatch(/s\/img:nope: not found \(manifest unknown/);
    } finally {
      mode = "normal";
    }
    expect(sessions.size).toBeGreaterThan(0);
    await waitFor(() => [...sessions].every((p) => !(existsSync(`/proc/${p}`) && pidAlive(p))), 5000);
  }, 30_000);
});

describe("polis-fetch --session on its own", () => {
  /** polis-fetch --session ARGS fed `input` (then its stdin ends): its stdout and exit code. */
  const session = (args: string[], input: string) =>
    new Promise<{ out: string; code: number | null; stderr: string }>((resolve) => {
      const child = spawn(FETCH, ["--session", ...args], { stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      let stderr = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (stderr += d));
      // a usage error exits before reading stdin: EPIPE on it is that exit, which `code` shows
      child.stdin.on("error", () => {});
      child.stdin.end(input);
      child.once("close", (code) => resolve({ out, code, stderr }));
    });

  it("no byte for --timeout-ms: node's ETIMEDOUT text, and the next request is served", async () => {
    const stalled = await serve("stalled", () => {}); // never answers
    const got = await session(
      ["--insecure", "--timeout-ms", "300"],
      `GET https://${stalled}/v2/\n\nGET https://${storage}/blobs/${manifest.digest}\n\n`,
    );
    expect(got.code).toBe(0);
    expect(got.out).toMatch(/^error net ETIMEDOUT no answer for 300 ms\nhead \d+\nHTTP\/1\.1 200 OK\r\n/);
    expect(got.out).toMatch(/body 0\n$/);
  }, 30_000);

  it("an answer that says Connection: close, or HTTP/1.0: a new connection for the next request", async () => {
    const host = await serve("closing", (req, res) => {
      if (req.url === "/10") return req.socket.end("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
      res.writeHead(200, { connection: "close" }).end("ok");
    });
    seen.length = 0;
    const input = ["/a", "/b", "/10", "/c"].map((p) => `GET https://${host}${p}\n\n`).join("");
    const got = await session(["--ca-file", cert.cert], input);
    expect(got.out.match(/body 0\n/g)).toHaveLength(4);
    expect(seen.map((l) => l.split(" ")[3])).toEqual(["1", "2", "3", "4"]);
  }, 30_000);

  it("stdin's end ends it; its usage is checked", async () => {
    expect(await session([], "")).toEqual({ out: "", code: 0, stderr: "" });
    const bad = await session(["--url", "https://x/"], "");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("polis-fetch: --session takes its URLs and headers on stdin\n");
    const notGet = await session([], "POST https://x/\n\n");
    expect(notGet.code).toBe(2);
    expect(notGet.stderr).toMatch(/does not start with "GET <url>"/);
  });
});

// A real registry for the image tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1
// with a temp storage directory, optionally behind htpasswd Basic auth or a token server (the
// small Bearer fixture below, signing JWTs with a throw-away key). Stopped by pid.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestRegistry {
  host: string; // 127.0.0.1:PORT
  dir: string;
  /** blob files in the registry's storage, by digest */
  blobFile(digest: string): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** An in-test HTTP server (edge cases a real registry will not play) listening on 127.0.0.1: "127.0.0.1:PORT". */
export async function listenLocal(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Stops an in-test server, its open connections too (a held response would keep close() waiting). */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

export interface RegistryAuth {
  htpasswd?: { user: string; password: string };
  token?: TokenServer;
  /** serve HTTPS with this key and certificate */
  tls?: { key: string; cert: string };
}

export async function startRegistry(auth: RegistryAuth = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "polis-registry-"));
  const port = await freePort();
  let authYaml = "";
  if (auth.htpasswd) {
    execFileSync("htpasswd", ["-B", "-b", "-c", join(dir, "htpasswd"), auth.htpasswd.user, auth.htpasswd.password], {
      stdio: "ignore",
    });
    authYaml = `auth: {htpasswd: {realm: polis-test, path: ${join(dir, "htpasswd")}}}`;
  } else if (auth.token) {
    const t = auth.token;
    authYaml = `auth: {token: {realm: "${t.realm}", service: ${t.service}, issuer: ${t.issuer}, rootcertbundle: ${t.certFile}}}`;
  }
  writeFileSync(
    join(dir, "config.yml"),
    [
      "version: 0.1",
      "log: {level: error, accesslog: {disabled: true}}",
      `storage: {filesystem: {rootdirectory: ${join(dir, "data")}}, delete: {enabled: true}}`,
      `http: {addr: "127.0.0.1:${port}", secret: ${randomBytes(8).toString("hex")}${auth.tls ? `, tls: {certificate: ${auth.tls.cert}, key: ${auth.tls.key}}` : ""}}`,
      authYaml,
    ].join("\n"),
  );
  const child: ChildProcess = spawn("docker-registry", ["serve", join(dir, "config.yml")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://${host}/v2/`); // an HTTPS server answers plain HTTP with a 400: up too
      break;
    } catch {
      if (i > 100 || child.exitCode !== null) throw new Error(`docker-registry did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    host,
    dir,
    blobFile: (digest) =>
      join(dir, "data", "docker", "registry", "v2", "blobs", "sha256", digest.slice(7, 9), digest.slice(7), "data"),
    async stop() {
      if (child.exitCode === null && child.pid) {
        process.kill(child.pid, "SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TokenRequest {
  scope: string[];
  service: string | null;
  user: string | null;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** what was asked so far (read from the server's request log) */
  requests(): TokenRequest[];
  clear(): void;
  stop(): Promise<void>;
}

// The server runs in its own node process: the tests call polis and skopeo synchronously, which
// would block a server living in the test's own event loop.
const SERVER = String.raw`
const { createServer } = require("node:http");
const { createSign, randomBytes } = require("node:crypto");
const { appendFileSync, readFileSync } = require("node:fs");
const [keyFile, certFile, log, usersJson, anonymous, issuer, service] = process.argv.slice(1);
const users = JSON.parse(usersJson);
const keyPem = readFileSync(keyFile, "utf8");
const certDer = Buffer.from(readFileSync(certFile, "utf8").replace(/-----[^-]+-----|\s/g, ""), "base64").toString("base64");
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const record = (r) => appendFileSync(log, JSON.stringify(r) + "\n");
const server = createServer((req, res) => {
  const url = new URL(req.url || "/", "http://x");
  const scope = url.searchParams.getAll("scope");
  const svc = url.searchParams.get("service");
  let user = null;
  const h = req.headers.authorization;
  if (h && h.startsWith("Basic ")) {
    const [u, ...p] = Buffer.from(h.slice(6), "base64").toString().split(":");
    if (users[u] !== p.join(":")) {
      record({ scope, service: svc, user: u + " (rejected)" });
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ details: "bad credentials" }));
      return;
    }
    user = u;
  }
  record({ scope, service: svc, user });
  if (!user && anonymous !== "true") {
    res.writeHead(401).end();
    return;
  }
  const access = scope.map((s) => {
    const [type, ...rest] = s.split(":");
    const actions = rest.pop().split(",");
    return { type, name: rest.join(":"), actions: user ? actions : actions.filter((a) => a === "pull") };
  });
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: issuer, sub: user || "", aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access };
  const body = b64({ typ: "JWT", alg: "RS256", x5c: [certDer] }) + "." + b64(claims);
  const sig = createSign("RSA-SHA256").update(body).sign(keyPem).toString("base64url");
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: body + "." + sig, expires_in: 300 }));
});
server.listen(0, "127.0.0.1", () => process.stdout.write(String(server.address().port) + "\n"));
`;

/** The distribution spec's token endpoint: Basic credentials (or anonymous pull) in, a signed JWT out. */
export async function startTokenServer(users: Record<string, string>, anonymousPull: boolean): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), "polis-token-"));
  // the key that signs the tokens; the registry trusts its certificate (rootcertbundle)
  const { key, cert: certFile } = selfSignedCert(dir);
  const log = join(dir, "requests.jsonl");
  writeFileSync(log, "");
  const issuer = "polis-test-issuer";
  const service = "polis-test-registry";
  const child = spawn(
    process.execPath,
    ["-e", SERVER, key, certFile, log, JSON.stringify(users), String(anonymousPull), issuer, service],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (d) => resolve(Number(String(d).trim())));
    child.once("exit", (c) => reject(new Error(`token server exited ${c}`)));
  });
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests: () =>
      readFileSync(log, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as TokenRequest),
    clear: () => writeFileSync(log, ""),
    async stop() {
      if (child.exitCode === null && child.pid) {
        process.kill(child.pid, "SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A self-signed certificate for 127.0.0.1 (key and cert PEM files in `dir`). */
export function selfSignedCert(dir: string): { key: string; cert: string } {
  const key = join(dir, "tls.key");
  const cert = join(dir, "tls.crt");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  return { key, cert };
}

// The registry client's transport: node:http and node:https requests, answered with a small
// Response-like object (status, headers.get, body as chunks, text, json).
//
// Not fetch: Node 20's fetch compiles its bundled undici on the first call, ~30 ms of CPU, and
// its TLS needs undici's own Agent for CA files or no verification (~45 ms more to load). A
// whole 1 MB pull takes under 100 ms, so that was a third of it (README "Images", speed).
//
// TLS follows the registry's settings: Node's CA store plus the registry's CA files and the file
// named by POLIS_EXTRA_CA_CERTS (where the native launcher moves NODE_EXTRA_CA_CERTS, which
// would cost every node start 45-90 ms to parse), read only when a verified TLS connection is
// opened; or no verification at all (--tls-verify=false, an insecure registry), which needs no
// CA store (~20 ms less to set up).
import type { Agent, IncomingMessage } from "node:http";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { SecureContext } from "node:tls";
import { log } from "../log.js";

/** The environment variable the native launcher moves NODE_EXTRA_CA_CERTS to for registry commands. */
export const EXTRA_CA_ENV = "POLIS_EXTRA_CA_CERTS";

/** No byte for this long on a connection (connect, headers, body): it is given up (undici's default). */
export const IDLE_TIMEOUT_MS = 300_000;
/** Some CDNs in front of registries refuse requests without one (fetch sent "node"). */
export const USER_AGENT = "polis";
/** Answers with a longer body than this are not drained for reuse when dropped: the socket is closed. */
const DRAIN_LIMIT = 1 << 20;

export interface TlsSettings {
  /** extra CA certificates (PEM) trusted beside Node's own */
  ca: string[];
  /** the files `ca` was read from (the config's), for polis-fetch to read itself */
  caFiles?: string[];
  /** a PEM file of more CA certificates (POLIS_EXTRA_CA_CERTS), read when a verified TLS connection is opened */
  caFile?: string;
  /** false: any certificate is accepted (--tls-verify=false, an insecure registry) */
  verify: boolean;
}

/** A failure on the wire (connect, TLS, reset, timeout), shaped as fetch's: the system error is the cause. */
export class NetworkError extends TypeError {
  declare readonly cause: Error & { code?: string };
  constructor(cause: Error & { code?: string }) {
    super(`request failed: ${cause.message}`, { cause });
  }
}

/** An answer from a registry transport: node's (HttpResponse) or polis-fetch's (native-http.ts). */
export interface RegistryResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  /** The body as it arrives; a connection lost on the way throws a NetworkError. */
  readonly body: AsyncIterable<Buffer>;
  /** which transport served it (--debug) */
  readonly via: "node" | "polis-fetch";
  text(): Promise<string>;
  json(): Promise<unknown>;
  /** Drops the rest of the body (the connection is reused when that is cheap). */
  cancel(): void;
}

/** A whole body as UTF-8 text (either transport's answer). */
export async function bodyText(body: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  return Buffer.concat(parts).toString("utf8");
}

export class HttpResponse implements RegistryResponse {
  readonly via = "node";
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  /** The body as it arrives; a connection lost on the way throws a NetworkError. */
  readonly body: AsyncIterable<Buffer>;

  constructor(private readonly msg: IncomingMessage) {
    this.status = msg.statusCode ?? 0;
    this.statusText = msg.statusMessage ?? "";
    this.ok = this.status >= 200 && this.status < 300;
    this.headers = {
      get: (name) => {
        const v = msg.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
      },
    };
    this.body = chunks(msg);
  }

  text(): Promise<string> {
    return bodyText(this.body);
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  /** Drops the rest of the body: a short one is read away so that the connection is reused. */
  cancel(): void {
    if (this.msg.complete || this.msg.destroyed) return;
    const length = Number(this.msg.headers["content-length"]);
    if (Number.isFinite(length) && length <= DRAIN_LIMIT) {
      this.msg.on("error", () => {});
      this.msg.resume();
    } else {
      this.msg.destroy();
    }
  }
}

async function* chunks(msg: IncomingMessage): AsyncGenerator<Buffer> {
  try {
    for await (const c of msg) yield c as Buffer;
  } catch (e) {
    throw e instanceof NetworkError ? e : new NetworkError(e as Error);
  }
  if (!msg.complete) {
    throw new NetworkError(Object.assign(new Error("the connection closed before the whole body"), { code: "ECONNRESET" }));
  }
}

/**
 * How long answersPlainHttp waits for the connection and the answer (two round trips): past
 * it, the HTTPS attempt goes ahead as it would have (a dropped port 443 hangs it too).
 */
const SNIFF_TIMEOUT_MS = 3000;

/**
 * A TLS ClientHello (TLS 1.3 and 1.2 AES-GCM suites, no extension but one empty GREASE
 * extension, RFC 8701, whose type is the bytes "\n\n"). A TLS server answers it with a
 * handshake or an alert record; a plain HTTP server reads it, up to that newline, as a request
 * line it rejects: "HTTP/1.1 400 Bad Request". Its random is zeros: the handshake never goes on.
 */
function clientHello(): Buffer {
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const suites = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030];
  const hello = Buffer.concat([
    Buffer.from([3, 3]), // client_version TLS 1.2
    Buffer.alloc(32), // random
    Buffer.from([0]), // no session id
    u16(suites.length * 2),
    ...suites.map(u16),
    Buffer.from([1, 0]), // compression methods: null
    u16(4), // extensions: one GREASE, empty
    u16(0x0a0a),
    u16(0),
  ]);
  const handshake = Buffer.concat([Buffer.from([1, 0]), u16(hello.length), hello]);
  return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(handshake.length), handshake]);
}

/**
 * Whether the server at `hostPort` (an HTTPS URL's host: port 443 unless given) answers a TLS
 * hello as a plain HTTP server does: then an HTTPS request there is bound to fail, and the
 * registry client skips trying it, which would load node's TLS stack (~8 ms of a 100 ms pull)
 * only to fail. False for anything else: a TLS answer, a refused or dropped connection, silence.
 */
export function answersPlainHttp(hostPort: string, timeoutMs = SNIFF_TIMEOUT_MS, sent?: () => void): Promise<boolean> {
  const u = new URL(`https://${hostPort}`);
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(u.port || 443);
  const { connect } = load("node:net") as typeof import("node:net");
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got.subarray(0, 5).toString("latin1") === "HTTP/");
    };
    const timer = setTimeout(done, timeoutMs);
    const socket = connect({ host, port }, () => socket.write(clientHello(), () => sent?.()));
    socket.on("data", (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 5) done();
    });
    socket.on("error", done);
    socket.on("close", done);
  });
}

type HttpModule = typeof import("node:http");
const load = createRequire(import.meta.url);

/** GET requests for one registry client, over kept-alive connections; TLS as `tls` says. */
export class HttpClient {
  private plain: Agent | undefined;
  private secure: Agent | undefined;

  constructor(private readonly tls: TlsSettings) {}

  /**
   * GET `url`; `sent` is called once the request is on the wire (its bytes handed to the
   * kernel), so that the caller can do other work while the server answers.
   */
  get(url: string, headers: Record<string, string>, sent?: () => void): Promise<HttpResponse> {
    const u = new URL(url);
    const secure = u.protocol === "https:";
    const mod = (secure ? load("node:https") : load("node:http")) as HttpModule;
    const agent = secure ? (this.secure ??= this.secureAgent()) : (this.plain ??= new mod.Agent({ keepAlive: true }));
    return new Promise((resolve, reject) => {
      const req = mod.request(u, { headers: { "user-agent": USER_AGENT, ...headers }, agent, timeout: IDLE_TIMEOUT_MS }, (res) =>
        resolve(new HttpResponse(res)),
      );
      req.on("error", (e) => reject(new NetworkError(e)));
      req.on("timeout", () =>
        req.destroy(Object.assign(new Error(`no answer for ${IDLE_TIMEOUT_MS / 1000} s`), { code: "ETIMEDOUT" })),
      );
      if (sent) req.once("finish", sent);
      req.end();
    });
  }

  /** Loads node:http now (~2 ms), e.g. while another round trip is on its way; https loads it too. */
  prepare(): void {
    load("node:http");
  }

  private secureAgent(): Agent {
    const https = load("node:https") as typeof import("node:https");
    if (!this.tls.verify) {
      // any certificate goes, so no CA store at all: an empty `ca` spares loading Node's (~20 ms)
      return new https.Agent({ keepAlive: true, rejectUnauthorized: false, ca: [] });
    }
    return new https.Agent({ keepAlive: true, secureContext: verifiedContext(this.tls) });
  }
}

/** Node's CA store plus the extra CAs; undefined (Node's default context) when there are none. */
function verifiedContext(tls: TlsSettings): SecureContext | undefined {
  if (tls.ca.length === 0 && !tls.caFile) return undefined;
  const extra = [...tls.ca];
  // A context of our own replaces Node's default one, which holds NODE_EXTRA_CA_CERTS when node
  // was started with it (dist/polis.mjs run directly): that file is added back.
  const nodeFile = process.env.NODE_EXTRA_CA_CERTS;
  for (const file of new Set([tls.caFile, nodeFile])) {
    if (!file) continue;
    try {
      extra.push(readFileSync(file, "utf8"));
    } catch (e) {
      // as node does with a NODE_EXTRA_CA_CERTS it cannot read: a warning, then the other CAs
      if (file === tls.caFile) log.warn(`ignoring extra CA certificates from ${file} (${EXTRA_CA_ENV}): ${(e as Error).message}`);
    }
  }
  // Node's default store plus the extra CAs, each parsed once: `ca: [...rootCertificates, ...extra]`
  // parsed the ~140 roots twice (their copy in the context's own store, then the given PEMs) and
  // held them as JS strings, ~1 MiB of a verified pull's peak RSS (issue 13). addCACert on the
  // native context (node 20 has no public call for it; `setDefaultCACertificates` is node 22's)
  // copies the root store once and adds to it.
  const { createSecureContext } = load("node:tls") as typeof import("node:tls");
  const context = createSecureContext();
  for (const pem of extra) (context as unknown as { context: { addCACert(pem: string): void } }).context.addCACert(pem);
  return context;
}

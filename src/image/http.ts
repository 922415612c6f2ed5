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
const IDLE_TIMEOUT_MS = 300_000;
/** Some CDNs in front of registries refuse requests without one (fetch sent "node"). */
const USER_AGENT = "polis";
/** Answers with a longer body than this are not drained for reuse when dropped: the socket is closed. */
const DRAIN_LIMIT = 1 << 20;

export interface TlsSettings {
  /** extra CA certificates (PEM) trusted beside Node's own */
  ca: string[];
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

export class HttpResponse {
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

  async text(): Promise<string> {
    const parts: Buffer[] = [];
    for await (const c of this.body) parts.push(c);
    return Buffer.concat(parts).toString("utf8");
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

type HttpModule = typeof import("node:http");
const load = createRequire(import.meta.url);

/** GET requests for one registry client, over kept-alive connections; TLS as `tls` says. */
export class HttpClient {
  private plain: Agent | undefined;
  private secure: Agent | undefined;

  constructor(private readonly tls: TlsSettings) {}

  get(url: string, headers: Record<string, string>): Promise<HttpResponse> {
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
      req.end();
    });
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
  const { createSecureContext, rootCertificates } = load("node:tls") as typeof import("node:tls");
  return createSecureContext({ ca: [...rootCertificates, ...extra] });
}

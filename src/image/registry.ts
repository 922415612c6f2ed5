// A client for one registry (distribution API v2): the /v2/ ping where auth challenges start,
// Bearer tokens per repository scope (reused until they expire) or Basic auth, redirects followed
// by hand so that Authorization never goes to another host, and retries with backoff on 5xx and
// connection resets. HTTPS requests go through polis-fetch sessions (native-http.ts: node's TLS
// stays unloaded), plain HTTP and what those cannot serve through node:http(s) (http.ts says why
// not fetch).
import { PolisError } from "../errors.js";
import { debugEnabled, log } from "../log.js";
import { basicAuth, parseChallenges, tokenUrl, type Challenge } from "./auth.js";
import type { Credentials } from "./credentials.js";
import { answersPlainHttp, HttpClient, type RegistryResponse, type TlsSettings, USER_AGENT } from "./http.js";
import { NativeHttp } from "./native-http.js";

export interface RegistryOptions {
  /** registry name as users write it (for messages) */
  name: string;
  /** host[:port] to talk to */
  host: string;
  /** plain HTTP allowed (a configured insecure registry, or --tls-verify=false) */
  insecure: boolean;
  credentials?: Credentials;
  /** TLS beyond Node's defaults: extra CA certificates, or no verification (--tls-verify=false) */
  tls?: TlsSettings;
}

const RETRIES = 3;
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const MAX_REDIRECTS = 5;

/** A blob's GET for polis-fetch: see Registry.blobRequest. */
export interface BlobRequest {
  url: string;
  headers: Record<string, string>;
  /** polis-fetch's TLS arguments (none over plain HTTP) */
  tlsArgs: string[];
}

export class RegistryError extends PolisError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

interface Token {
  value: string;
  expires: number;
}

export class Registry {
  private base: string | undefined;
  /** the auth challenge: null when /v2/ wants none, undefined until known (a 401 tells it) */
  private challenge: Challenge | null | undefined;
  private readonly tokens = new Map<string, Token>();
  private http: HttpClient | undefined;
  private native: NativeHttp | undefined;
  /** the scheme discovery in flight (connect), which the first request waits for */
  private pinging: Promise<void> | undefined;

  constructor(readonly opts: RegistryOptions) {}

  /**
   * Starts finding the scheme now (for an insecure registry, the TLS probe), so that its round
   * trip overlaps the caller's own work until the first `get`, which waits for it and throws
   * what it found wrong. node:http loads while the probe is out.
   */
  connect(): void {
    this.pinging ??= this.ping(false, () => this.nodeClient().prepare()).finally(() => {
      this.pinging = undefined;
    });
    this.pinging.catch(() => {}); // the first get awaits it again
  }

  /**
   * GET/HEAD `/v2/<repo>/<path>` with auth; the response is ok (2xx), anything else throws.
   * `sent`: see HttpClient.get (called for each request this makes: redirects, retries).
   */
  async get(
    repo: string,
    path: string,
    headers: Record<string, string> = {},
    what = `${this.opts.name}/${repo}`,
    sent?: () => void,
  ): Promise<RegistryResponse> {
    if (this.pinging) await this.pinging;
    await this.ping();
    const url = `${this.base}/v2/${repo}/${path}`;
    let res = await this.send(url, headers, await this.authorization(repo, false), false, sent);
    if (res.status === 401) {
      // the token expired or the registry wants another scope: one fresh token, then give up
      const c = this.challengeFrom(res);
      if (c) this.challenge = c;
      await drain(res);
      res = await this.send(url, headers, await this.authorization(repo, true));
    }
    if (res.ok) return res;
    throw await this.failure(res, what);
  }

  /**
   * The GET of blob `digest` as `get` would send it first, for a download outside node
   * (polis-fetch): its URL and headers (user agent, the current Authorization), and over HTTPS
   * polis-fetch's TLS arguments (tlsArgs). Node's http follows no proxy variables:
   * neither does polis-fetch. Whatever the answer is (401, a redirect, a certificate polis-fetch
   * does not trust), `get` then handles that blob as usual.
   */
  async blobRequest(repo: string, digest: string): Promise<BlobRequest | undefined> {
    if (this.pinging) await this.pinging;
    await this.ping();
    if (!this.base) return undefined;
    const headers: Record<string, string> = { "user-agent": USER_AGENT };
    const auth = await this.authorization(repo, false);
    if (auth) headers.authorization = auth;
    const url = `${this.base}/v2/${repo}/blobs/${digest}`;
    if (this.base.startsWith("http:")) return { url, headers, tlsArgs: [] };
    return { url, headers, tlsArgs: this.tlsArgs() };
  }

  /** True when node's TLS serves this registry: polis-fetch refused its certificate (or cannot run). */
  get tlsInNode(): boolean {
    return this.native?.tlsInNode ?? false;
  }

  /** The polis-fetch sessions end (each once its request is answered). */
  close(): void {
    this.native?.close();
  }

  /**
   * polis-fetch's TLS arguments: `--insecure` when node checks nothing, else the CA files node
   * trusts beside its own store (the config's, POLIS_EXTRA_CA_CERTS, NODE_EXTRA_CA_CERTS: the
   * names only, node reads none of them for this).
   */
  private tlsArgs(): string[] {
    const tls = this.opts.tls ?? { ca: [], verify: true };
    if (!tls.verify) return ["--insecure"];
    const files = new Set([...(tls.caFiles ?? []), tls.caFile, process.env.NODE_EXTRA_CA_CERTS]);
    return [...files].filter((f) => f).flatMap((f) => ["--ca-file", f as string]);
  }

  /** `polis login`: the credentials get a token (Bearer) or are accepted by /v2/ (Basic). */
  async checkCredentials(): Promise<void> {
    await this.ping(true);
    const c = this.challenge;
    if (c?.scheme === "bearer") {
      await this.fetchToken(c, "");
      return;
    }
    const res = await this.send(`${this.base}/v2/`, {}, await this.authorization("", false));
    await drain(res);
    if (res.status === 401 || res.status === 403)
      throw new RegistryError(`${this.opts.name}: unauthorized: wrong username or password`, res.status);
    if (!res.ok) throw new RegistryError(`${this.opts.name}: /v2/ answered ${res.status} ${res.statusText}`, res.status);
  }

  /**
   * Find the scheme (https, or http for an insecure registry) and, with the /v2/ ping, the auth
   * challenge. An insecure registry on plain HTTP (the usual local or CI one) would first fail
   * the HTTPS attempt podman and skopeo make too: a TLS hello on a bare socket finds that out
   * without loading node's TLS stack (a registry that speaks TLS is still tried over HTTPS
   * first). Then, unless `challenge` is asked for, the ping is skipped too: the challenge comes
   * with the first request's 401, as containerd learns it (one round trip less).
   */
  private async ping(challenge = false, probeSent?: () => void): Promise<void> {
    if (this.base !== undefined && (this.challenge !== undefined || !challenge)) return;
    let schemes = this.base ? [this.base.slice(0, this.base.indexOf(":"))] : this.opts.insecure ? ["https", "http"] : ["https"];
    if (this.base === undefined && this.opts.insecure && (await answersPlainHttp(this.opts.host, undefined, probeSent))) {
      log.debug("registry answered a TLS hello in plain HTTP: not trying HTTPS", { registry: this.opts.name });
      schemes = ["http"];
      if (!challenge) {
        this.base = `http://${this.opts.host}`;
        return;
      }
    }
    let lastErr: unknown;
    for (const scheme of schemes) {
      const base = `${scheme}://${this.opts.host}`;
      let res: RegistryResponse;
      try {
        res = await this.send(`${base}/v2/`, {}, undefined);
      } catch (e) {
        lastErr = e;
        continue;
      }
      await drain(res);
      if (res.status !== 200 && res.status !== 401) {
        throw new RegistryError(
          `${this.opts.name}: /v2/ answered ${res.status} ${res.statusText}: not a registry (distribution API v2)`,
          res.status,
        );
      }
      this.base = base;
      this.challenge = res.status === 401 ? this.challengeFrom(res) : null;
      return;
    }
    throw new RegistryError(
      `${this.opts.name}: registry unreachable: ${netMessage(lastErr)}${this.opts.insecure ? "" : " (for a plain-HTTP registry use --tls-verify=false or mark it insecure in the config file)"}`,
    );
  }

  private challengeFrom(res: RegistryResponse): Challenge | null {
    const header = res.headers.get("www-authenticate");
    if (!header) return null;
    const all = parseChallenges(header);
    return all.find((c) => c.scheme === "bearer") ?? all.find((c) => c.scheme === "basic") ?? null;
  }

  private async authorization(repo: string, fresh: boolean): Promise<string | undefined> {
    const c = this.challenge;
    const creds = this.opts.credentials;
    if (!c) return undefined;
    if (c.scheme === "basic") {
      if (!creds)
        throw new RegistryError(`${this.opts.name}: authentication required (polis login ${this.opts.name}, or --creds)`, 401);
      return basicAuth(creds.username, creds.password);
    }
    if (c.scheme !== "bearer" || !c.params.realm) return undefined;
    const scope = `repository:${repo}:pull`;
    const cached = this.tokens.get(scope);
    if (!fresh && cached && cached.expires > Date.now()) return `Bearer ${cached.value}`;
    const token = await this.fetchToken(c, scope);
    this.tokens.set(scope, token);
    return `Bearer ${token.value}`;
  }

  private async fetchToken(c: Challenge, scope: string): Promise<Token> {
    const creds = this.opts.credentials;
    const url = tokenUrl(c, scope ? [scope] : []);
    if (url.protocol !== "https:" && !this.opts.insecure) {
      throw new RegistryError(`${this.opts.name}: token server ${url.origin} is not HTTPS`);
    }
    const headers: Record<string, string> = {};
    if (creds) headers.authorization = basicAuth(creds.username, creds.password);
    log.debug("registry token request", {
      registry: this.opts.name,
      realm: url.origin + url.pathname,
      scope,
      credentials: creds ? "yes" : "no",
    });
    let res: RegistryResponse;
    try {
      res = await this.send(url.toString(), headers, undefined, true);
    } catch (e) {
      throw new RegistryError(`${this.opts.name}: token server ${url.origin} unreachable: ${netMessage(e)}`);
    }
    if (res.status === 401 || res.status === 403) {
      await drain(res);
      throw new RegistryError(
        creds
          ? `${this.opts.name}: unauthorized: wrong username or password`
          : `${this.opts.name}: authentication required (polis login ${this.opts.name}, or --creds)`,
        res.status,
      );
    }
    if (!res.ok) {
      await drain(res);
      throw new RegistryError(`${this.opts.name}: token server answered ${res.status} ${res.statusText}`, res.status);
    }
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string; expires_in?: number };
    const value = body.token ?? body.access_token;
    if (!value) throw new RegistryError(`${this.opts.name}: token server sent no token`);
    // a little early, so that a token never expires in flight
    const life = Math.max(60, Number(body.expires_in) || 60);
    return { value, expires: Date.now() + (life - 10) * 1000 };
  }

  /**
   * One request, following redirects by hand (Authorization only to the same origin), retried on
   * 5xx and connection failures. `once`: no retries (token requests fail fast on bad passwords).
   */
  private async send(
    url: string,
    headers: Record<string, string>,
    auth: string | undefined,
    once = false,
    sent?: () => void,
  ): Promise<RegistryResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.follow(url, headers, auth, sent);
        if (!RETRY_STATUS.has(res.status) || once || attempt >= RETRIES) return res;
        await drain(res);
        log.debug("registry retry", { url: redact(url), status: res.status, attempt });
      } catch (e) {
        if (once || attempt >= RETRIES || !transient(e)) throw e;
        log.debug("registry retry", { url: redact(url), error: netMessage(e), attempt });
      }
      await sleep(200 * 2 ** attempt);
    }
  }

  private async follow(
    url: string,
    headers: Record<string, string>,
    auth: string | undefined,
    sent?: () => void,
  ): Promise<RegistryResponse> {
    const origin = new URL(url).origin;
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const h: Record<string, string> = { ...headers };
      if (auth && new URL(current).origin === origin) h.authorization = auth;
      const res = await this.client().get(current, h, sent);
      if (debugEnabled()) log.debug("registry answer", { url: redact(current), status: res.status, via: res.via });
      if (res.status < 300 || res.status >= 400 || res.status === 304) return res;
      const location = res.headers.get("location");
      await drain(res);
      if (!location) throw new RegistryError(`${this.opts.name}: redirect ${res.status} without a Location`);
      const next = new URL(location, current);
      if (next.protocol === "http:" && new URL(current).protocol === "https:" && !this.opts.insecure) {
        throw new RegistryError(`${this.opts.name}: refusing a redirect from HTTPS to plain HTTP (${next.origin})`);
      }
      current = next.toString();
    }
    throw new RegistryError(`${this.opts.name}: too many redirects`);
  }

  /** The transport: HTTPS through polis-fetch sessions, the rest through node's (nodeClient). */
  private client(): NativeHttp {
    return (this.native ??= new NativeHttp(this.tlsArgs(), () => this.nodeClient()));
  }

  /** Node's transport, with the registry's TLS settings (Node's defaults when none were given). */
  private nodeClient(): HttpClient {
    return (this.http ??= new HttpClient(this.opts.tls ?? { ca: [], verify: true }));
  }

  private async failure(res: RegistryResponse, what: string): Promise<RegistryError> {
    let detail = "";
    try {
      const body = (await res.json()) as { errors?: { code?: string; message?: string }[] };
      const e = body.errors?.[0];
      if (e) detail = [e.code?.toLowerCase().replace(/_/g, " "), e.message].filter(Boolean).join(": ");
    } catch {
      // not JSON: the status says enough
    }
    // /v2/ was not asked (see ping): a 404 from something that is no registry says so
    if (res.status === 404 && this.challenge === undefined) await this.ping(true);
    if (res.status === 404) return new RegistryError(`${what}: not found${detail ? ` (${detail})` : ""}`, 404);
    if (res.status === 401 && this.challenge?.scheme === "basic" && this.opts.credentials) {
      return new RegistryError(`${this.opts.name}: unauthorized: wrong username or password`, 401);
    }
    if (res.status === 401 || res.status === 403) {
      const hint = this.opts.credentials ? "" : ` (polis login ${this.opts.name}, or --creds)`;
      return new RegistryError(`${what}: access denied${detail ? ` (${detail})` : ""}${hint}`, res.status);
    }
    return new RegistryError(
      `${what}: registry answered ${res.status} ${res.statusText}${detail ? ` (${detail})` : ""}`,
      res.status,
    );
  }
}

async function drain(res: RegistryResponse): Promise<void> {
  res.cancel();
}

const TRANSIENT = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "EAI_AGAIN"]);
function transient(e: unknown): boolean {
  const code = (e as { cause?: { code?: string } })?.cause?.code;
  return code !== undefined && TRANSIENT.has(code);
}

/** A NetworkError's "request failed" with the useful part (ECONNREFUSED 127.0.0.1:5000) from its cause. */
export function netMessage(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string; errors?: { message?: string }[] } })?.cause;
  // a name with several addresses that all failed: node's AggregateError has no message of its
  // own, its attempts have ("connect ECONNREFUSED ::1:5000, connect ECONNREFUSED 127.0.0.1:5000")
  const message = cause?.message || cause?.errors?.map((x) => x.message).join(", ");
  if (cause?.code) return message && !message.includes(cause.code) ? `${cause.code} (${message})` : message || cause.code;
  if (message) return message;
  return e instanceof Error ? e.message : String(e);
}

/** A URL for a log line: no query (pre-signed blob URLs carry credentials there). */
function redact(url: string): string {
  const u = new URL(url);
  return u.origin + u.pathname;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

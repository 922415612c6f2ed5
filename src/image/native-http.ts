// The registry's HTTPS requests outside node: `polis-fetch --session` (native/fetch/polis-fetch.c)
// serves them one after the other over kept-alive connections, so that node opens no TLS
// connection of its own in a pull. Node's TLS costs over a MiB of a pull's peak RSS (node:tls
// and node:https loaded, and for a verified registry a context holding node's ~140 root
// certificates): issue 13, docs/performance.md "Registry requests outside node (session 7)".
//
// The same shape as HttpClient.get, for registry.ts: an answer with status, headers.get, the body
// as chunks, text, json and cancel. Node's HttpClient still serves what the child cannot say as
// node would:
// - plain HTTP (cheap in node), and a header with a line break (node's error for it);
// - a registry whose certificate OpenSSL's store plus the CA files refused (`tls …`): node's own
//   check decides, from then on for that registry (node's bundled roots are not /etc/ssl/certs);
// - an answer that is not HTTP/1 as the child expects it (node's parser's verdict), a child that
//   died before the answer, no polis-fetch at all (POLIS_FETCH pointing nowhere).
// Network errors come from the child with node's codes and texts ("connect ECONNREFUSED
// 127.0.0.1:5000", "getaddrinfo ENOTFOUND host", "socket hang up"), which registry.ts retries on
// and shows as before; an answer cut midway fails as node's http fails it (ECONNRESET "aborted").
//
// A pull's requests to one registry come one at a time (ping, token, manifests, the config):
// one child serves them; a request made while every child is busy (blobs that came back to node,
// a few at once) gets another, up to MAX_SESSIONS. Each child exits at its stdin's end: close(),
// polis's exit, or polis SIGKILLed (and PR_SET_PDEATHSIG besides).
import type { ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { log } from "../log.js";
import { packageRoot } from "../paths.js";
import { bodyText, type HttpClient, IDLE_TIMEOUT_MS, NetworkError, type RegistryResponse } from "./http.js";
import { type Frame, FrameReader, type Head, parseHead } from "./session-frames.js";

/** Children at most per registry client: one per blob that node downloads at once, and one more. */
const MAX_SESSIONS = 4;
/** A dropped answer's body is read away up to this many bytes (the child stays); past it, the child goes. */
const DRAIN_LIMIT = 1 << 20;
/** Body bytes queued for a slow reader before the child's output is paused. */
const QUEUE_HIGH = 1 << 20;

/** The C downloader built by node-gyp beside the shim; POLIS_FETCH overrides it (tests, packagers). */
export function fetchBinary(): string {
  return process.env.POLIS_FETCH || join(packageRoot(), "native", "build", "Release", "polis-fetch");
}

/** A failure the child reports before an answer that node is to redo: its TLS refusal, a reply it could not read. */
class NodeTurn extends Error {
  constructor(
    readonly why: string,
    readonly tls = false,
  ) {
    super(why);
  }
}

/** The error of an "error net CODE text" line before an answer: a NetworkError with node's code and text. */
function networkError(line: string): NetworkError {
  const [, code, ...text] = line.split(" ");
  return new NetworkError(Object.assign(new Error(text.join(" ") || code), { code }));
}

// --- the answer ------------------------------------------------------------------------------

class NativeResponse implements RegistryResponse {
  readonly via = "polis-fetch";
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  readonly body: AsyncIterable<Buffer>;
  private queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failed: NetworkError | undefined;
  /** dropped by cancel(): the bytes still coming are read away (counted), not queued */
  private discarding = false;
  private discarded = 0;
  private wake: (() => void) | undefined;

  constructor(
    head: Head,
    private readonly session: Session,
  ) {
    this.status = head.status;
    this.statusText = head.statusText;
    this.ok = this.status >= 200 && this.status < 300;
    this.headers = { get: (name) => head.headers.get(name.toLowerCase()) ?? null };
    this.body = this.chunks();
  }

  /** The frames after the head, from the session. */
  frame(f: Frame | { kind: "gone"; why: string }): void {
    if (f.kind === "body") {
      if (this.discarding) {
        this.discarded += f.data.length;
        if (this.discarded > DRAIN_LIMIT) this.session.kill();
        return;
      }
      this.queue.push(f.data);
      this.queued += f.data.length;
      if (this.queued > QUEUE_HIGH) this.session.pause();
    } else if (f.kind === "end") {
      this.ended = true;
    } else {
      // lost midway (reset, closed, timed out, the child gone): node's http says it one way
      log.debug("registry answer cut short", { why: f.kind === "error" ? f.line : f.kind === "gone" ? f.why : f.kind });
      this.failed = new NetworkError(Object.assign(new Error("aborted"), { code: "ECONNRESET" }));
      if (f.kind === "head") this.session.kill(); // a head inside a body: the child is confused
    }
    this.wake?.();
  }

  get done(): boolean {
    return this.ended || this.failed !== undefined;
  }

  private async *chunks(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const c = this.queue.shift();
        if (c) {
          this.queued -= c.length;
          if (this.queued < QUEUE_HIGH / 2) this.session.resume();
          yield c;
          continue;
        }
        if (this.failed) throw this.failed;
        if (this.ended) return;
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
      }
    } finally {
      this.cancel(); // a reader that stopped early (a size limit, an error of its own)
    }
  }

  text(): Promise<string> {
    return bodyText(this.body);
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  /**
   * Drops the rest of the body: a short one (a redirect's, an error's) is read away, so that the
   * child and its connection stay; a long one (by its Content-Length, or once past DRAIN_LIMIT
   * bytes) ends the child.
   */
  cancel(): void {
    if (this.done || this.discarding) return;
    this.queue = [];
    this.queued = 0;
    const length = Number(this.headers.get("content-length") ?? 0);
    if (length > DRAIN_LIMIT) return this.session.kill();
    this.discarding = true;
    this.session.draining = true;
    this.session.resume();
  }
}

// --- one child -------------------------------------------------------------------------------

type Listener = (f: Frame | { kind: "gone"; why: string }) => void;

class Session {
  private readonly child: ChildProcess;
  private readonly reader = new FrameReader();
  private listener: Listener | undefined;
  private stderr = "";
  busy = false;
  /** its answer was dropped and is being read away: free again soon (the next request waits for it) */
  draining = false;
  gone: string | undefined;

  constructor(
    args: string[],
    private readonly idle: (s: Session) => void,
    private readonly ended: (s: Session, why: string) => void,
  ) {
    const { spawn } = load("node:child_process") as typeof import("node:child_process");
    this.child = spawn(fetchBinary(), ["--session", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdin?.on("error", () => {}); // it died first: its exit says how
    this.child.stdout?.on("data", (b: Buffer) => this.data(b));
    this.child.stderr?.on("data", (b: Buffer) => {
      if (this.stderr.length < 1000) this.stderr += b.toString("utf8");
    });
    this.child.once("error", (e) => this.end(`missing ${e.message}`));
    this.child.once("close", (code, signal) => {
      const why = this.stderr.trim() || (signal ? `killed by ${signal}` : `exited with ${code}`);
      this.end(`polis-fetch ${why}`);
    });
    this.unref();
  }

  /** GET `url`: resolves with the answer at its head, or rejects (a NetworkError, or node's turn). */
  request(url: string, headers: Record<string, string>, sent?: () => void): Promise<NativeResponse> {
    this.busy = true;
    this.ref();
    const text = `GET ${url}\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\n`)
      .join("")}\n`;
    return new Promise((resolve, reject) => {
      let res: NativeResponse | undefined;
      this.listener = (f) => {
        if (res) {
          res.frame(f);
          if (res.done) this.release();
        } else if (f.kind === "head") {
          try {
            res = new NativeResponse(parseHead(f.head), this);
            resolve(res);
          } catch (e) {
            this.kill();
            reject(new NodeTurn((e as Error).message));
          }
        } else if (f.kind === "error") {
          this.release();
          if (f.line.startsWith("net ")) reject(networkError(f.line));
          else reject(new NodeTurn(f.line, f.line.startsWith("tls ")));
        } else {
          this.kill();
          reject(new NodeTurn(f.kind === "gone" ? f.why : `polis-fetch session: ${f.kind} before the head`));
        }
      };
      if (this.gone) return this.listener({ kind: "gone", why: this.gone });
      this.child.stdin?.write(text, () => sent?.());
    });
  }

  pause(): void {
    this.child.stdout?.pause();
  }

  resume(): void {
    this.child.stdout?.resume();
  }

  /** Ends the child now (an answer dropped midway): its connection and what it still sends go with it. */
  kill(): void {
    if (this.gone) return;
    this.child.kill("SIGKILL");
    this.end("polis-fetch session ended");
  }

  /** Stdin's end: the child exits once its request (if any) is answered. */
  close(): void {
    this.child.stdin?.end();
    this.unref();
  }

  private data(b: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.reader.push(b);
    } catch (e) {
      this.kill();
      this.listener?.({ kind: "gone", why: (e as Error).message });
      return;
    }
    for (const f of frames) this.listener?.(f);
  }

  private release(): void {
    this.listener = undefined;
    this.busy = false;
    this.draining = false;
    this.unref();
    if (!this.gone) this.idle(this);
  }

  private end(why: string): void {
    if (this.gone) return;
    this.gone = why;
    const listener = this.listener;
    this.listener = undefined;
    this.busy = false;
    listener?.({ kind: "gone", why });
    this.unref();
    this.ended(this, why);
  }

  /** An idle child keeps no polis command waiting; one with a request in flight does. */
  private unref(): void {
    this.child.unref();
    (this.child.stdout as unknown as { unref?(): void } | null)?.unref?.();
    (this.child.stderr as unknown as { unref?(): void } | null)?.unref?.();
    (this.child.stdin as unknown as { unref?(): void } | null)?.unref?.();
  }

  private ref(): void {
    this.child.ref();
    (this.child.stdout as unknown as { ref?(): void } | null)?.ref?.();
    (this.child.stderr as unknown as { ref?(): void } | null)?.ref?.();
  }
}

// --- the transport ---------------------------------------------------------------------------

/** polis-fetch could not be started (not built): node serves every request in this process. */
let missing = false;

/** A registry client's transport: HTTPS through polis-fetch sessions, the rest (and what they cannot do) through node. */
export class NativeHttp {
  private readonly sessions: Session[] = [];
  private readonly waiting: ((s: Session) => void)[] = [];
  /** the child's OpenSSL refused this registry's certificate: node's TLS decides from now on */
  private refused = false;

  /**
   * `tlsArgs`: polis-fetch's --insecure or --ca-file arguments for this registry; `node`: the
   * transport for what the child does not serve.
   */
  constructor(
    private readonly tlsArgs: string[],
    private readonly node: () => HttpClient,
  ) {}

  /** True once node's TLS serves this registry (polis-fetch refused its certificate, or cannot run). */
  get tlsInNode(): boolean {
    return this.refused || missing;
  }

  async get(url: string, headers: Record<string, string>, sent?: () => void): Promise<RegistryResponse> {
    if (!url.startsWith("https:") || this.tlsInNode || Object.values(headers).some((v) => /[\r\n]/.test(v)))
      return this.node().get(url, headers, sent);
    let told = false;
    const once = () => {
      if (!told) sent?.();
      told = true;
    };
    try {
      return await (await this.session()).request(url, headers, once);
    } catch (e) {
      if (!(e instanceof NodeTurn)) throw e;
      if (e.tls) this.refused = true;
      if (e.why.startsWith("missing ")) missing = true;
      log.debug("registry request handed to node", { url: redact(url), answer: e.why });
      return this.node().get(url, headers, once);
    }
  }

  /** Every child's stdin ends: each exits once its request, if any, is answered. */
  close(): void {
    for (const s of this.sessions.splice(0)) s.close();
  }

  private session(): Promise<Session> {
    const free = this.sessions.find((s) => !s.busy && !s.gone);
    if (free) {
      free.busy = true;
      return Promise.resolve(free);
    }
    // a dropped answer's short rest (a 401's, a redirect's) is read away on that connection in
    // a moment: cheaper to wait for it than to start a child and a TLS handshake
    if (this.sessions.length < MAX_SESSIONS && !this.sessions.some((s) => s.draining)) {
      const s = this.spawn();
      s.busy = true;
      this.sessions.push(s);
      return Promise.resolve(s);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private spawn(): Session {
    const args = ["--timeout-ms", String(IDLE_TIMEOUT_MS), "--parent", String(process.pid), ...this.tlsArgs];
    return new Session(
      args,
      (s) => {
        const next = this.waiting.shift();
        if (next) {
          s.busy = true;
          next(s);
        }
      },
      (s, why) => {
        const i = this.sessions.indexOf(s);
        if (i >= 0) this.sessions.splice(i, 1);
        if (why.startsWith("missing ")) missing = true;
        // a request waiting for a child gets a new one (or node's transport, through `missing`)
        const next = this.waiting.shift();
        if (next) this.session().then(next);
      },
    );
  }
}

const load = createRequire(import.meta.url);

/** A URL for a log line: no query (pre-signed blob URLs carry credentials there). */
function redact(url: string): string {
  const u = new URL(url);
  return u.origin + u.pathname;
}

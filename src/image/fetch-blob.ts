// Download one blob into the content store: streamed to a temp file while its size and sha256
// are checked, renamed to its digest name only once both match. A connection that drops midway
// is resumed with a Range request (the hash state carries on); so is the partial file a pull
// killed earlier left behind.
//
// The bytes never enter node: polis-fetch (native/fetch/polis-fetch.c) downloads the blob into the temp file,
// checks it and, for a streamed base layer, copies it into the unpacker's pipe. Node's http
// hands V8 one Buffer per socket read, freed only at a GC that a pull rarely reaches: megabytes
// of a pull's peak RSS (docs/performance.md, "Blob downloads outside node"). Over HTTPS it checks
// the certificate with OpenSSL's store plus the CA files node trusts beside its own. Any answer
// but the blob (401, a redirect, an error, a certificate polis-fetch does not trust) sends that
// blob back to node's own download below, so auth retries, redirects, node's trust decision and
// error texts stay in one place.
import type { ChildProcess } from "node:child_process";
import type { Hash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Writable } from "node:stream";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import { processStartTime } from "../linux/proc.js";
import { blobPath, crypto, fsyncOffThread, hasBlob, hex, tmpDir, tmpPath } from "./content.js";
import { IDLE_TIMEOUT_MS } from "./http.js";
import { fetchBinary } from "./native-http.js";
import type { Descriptor } from "./manifest.js";
import { netMessage, RegistryError, type Registry } from "./registry.js";

const ATTEMPTS = 4;
/** How often the progress of a download outside node is read from its file's size. */
const PROGRESS_MS = 100;

export type Progress = (digest: string, bytes: number, total: number) => void;
/**
 * Sees the downloaded bytes as they arrive, with their offset in the blob (not yet verified); a
 * promise it returns is awaited before the next chunk is read (a pipe to an unpacker is full).
 */
export type Tee = (chunk: Buffer, offset: number) => void | Promise<void>;

/**
 * Where a blob's bytes go too, from its first byte on, in order, without passing through node: a
 * pipe (an unpacker child's stdin, layer-store.ts's StreamedLayer) that polis-fetch gets as its
 * stdout. One download process feeds it, once: after its spawn `fedElsewhere` is called (node's
 * end of the pipe can close). When it cannot be fed whole that way (the download is resumed,
 * restarted, killed, or node's), `broken` is called: the reader must not use what it got (the
 * blob is unpacked from its file). Node's own download, before any process had the sink, hands
 * its chunks to `tee` when there is one.
 */
export interface LayerSink {
  readonly sink: Writable;
  fedElsewhere(): void;
  broken(): void;
  readonly tee?: Tee;
}

export interface FetchOptions {
  progress?: Progress;
  /** the bytes as they arrive: a function (node sees them) or a sink (they stay out of node) */
  feed?: Tee | LayerSink;
  /** node downloads it itself, whatever the registry (the config: node parses it anyway) */
  inNode?: boolean;
}

/** Ensures blob `d` is in the store (fetching it from `repo`); returns true when it was downloaded. */
export async function fetchBlob(
  registry: Registry,
  repo: string,
  d: Descriptor,
  root: string,
  o: FetchOptions = {},
): Promise<boolean> {
  if (hasBlob(root, d.digest, d.size)) return false;
  const what = `${registry.opts.name}/${repo}@${d.digest}`;
  const claimed = claimPartial(root, d.digest);
  const partial = claimed ?? { path: tmpPath(root, hex(d.digest)), bytes: 0 };
  const tmp = partial.path;
  if (partial.bytes) log.debug("resuming blob", { digest: d.digest, bytes: partial.bytes });
  // a claimed partial exists, empty too (a pull killed before its first byte): "wx" would fail on it
  let fd = openSync(tmp, claimed ? "a" : "wx", 0o600);
  const feed = o.feed === undefined ? undefined : typeof o.feed === "function" ? o.feed : sinkTee(o.feed);
  let done = false;
  try {
    const outside = o.inNode ? undefined : await requestOutside(registry, repo, d);
    if (outside && (await downloadOutside(outside, d, tmp, fd, what, o.progress, o.feed))) {
      closeSync(fd); // polis-fetch fsynced it
      done = true;
      renameSync(tmp, blobPath(root, d.digest));
      return true;
    }
    // node's download, from what the file holds (a resumed partial, or polis-fetch's bytes)
    let have = fstatSync(fd).size;
    let hash = hashOf(tmp, have);
    for (let attempt = 1; have < d.size || d.size === 0; attempt++) {
      try {
        have = await download(registry, repo, d, fd, hash, have, what, o.progress, feed);
        break;
      } catch (e) {
        if (e instanceof RangeIgnored) {
          // the registry (or a proxy) sent the whole blob: start the file and the hash over
          log.debug("the registry ignored the Range request, downloading the blob from the start", { digest: d.digest });
          closeSync(fd);
          fd = openSync(tmp, "w", 0o600);
          hash = crypto().createHash("sha256");
          have = 0;
          continue;
        }
        if (e instanceof PolisError) throw e;
        if (!isNetworkError(e)) throw new PolisError(`${what}: ${storeMessage(e, tmp)}`);
        if (attempt >= ATTEMPTS) throw new RegistryError(`${what}: download failed: ${netMessage(e)}`);
        log.debug("blob download interrupted, resuming", { digest: d.digest, bytes: have, error: netMessage(e) });
        have = statSync(tmp).size;
        await sleep(200 * 2 ** attempt);
      }
    }
    const got = `sha256:${hash.digest("hex")}`;
    if (have !== d.size) throw new PolisError(sizeMessage(what, have, d.size));
    if (got !== d.digest) throw new PolisError(digestMessage(what, got));
    await fsyncOffThread(fd); // the unpacker goes on with what came meanwhile
    closeSync(fd);
    done = true;
    renameSync(tmp, blobPath(root, d.digest));
    log.debug("blob downloaded by node", { digest: d.digest, bytes: have });
    return true;
  } finally {
    if (!done) {
      closeSync(fd);
      rmSync(tmp, { force: true });
    }
  }
}

const sizeMessage = (what: string, have: number, size: number) => `${what}: got ${have} bytes, the manifest says ${size}`;
const overMessage = (what: string, size: number) => `${what}: the registry sent more than the ${size} bytes the manifest says`;
const digestMessage = (what: string, got: string) =>
  `${what}: content has digest ${got} (corrupted in the registry or on the way): refusing it`;

/** A ranged request answered with the whole blob (200): the download starts over. */
class RangeIgnored extends Error {}

/** The transport's failures (a NetworkError: a TypeError with a cause, or an abort), as opposed to the local file's. */
function isNetworkError(e: unknown): boolean {
  return (
    e instanceof TypeError ||
    (e as { name?: string })?.name === "AbortError" ||
    typeof (e as { cause?: unknown })?.cause === "object"
  );
}

function storeMessage(e: unknown, file: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") return `no space left for the image store (${dirname(dirname(file))})`;
  return (e as Error)?.message ?? String(e);
}

/** One GET (ranged when `have` > 0); returns the bytes held afterwards. Network errors propagate for a retry. */
async function download(
  registry: Registry,
  repo: string,
  d: Descriptor,
  fd: number,
  hash: Hash,
  have: number,
  what: string,
  progress?: Progress,
  tee?: Tee,
): Promise<number> {
  const res = await registry.get(repo, `blobs/${d.digest}`, have ? { range: `bytes=${have}-` } : {}, what);
  if (have && res.status !== 206) {
    res.cancel();
    throw new RangeIgnored();
  }
  if (!res.body) throw new PolisError(`${what}: empty response`);
  for await (const chunk of res.body) {
    if (have + chunk.length > d.size) throw new PolisError(overMessage(what, d.size));
    hash.update(chunk);
    const teeFull = tee?.(chunk, have);
    let off = 0;
    while (off < chunk.length) off += writeSync(fd, chunk, off);
    have += chunk.length;
    progress?.(d.digest, have, d.size);
    if (teeFull) await teeFull;
  }
  return have;
}

/** A sink on node's own download: its `tee` while no process had the sink, else it is broken. */
function sinkTee(sink: LayerSink): Tee {
  return (chunk, offset) => {
    if (sinkState(sink) === "fresh" && sink.tee) return sink.tee(chunk, offset);
    breakSink(sink);
  };
}

/** Each sink's story: no process had it yet, one is feeding it (or fed it whole), or broken. */
const sinks = new WeakMap<LayerSink, "fresh" | "handed" | "broken">();
const sinkState = (sink: LayerSink) => sinks.get(sink) ?? "fresh";
function breakSink(sink: LayerSink): void {
  if (sinkState(sink) === "broken") return;
  sinks.set(sink, "broken");
  sink.broken();
}

// --- polis-fetch -------------------------------------------------------------------------

/**
 * Registries whose blobs answered a redirect, or whose certificate polis-fetch refused: the next
 * ones go to node straight away (the next blob would be refused alike: a handshake saved each).
 */
const toNode = new WeakSet<Registry>();
/** polis-fetch could not be started (not built): node downloads everything in this process. */
let missing = false;

async function requestOutside(registry: Registry, repo: string, d: Descriptor) {
  if (missing || toNode.has(registry)) return undefined;
  const r = await registry.blobRequest(repo, d.digest);
  // a certificate the registry's session refused (native-http.ts) would be refused here alike
  if (r && !registry.tlsInNode) return { ...r, registry };
  return undefined;
}

type Outside = NonNullable<Awaited<ReturnType<typeof requestOutside>>>;

/**
 * polis-fetch's download of `d` into `tmp` (resumed from its size), retried on network errors
 * as node's is. True: the file is whole and verified. False: node's turn (an answer that was
 * not the blob, or no polis-fetch). Throws the errors node's download would.
 */
async function downloadOutside(
  req: Outside,
  d: Descriptor,
  tmp: string,
  fd: number,
  what: string,
  progress?: Progress,
  feed?: Tee | LayerSink,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const from = fstatSync(fd).size;
    const r = await runFetch(req, d, tmp, fd, from, progress, feed);
    const [word, ...rest] = r.line.split(" ");
    switch (word) {
      case "ok":
        if (rest[2] === "restarted") {
          // polis-fetch stopped the copy there: the bytes start over at 0, which the feed never sees
          if (typeof feed === "function") feed(Buffer.alloc(0), 0);
          log.debug("the registry ignored the Range request, downloaded the blob from the start", { digest: d.digest });
        }
        progress?.(d.digest, d.size, d.size);
        log.debug("blob downloaded by polis-fetch", { digest: d.digest, bytes: d.size, from });
        return true;
      case "over":
        throw new PolisError(overMessage(what, d.size));
      case "short":
        throw new PolisError(sizeMessage(what, Number(rest[0]), d.size));
      case "digest":
        throw new PolisError(digestMessage(what, rest[0]));
      case "file":
        throw new PolisError(
          `${what}: ${storeMessage(Object.assign(new Error(rest.slice(1).join(" ")), { code: rest[0] }), tmp)}`,
        );
      case "net":
      case "killed": {
        const cause = Object.assign(new Error(rest.slice(1).join(" ") || r.line), { code: rest[0] });
        if (attempt >= ATTEMPTS) throw new RegistryError(`${what}: download failed: ${netMessage({ cause })}`);
        log.debug("blob download interrupted, resuming", { digest: d.digest, bytes: fstatSync(fd).size, error: r.line });
        await sleep(200 * 2 ** attempt);
        continue;
      }
      default:
        // status <code>, proto <text>, tls <text>, no polis-fetch: node downloads this blob itself
        if (/^status 3\d\d$|^tls /.test(r.line)) toNode.add(req.registry);
        log.debug("blob download handed to node", { digest: d.digest, answer: r.line });
        return false;
    }
  }
}

/**
 * One run of polis-fetch; its report line ("killed SIGKILL" when it died without one, "missing"
 * when it could not start). A function feed gets the bytes through a pipe (node sees them:
 * until the unpacker is a process of its own); a sink gets polis-fetch's stdout.
 */
async function runFetch(
  req: Outside,
  d: Descriptor,
  tmp: string,
  fd: number,
  from: number,
  progress?: Progress,
  feed?: Tee | LayerSink,
): Promise<{ line: string }> {
  const args = ["--url", req.url, "--file", tmp, "--size", String(d.size), "--digest", d.digest];
  args.push("--timeout-ms", String(IDLE_TIMEOUT_MS), "--parent", String(process.pid), ...req.tlsArgs);
  // the headers (a token, a password) on stdin: every user can read argv (/proc/PID/cmdline)
  args.push("--header-fd", "0");
  const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${v}\n`);
  if (headers.some((h) => /[\r\n]./.test(h))) return { line: "proto a header with a line break" }; // node's to refuse
  let out: "ignore" | "pipe" | Writable = "ignore";
  const sink = typeof feed === "object" ? feed : undefined;
  // a sink takes one whole download: from byte 0, by the first run
  if (sink && sinkState(sink) === "fresh" && from === 0) out = sink.sink;
  else if (sink) breakSink(sink);
  else if (feed) out = "pipe";
  if (out !== "ignore") args.push("--tee");
  const { spawn } = load("node:child_process") as typeof import("node:child_process");
  let child: ChildProcess;
  try {
    child = spawn(fetchBinary(), args, { stdio: ["pipe", out, "pipe", "pipe"] });
  } catch (e) {
    return notStarted(e);
  }
  child.stdin?.on("error", () => {}); // it died first: its exit says how
  child.stdin?.end(headers.join(""));
  if (sink && out === sink.sink) {
    sinks.set(sink, "handed");
    sink.fedElsewhere();
  }
  const timer = progress ? setInterval(() => progress(d.digest, fstatSync(fd).size, d.size), PROGRESS_MS).unref() : undefined;
  try {
    const report: Buffer[] = [];
    const stderr: Buffer[] = [];
    (child.stdio[3] as NodeJS.ReadableStream | null)?.on("data", (b: Buffer) => report.push(b));
    child.stderr?.on("data", (b: Buffer) => stderr.push(b));
    const stdout = child.stdout;
    if (typeof feed === "function" && stdout) {
      let offset = from;
      stdout.on("data", (b: Buffer) => {
        const full = feed(b, offset);
        offset += b.length;
        if (full) {
          stdout.pause(); // polis-fetch waits on the pipe meanwhile
          full.then(() => stdout.resume());
        }
      });
    }
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
      child.once("error", resolve);
      child.once("close", (code, signal) => resolve({ code, signal }));
    });
    if (exit instanceof Error) return notStarted(exit);
    const line = Buffer.concat(report).toString("utf8").trim();
    // the sink got the whole blob only from a run that reports it whole, not started over
    if (sink && !(exit.code === 0 && line.startsWith("ok ") && !line.endsWith(" restarted"))) breakSink(sink);
    if (exit.code === 0 && line) return { line };
    if (exit.signal) return { line: `killed ${exit.signal} polis-fetch was killed (${exit.signal})` };
    const why = Buffer.concat(stderr).toString("utf8").trim();
    throw new PolisError(`polis-fetch: exited with ${exit.code}${why ? `: ${why}` : ""}`);
  } finally {
    if (timer) clearInterval(timer);
  }
}

function notStarted(e: unknown): { line: string } {
  missing = true;
  log.debug("polis-fetch cannot run: node downloads the blobs", { binary: fetchBinary(), error: (e as Error).message });
  return { line: `missing ${(e as Error).message}` };
}

const load = createRequire(import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** sha256 of the file's first `bytes` (a resumed partial, polis-fetch's bytes), for node's download to go on from. */
function hashOf(path: string, bytes: number): Hash {
  const hash = crypto().createHash("sha256");
  if (bytes === 0) return hash;
  const fd = openSync(path, "r");
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (let at = 0, n; at < bytes && (n = readSync(fd, buf, 0, Math.min(buf.length, bytes - at), at)) > 0; at += n)
      hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash;
}

/**
 * A partial download of `digest` left by a process that is gone: taken over (renamed to a name
 * of ours, which only one claimant can win), so the download continues from its size (the
 * download hashes what is there first).
 */
function claimPartial(root: string, digest: string): { path: string; bytes: number } | undefined {
  let names: string[];
  try {
    names = readdirSync(tmpDir(root));
  } catch {
    return undefined;
  }
  const prefix = `${hex(digest)}.`;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.split(".")[1]);
    if (!Number.isInteger(pid) || processStartTime(pid) !== null) continue;
    const mine = tmpPath(root, hex(digest));
    try {
      renameSync(join(tmpDir(root), name), mine);
    } catch {
      continue; // another pull took it
    }
    return { path: mine, bytes: statSync(mine).size };
  }
  return undefined;
}

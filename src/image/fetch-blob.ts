// Download one blob into the content store: streamed to a temp file while its size and sha256
// are checked, renamed to its digest name only once both match. A connection that drops midway
// is resumed with a Range request (the hash state carries on); so is the partial file a pull
// killed earlier left behind.
import type { Hash } from "node:crypto";
import { closeSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import { processStartTime } from "../linux/proc.js";
import { blobPath, crypto, fsyncOffThread, hasBlob, hex, tmpDir, tmpPath } from "./content.js";
import type { Descriptor } from "./manifest.js";
import { netMessage, RegistryError, type Registry } from "./registry.js";

const ATTEMPTS = 4;

export type Progress = (digest: string, bytes: number, total: number) => void;
/**
 * Sees the downloaded bytes as they arrive, with their offset in the blob (not yet verified); a
 * promise it returns is awaited before the next chunk is read (a pipe to an unpacker is full).
 */
export type Tee = (chunk: Buffer, offset: number) => undefined | Promise<void>;

/** Ensures blob `d` is in the store (fetching it from `repo`); returns true when it was downloaded. */
export async function fetchBlob(
  registry: Registry,
  repo: string,
  d: Descriptor,
  root: string,
  progress?: Progress,
  tee?: Tee,
): Promise<boolean> {
  if (hasBlob(root, d.digest, d.size)) return false;
  const what = `${registry.opts.name}/${repo}@${d.digest}`;
  const partial = claimPartial(root, d.digest) ?? {
    path: tmpPath(root, hex(d.digest)),
    hash: crypto().createHash("sha256"),
    bytes: 0,
  };
  const tmp = partial.path;
  let hash = partial.hash;
  let have = partial.bytes;
  if (have) log.debug("resuming blob", { digest: d.digest, bytes: have });
  let fd = openSync(tmp, have ? "a" : "wx", 0o600);
  let done = false;
  try {
    for (let attempt = 1; have < d.size || d.size === 0; attempt++) {
      try {
        have = await download(registry, repo, d, fd, hash, have, what, progress, tee);
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
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
    const got = `sha256:${hash.digest("hex")}`;
    if (have !== d.size) throw new PolisError(`${what}: got ${have} bytes, the manifest says ${d.size}`);
    if (got !== d.digest)
      throw new PolisError(`${what}: content has digest ${got} (corrupted in the registry or on the way): refusing it`);
    await fsyncOffThread(fd); // the unpacker goes on with what came meanwhile
    closeSync(fd);
    done = true;
    renameSync(tmp, blobPath(root, d.digest));
    return true;
  } finally {
    if (!done) {
      closeSync(fd);
      rmSync(tmp, { force: true });
    }
  }
}

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
    if (have + chunk.length > d.size) {
      throw new PolisError(`${what}: the registry sent more than the ${d.size} bytes the manifest says`);
    }
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

/**
 * A partial download of `digest` left by a process that is gone: taken over (renamed to a name
 * of ours, which only one claimant can win) and re-hashed, so the download continues from there.
 */
function claimPartial(root: string, digest: string): { path: string; hash: Hash; bytes: number } | undefined {
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
    const hash = crypto().createHash("sha256");
    const fd = openSync(mine, "r");
    const buf = Buffer.allocUnsafe(1 << 20);
    let bytes = 0;
    try {
      for (let n; (n = readSync(fd, buf, 0, buf.length, bytes)) > 0; bytes += n) hash.update(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
    return { path: mine, hash, bytes };
  }
  return undefined;
}

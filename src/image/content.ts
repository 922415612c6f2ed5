// The on-disk half of the image store, under <root>/images/:
//   blobs/sha256/<hex>   every blob (manifest, index, config, layer) by digest, shared by images
//   layers/<hex>         a layer unpacked for overlayfs, by its chain id (its diff_id and those
//                        below it: a symlink below decides where an entry lands)
//   tmp/                 downloads and unpacks in progress (<name>.<pid>.<random>)
// A blob gets its digest name only after its content was verified, and an unpacked layer its
// name only once complete (rename is the commit point), so a polis killed at any moment leaves
// nothing corrupt under a real name. Leases (rows in the state database) keep a running pull's
// blobs from prune and from another pull's cleanup.
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { closeSync, fsync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { bootId, isSameProcess, processStartTime } from "../linux/proc.js";
import type { Store } from "../state/store.js";
import { addLeases, allLeases, layerStacks, removeLeases, removeLeasesOf, referencedDigests } from "../state/images.js";

// node:crypto costs 3-10 ms to load here: `run --image` of a pulled image must not pay it (it
// only needs chain ids: @noble/hashes, bundled, ~0.1 ms), what writes blobs and temp files does;
// `pull` loads it while its manifest request is on the way (pull.ts), not before its first packet.
const require = createRequire(import.meta.url);
export const crypto = () => require("node:crypto") as typeof import("node:crypto");

export const imagesDir = (root: string) => join(root, "images");
export const blobPath = (root: string, digest: string) => join(root, "images", "blobs", "sha256", hex(digest));
export const layerDir = (root: string, chainId: string) => join(root, "images", "layers", hex(chainId));
export const tmpDir = (root: string) => join(root, "images", "tmp");

export function hex(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}

export function ensureDirs(root: string): void {
  for (const d of [join(root, "images", "blobs", "sha256"), join(root, "images", "layers"), tmpDir(root)])
    mkdirSync(d, { recursive: true, mode: 0o700 });
}

/** A fresh temp path for `name` owned by this process. */
export function tmpPath(root: string, name: string): string {
  return join(tmpDir(root), `${name}.${process.pid}.${crypto().randomBytes(4).toString("hex")}`);
}

export function hasBlob(root: string, digest: string, size?: number): boolean {
  try {
    const st = statSync(blobPath(root, digest));
    return size === undefined || st.size === size;
  } catch {
    return false;
  }
}

/**
 * The image-spec's chain ids of a layer stack, bottom first: the first layer's is its diff_id,
 * each next one sha256("<chain id below> <diff_id>").
 */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const below = out.at(-1);
    out.push(below ? `sha256:${bytesToHex(sha256(utf8ToBytes(`${below} ${d}`)))}` : d);
  }
  return out;
}

export function hasLayer(root: string, chainId: string): boolean {
  try {
    return statSync(layerDir(root, chainId)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * fsync(2) on libuv's thread pool: the event loop goes on meanwhile (on a busy disk one takes
 * from one to tens of ms, and a pull has one per blob).
 */
export function fsyncOffThread(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}

/** Stores a small blob held in memory (a manifest, an index), verified against `digest`. */
export async function putBlob(root: string, digest: string, data: Buffer): Promise<void> {
  // a pull killed while it stored this blob left its temp file, which nothing resumes (the blob
  // comes whole from memory): it goes now (a live process's stays)
  sweepTmp(root, (name) => name.startsWith(`${hex(digest)}.`));
  if (hasBlob(root, digest, data.length)) return;
  const got = `sha256:${crypto().createHash("sha256").update(data).digest("hex")}`;
  if (got !== digest) throw new Error(`content has digest ${got}, expected ${digest}`);
  const tmp = tmpPath(root, hex(digest));
  const fd = openSync(tmp, "wx", 0o600);
  try {
    try {
      writeSync(fd, data);
      await fsyncOffThread(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, blobPath(root, digest));
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // renamed after all, or never written
    }
    throw e;
  }
}

/** A lease identity for this process: pid + boot + start time, so a reused pid never counts. */
let self: { pid: number; startTime: string } | undefined;
export function selfLease(): { pid: number; startTime: string } {
  return (self ??= { pid: process.pid, startTime: `${bootId()}/${processStartTime(process.pid) ?? "?"}` });
}

export function lease(store: Store, digests: string[]): void {
  const me = selfLease();
  addLeases(store, digests, me.pid, me.startTime);
}

export function release(store: Store): void {
  const me = selfLease();
  removeLeases(store, me.pid, me.startTime);
}

/** Digests held by a live pull (other than this process); dead pulls' leases are dropped on the way. */
export function leasedDigests(store: Store): Set<string> {
  const me = selfLease();
  const live = new Set<string>();
  const dead = new Map<string, { pid: number; startTime: string }>();
  for (const l of allLeases(store)) {
    if (l.pid === me.pid && l.startTime === me.startTime) continue;
    const [boot, start] = l.startTime.split("/");
    if (isSameProcess(l.pid, start, boot)) live.add(l.digest);
    else dead.set(`${l.pid}/${l.startTime}`, { pid: l.pid, startTime: l.startTime });
  }
  if (dead.size) removeLeasesOf(store, [...dead.values()]);
  return live;
}

export interface Collected {
  blobs: number;
  layers: number;
  bytes: number;
}

/**
 * Deletes blobs and unpacked layers no image refers to and no live pull holds; `only` limits it
 * to those digests (a failed pull cleaning up after itself). Also clears dead processes' temp files.
 */
export function collectGarbage(store: Store, root: string, only?: Set<string>): Collected {
  // Under the database's write lock: a pull takes its leases (a write) before it looks for a blob
  // on disk, so it either sees this sweep's result or this sweep sees its lease. Leases are read
  // before references: a pull that finishes in between has recorded its image by then.
  return store.transaction(() => {
    const leased = leasedDigests(store);
    const blobs = new Set([...leased, ...referencedDigests(store)]);
    const layers = new Set(leased);
    for (const stack of layerStacks(store)) for (const c of chainIds(stack)) layers.add(c);
    return sweep(root, blobs, layers, only);
  });
}

function sweep(root: string, keepBlobs: Set<string>, keepLayers: Set<string>, only?: Set<string>): Collected {
  const out: Collected = { blobs: 0, layers: 0, bytes: 0 };
  const sweepDir = (dir: string, isLayer: boolean) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const digest = `sha256:${name}`;
      if ((isLayer ? keepLayers : keepBlobs).has(digest) || (only && !only.has(digest))) continue;
      const path = join(dir, name);
      out.bytes += isLayer ? duBytes(path) : statSize(path);
      rmSync(path, { recursive: true, force: true });
      if (isLayer) out.layers++;
      else out.blobs++;
    }
  };
  sweepDir(join(imagesDir(root), "blobs", "sha256"), false);
  sweepDir(join(imagesDir(root), "layers"), true);
  if (!only) sweepTmp(root);
  return out;
}

/** Temp files of processes that are gone (a pull killed half-way); only those whose name passes `which`, when given. */
export function sweepTmp(root: string, which?: (name: string) => boolean): void {
  let names: string[];
  try {
    names = readdirSync(tmpDir(root));
  } catch {
    return;
  }
  for (const name of names) {
    if (which && !which(name)) continue;
    const pid = Number(name.split(".").at(-2));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processStartTime(pid) !== null) continue;
    if (pid === process.pid) continue;
    rmSync(join(tmpDir(root), name), { recursive: true, force: true });
  }
}

function statSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function duBytes(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += statSize(p);
    }
  };
  try {
    walk(dir);
  } catch {
    // vanished meanwhile
  }
  return total;
}

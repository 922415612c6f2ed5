// Unpack one image layer (a tar stream, gzip/zstd/plain) into a directory, writing every entry
// with our own sync fs calls. Two modes:
//   "apply":   onto a root filesystem (a bundle's rootfs): OCI whiteouts delete what lower
//              layers put there, `.wh..wh..opq` empties a directory of lower content.
//   "overlay": into a fresh, per-layer directory used as an overlayfs lower layer: whiteouts
//              become overlayfs's own (a 0/0 char device; the trusted.overlay.opaque xattr).
// Every path stays inside the target: absolute names and `..` escapes are refused; a symlinked
// parent is resolved inside the root filesystem (through the lower layers in overlay mode), and
// one whose relative target climbs above the root is refused. Errors name the layer and the entry.
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  createReadStream,
  linkSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  writeSync,
  constants as fsc,
  type Stats,
} from "node:fs";
import { createRequire } from "node:module";
import { posix } from "node:path";
import { Writable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, gunzipSync } from "node:zlib";
import { PolisError } from "../errors.js";
import { phase } from "../timing.js";
import { lgetxattrs, lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO, splitDev } from "./libc.js";
import { TarFormatError, TarReader, type TarEntry, type TarSink } from "./tar.js";

export type UnpackMode = "apply" | "overlay";

export interface UnpackOptions {
  /** the directory the layer is written into (exists) */
  target: string;
  mode: UnpackMode;
  /** the layer's digest, for error messages */
  layer: string;
  /** the expected digest of the uncompressed stream (rootfs.diff_ids[i]); checked when given */
  diffId?: string;
  /**
   * overlay mode: the unpacked layers below this one, topmost first. An entry's parents resolve
   * through their merged view (a `lib -> usr/lib` symlink below makes `lib/x` land in usr/lib/x),
   * so the layer's directory depends on them: the store keys it by chain id.
   */
  lowers?: string[];
}

export interface UnpackResult {
  diffId: string;
  /** bytes of the uncompressed tar */
  size: number;
  entries: number;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
const OVERLAY_OPAQUE = "trusted.overlay.opaque";

/**
 * Layers up to this size (compressed) are read and inflated in one synchronous step: a streamed
 * one takes a trip through the thread pool per chunk, and on a busy machine each trip waits for
 * a CPU (a 1 MB busybox layer: ~10 of them). Its tar may inflate to SMALL_TAR_LIMIT at most;
 * beyond that (a layer that compresses very well) it is streamed after all.
 */
const SMALL_LAYER = 4 << 20;
const SMALL_TAR_LIMIT = 64 << 20;

/** Unpack the layer blob at `blob`. On error the target may hold part of the layer: callers unpack into a temp dir. */
export async function unpackLayer(blob: string, opts: UnpackOptions): Promise<UnpackResult> {
  const small = smallLayerTar(blob);
  phase("layer read and inflate");
  if (small) return unpackTar(small, opts);
  const hash = createHash("sha256");
  let size = 0;
  const writer = new LayerWriter(opts);
  const reader = new TarReader(writer);
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      try {
        hash.update(chunk);
        size += chunk.length;
        reader.push(chunk);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  try {
    const source = createReadStream(blob, { highWaterMark: 1 << 20 });
    const decoder = decompressorFor(blob);
    if (decoder) await pipeline(source, decoder, sink);
    else await pipeline(source, sink);
    reader.finish();
    writer.finish();
  } catch (e) {
    throw layerError(opts.layer, writer.current, e);
  }
  return { diffId: checkDiffId(hash.digest("hex"), opts), size, entries: writer.count };
}

/** A small gzip or plain layer's whole tar, or undefined when it must be streamed. */
function smallLayerTar(blob: string): Buffer | undefined {
  if (statSync(blob).size > SMALL_LAYER) return undefined;
  const data = readFileSync(blob);
  if (data[0] === 0x1f && data[1] === 0x8b) {
    try {
      // one big output chunk: no copying 16 KB pieces together (2 ms and ~500 page faults less for busybox)
      return gunzipSync(data, { maxOutputLength: SMALL_TAR_LIMIT, chunkSize: 8 << 20 });
    } catch {
      return undefined; // too big once inflated, or bad data: the stream reports it as usual
    }
  }
  return data.length >= 4 && data.readUInt32LE(0) === 0xfd2fb528 ? undefined : data;
}

/** unpackLayer for a whole tar in memory. */
function unpackTar(tar: Buffer, opts: UnpackOptions): UnpackResult {
  const writer = new LayerWriter(opts);
  try {
    const reader = new TarReader(writer);
    reader.push(tar);
    reader.finish();
    writer.finish();
  } catch (e) {
    throw layerError(opts.layer, writer.current, e);
  }
  return { diffId: checkDiffId(createHash("sha256").update(tar).digest("hex"), opts), size: tar.length, entries: writer.count };
}

function checkDiffId(hex: string, opts: UnpackOptions): string {
  const diffId = `sha256:${hex}`;
  if (opts.diffId) verifyDiffId(opts.layer, diffId, opts.diffId);
  return diffId;
}

/** The uncompressed digest of `layer` against the image config's rootfs.diff_ids entry. */
export function verifyDiffId(layer: string, got: string, want: string): void {
  if (got !== want) {
    throw new PolisError(
      `layer ${layer}: uncompressed content has digest ${got}, but the image config's rootfs.diff_ids says ${want}`,
    );
  }
}

/** Compressed bytes handed to the decoder at once. */
const BATCH = 256 << 10;

/**
 * A layer unpacked while its compressed bytes arrive: `pull` writes a small base layer this way
 * as it downloads, one pass instead of download, then read back, inflate and unpack (the waits
 * for the registry are filled with inflating and writing). Fed in order from byte 0; bytes out
 * of order (a download that starts over or resumes a killed pull's file) or a zstd layer make it
 * give up, and the caller unpacks the stored blob as usual. An unpack error is kept until
 * `finish`, not thrown at the feeder: the download goes on, so a corrupted blob is still reported
 * as a digest mismatch. Nothing is checked against the blob's digest here: the caller commits the
 * directory only once the blob verified.
 */
export class LayerStream {
  private next = 0;
  private gaveUp = false;
  private error: PolisError | undefined;
  private head: Buffer | undefined;
  private decoder: Transform | undefined;
  private decoded: Promise<void> | undefined;
  private readonly hash = createHash("sha256");
  private size = 0;
  /** compressed bytes waiting to go to the decoder */
  private batch: Buffer[] = [];
  private batched = 0;
  private readonly writer: LayerWriter;
  private readonly reader: TarReader;

  constructor(private readonly opts: UnpackOptions) {
    this.writer = new LayerWriter(opts);
    this.reader = new TarReader(this.writer);
  }

  /** The blob's bytes from `offset` on. */
  push(chunk: Buffer, offset: number): void {
    if (this.gaveUp) return;
    if (offset !== this.next) return this.giveUp();
    this.next += chunk.length;
    if (this.error) return;
    if (this.decoder) {
      // a few big pieces to the thread pool rather than one per network read: each trip there
      // and back waits for a CPU on a busy machine
      this.batch.push(chunk);
      this.batched += chunk.length;
      if (this.batched >= BATCH) this.flush();
      return;
    }
    if (this.decoded === undefined) {
      // the format, by the magic numbers as unpackLayer tells them (a first chunk may be tiny)
      this.head = this.head ? Buffer.concat([this.head, chunk]) : chunk;
      if (this.head.length < 4) return;
      chunk = this.head;
      this.head = undefined;
      if (chunk[0] === 0x1f && chunk[1] === 0x8b) {
        // inflated on the thread pool, written out as each piece comes back
        const decoder = createGunzip({ chunkSize: 1 << 20 });
        decoder.on("data", (d: Buffer) => this.tar(d));
        this.decoded = new Promise((resolve) => {
          decoder.once("end", resolve);
          decoder.once("close", resolve);
          decoder.once("error", (e) => {
            this.error ??= layerError(this.opts.layer, this.writer.current, e);
            resolve();
          });
        });
        this.decoder = decoder;
        decoder.write(chunk);
        return;
      }
      if (chunk.readUInt32LE(0) === 0xfd2fb528) return this.giveUp();
      this.decoded = Promise.resolve();
    }
    this.tar(chunk);
  }

  /**
   * Once the whole blob was fed: the layer's diff_id, size and entry count, with every entry
   * written; undefined when the stream gave up (the blob is unpacked the usual way). Throws the
   * unpack's error, if any.
   */
  async finish(): Promise<UnpackResult | undefined> {
    if (this.gaveUp || this.decoded === undefined) {
      this.giveUp();
      return undefined;
    }
    if (!this.error) {
      this.flush();
      this.decoder?.end();
    }
    await this.decoded;
    if (this.gaveUp) return undefined;
    if (this.error) throw this.error;
    try {
      this.reader.finish();
      this.writer.finish();
    } catch (e) {
      throw layerError(this.opts.layer, this.writer.current, e);
    }
    return { diffId: `sha256:${this.hash.digest("hex")}`, size: this.size, entries: this.writer.count };
  }

  /** Stop feeding the unpacker (the caller removes the directory). */
  giveUp(): void {
    this.gaveUp = true;
    this.decoder?.destroy();
    this.writer.close();
  }

  private flush(): void {
    if (this.batched) this.decoder?.write(Buffer.concat(this.batch));
    this.batch = [];
    this.batched = 0;
  }

  private tar(chunk: Buffer): void {
    if (this.error || this.gaveUp) return;
    try {
      this.hash.update(chunk);
      this.size += chunk.length;
      this.reader.push(chunk);
    } catch (e) {
      this.error = layerError(this.opts.layer, this.writer.current, e);
      this.writer.close();
      this.decoder?.destroy(); // nothing more to inflate ('close' settles `decoded`)
    }
  }
}

function layerError(layer: string, entry: string | undefined, e: unknown): PolisError {
  if (e instanceof PolisError && e.message.startsWith(`layer ${layer}`)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const what =
    e instanceof TarFormatError
      ? "bad tar"
      : (e as { code?: string }).code === "Z_DATA_ERROR"
        ? "bad compressed data"
        : undefined;
  const where = entry !== undefined ? `, entry "${entry}"` : "";
  return new PolisError(`layer ${layer}${where}: ${what ? `${what}: ` : ""}${msg}`, { step: `unpack layer ${layer}` });
}

/** gzip and zstd by their magic numbers (registries' media types are not always right); else plain tar. */
function decompressorFor(path: string): Transform | undefined {
  const fd = openSync(path, "r");
  const head = Buffer.alloc(4);
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return createGunzip({ chunkSize: 1 << 20 });
  if (head.readUInt32LE(0) === 0xfd2fb528) {
    const require = createRequire(import.meta.url);
    const { DecompressStream } = require("zstd-napi") as typeof import("zstd-napi");
    return new DecompressStream();
  }
  return undefined;
}

class EscapeError extends PolisError {
  constructor(
    message: string,
    readonly why: string,
  ) {
    super(message);
  }
}

/**
 * A directory of the root filesystem as the layers show it: `path` relative to the root, with no
 * symlink in it, and `layers`, the indices (0 = the target, then `lowers`) whose directory at
 * `path` overlayfs merges into it, topmost first.
 */
interface Dir {
  path: string;
  layers: number[];
}

type Found =
  | { kind: "dir"; layers: number[] }
  | { kind: "symlink"; layer: number; st: Stats }
  | { kind: "other"; layer: number; st: Stats };

/** Symlinks followed while resolving one path before giving up (Linux's MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

class LayerWriter implements TarSink {
  count = 0;
  /** the entry being written, for error messages */
  current: string | undefined;
  private fd = -1;
  private pendingFile: [string, TarEntry] | undefined;
  /** the target first, then the lower layers (overlay mode), topmost first */
  private readonly layers: string[];
  private readonly root: string;
  /** directory paths as named in the layer -> the directory they resolve to */
  private readonly dirCache = new Map<string, Dir>();
  /** every path a cached resolution looked at: writing there invalidates the cache */
  private readonly consulted = new Set<string>();
  /** relative paths this layer wrote (an opaque dir keeps them) */
  private readonly written = new Set<string>();
  /** directories whose mtime is set at the end (writing their children changes it) */
  private readonly dirTimes: [string, number][] = [];
  private readonly asRoot = process.geteuid?.() === 0;
  /**
   * Root unpacking with no set-group-id directory about: an entry created now is owned by 0:0
   * and gets the mode it was created with, minus the umask. Its lchown (when the layer says 0:0,
   * as nearly every entry of a base image does) and its chmod (when the umask leaves the mode
   * whole and there are no set-id or sticky bits) change nothing and are skipped: two of the
   * four calls of a symlink. A set-group-id directory would hand its group (and, to new
   * directories, its bit) down, so the first one seen turns this off.
   */
  private plain: boolean;
  private readonly umask: number;
  /** The target was empty: a path not in `made` is known to be absent (no lstat to ask). */
  private readonly fresh: boolean;
  /** relative paths created in the target (a superset: removals are not taken out) */
  private readonly made = new Set<string>();

  constructor(private readonly opts: UnpackOptions) {
    this.root = opts.target.replace(/\/+$/, "");
    this.layers = [this.root, ...(opts.mode === "overlay" ? (opts.lowers ?? []) : [])];
    this.fresh = readdirSync(this.root).length === 0;
    this.plain = this.asRoot && process.getegid?.() === 0 && (statSync(this.root).mode & S_ISGID) === 0;
    this.umask = this.plain ? processUmask() : 0o777;
    // overlayfs shows the topmost layer's root directory: the layer below's, unless this one has "./"
    if (this.layers.length > 1) this.copyDirMetadata(this.layers[1], this.root);
  }

  entry(e: TarEntry): void {
    this.current = e.name;
    this.count++;
    const rel = this.relative(e.name, "entry");
    const base = posix.basename(rel);
    if (base.startsWith(WHITEOUT)) return this.whiteout(rel, base);
    if (rel === "") {
      // "./": the root directory's own metadata
      if (e.type !== "dir") throw this.escape("the archive root must be a directory");
      this.metadata(this.root, e);
      return;
    }
    const at = join(this.dir(parentOf(rel), true).path, base);
    const path = this.abs(at);
    const existing = this.lstatAt(at);
    const keepDir = existing?.isDirectory() === true && e.type === "dir";
    if (existing && !keepDir) this.remove(at, existing);
    if (!keepDir) this.changed(at);
    this.written.add(at);
    this.made.add(at);
    switch (e.type) {
      case "dir":
        if (!keepDir) mkdirSync(path, { mode: this.plain ? e.mode & 0o777 : 0o700 });
        break;
      case "file":
        this.fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, this.plain ? e.mode & 0o777 : 0o600);
        // owner, mode, xattrs and mtime once the content is written: a write drops
        // security.capability and moves the mtime
        this.pendingFile = [path, e];
        if (e.size === 0) this.closeFile();
        return;
      case "symlink":
        symlinkSync(e.linkname, path);
        break;
      case "hardlink":
        linkSync(this.linkSource(e.linkname), path);
        return; // the link shares its target's inode and metadata
      case "char":
      case "block":
      case "fifo": {
        const kind = e.type === "char" ? S_IFCHR : e.type === "block" ? S_IFBLK : S_IFIFO;
        mknod(path, kind | (e.mode & 0o777), e.devmajor, e.devminor);
        break;
      }
    }
    this.metadata(path, e, !keepDir);
  }

  data(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off);
  }

  end(): void {
    this.closeFile();
  }

  /** After the last entry: directory mtimes, now that nothing more is written inside them. */
  finish(): void {
    this.closeFile();
    for (const [path, mtime] of this.dirTimes) lutimesSync(path, mtime, mtime);
    this.current = undefined;
  }

  /** Give up: the open file (if any) is closed, its metadata not written. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.pendingFile = undefined;
  }

  private closeFile(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    if (this.pendingFile) this.metadata(...this.pendingFile, true);
    this.pendingFile = undefined;
  }

  /**
   * Owner, mode, xattrs and mtime, in that order (chown clears set-id bits). `created`: the
   * entry was just made, with its mode's permission bits (see `plain`).
   */
  private metadata(path: string, e: TarEntry, created = false): void {
    const ready = created && this.plain;
    const owned = ready && e.uid === 0 && e.gid === 0;
    if (this.asRoot && !owned) lchownSync(path, e.uid, e.gid);
    if (e.type !== "symlink" && !(owned && (e.mode & 0o7000) === 0 && (e.mode & this.umask) === 0)) {
      chmodSync(path, e.mode & 0o7777);
    }
    if (e.type === "dir" && (e.mode & S_ISGID) !== 0) this.plain = false;
    for (const [name, value] of e.xattrs) {
      // a layer must not forge overlayfs's own attributes (an opaque marker, a redirect)
      if (name.startsWith("trusted.overlay.")) continue;
      lsetxattr(path, name, value);
    }
    if (e.type === "dir") this.dirTimes.push([path, e.mtime]);
    else lutimesSync(path, e.mtime, e.mtime);
  }

  private whiteout(rel: string, base: string): void {
    const dir = this.dir(parentOf(rel), true).path;
    if (base === OPAQUE) {
      this.changed(dir);
      if (this.opts.mode === "overlay") {
        lsetxattr(this.abs(dir), OVERLAY_OPAQUE, Buffer.from("y"));
      } else {
        this.clearLower(dir);
      }
      return;
    }
    if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) return; // other aufs metadata (.wh..wh.plnk): not content
    const name = base.slice(WHITEOUT.length);
    if (name === "" || name === "." || name === ".." || name.includes("/")) throw this.escape(`invalid whiteout "${base}"`);
    const victim = join(dir, name);
    const existing = this.lstatAt(victim);
    this.changed(victim);
    if (this.opts.mode === "overlay") {
      if (existing) this.remove(victim, existing);
      mknod(this.abs(victim), S_IFCHR, 0, 0);
      this.made.add(victim);
    } else if (existing && !this.written.has(victim)) {
      this.remove(victim, existing);
    }
  }

  /** Remove everything under `dir` that lower layers put there (keep what this layer wrote). */
  private clearLower(dir: string): void {
    for (const name of readdirSync(this.abs(dir))) {
      const rel = join(dir, name);
      const st = lstatSync(this.abs(rel));
      if (!this.written.has(rel)) this.remove(rel, st);
      else if (st.isDirectory()) this.clearLower(rel);
    }
  }

  private remove(rel: string, st: Stats): void {
    this.changed(rel);
    rmSync(this.abs(rel), st.isDirectory() ? { recursive: true, force: true } : { force: true });
  }

  /** Something at `rel` is replaced or removed: resolutions that looked at it are stale. */
  private changed(rel: string): void {
    if (!this.consulted.has(rel)) return;
    this.dirCache.clear();
    this.consulted.clear();
  }

  /**
   * The directory `rel` (a path as the layer names it) resolves to, as containerd and umoci
   * resolve an entry's parent: component by component through the layers' merged view, a
   * symlink's target read with the root filesystem as `/` (absolute targets included). A
   * relative target climbing above the root is refused, as is a parent that is not a directory.
   * With `create`, missing directories are made (layers may omit them) and directories only a
   * lower layer has are copied up into the target with their owner, mode and xattrs (overlayfs
   * shows the topmost copy's metadata).
   */
  private dir(rel: string, create: boolean): Dir {
    const hit = this.dirCache.get(rel);
    if (hit && (!create || hit.layers[0] === 0)) return hit;
    if (hit) {
      this.materialise(hit);
      return hit;
    }
    let cur: Dir = { path: "", layers: this.layers.map((_, i) => i) };
    const todo = rel === "" ? [] : rel.split("/");
    let follows = 0;
    while (todo.length) {
      const c = todo.shift() as string;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (cur.path === "") throw this.escape(`parent "${rel}" leaves the root filesystem through a symbolic link`);
        cur = this.dir(parentOf(cur.path), create);
        continue;
      }
      const child = join(cur.path, c);
      const cached = this.dirCache.get(child);
      if (cached) {
        if (create) this.materialise(cached);
        cur = cached;
        continue;
      }
      this.consulted.add(child);
      const found = this.lookup(cur, child);
      if (!found) {
        if (!create) throw this.escape(`"${child}" does not exist`);
        mkdirSync(this.abs(child), { mode: 0o755 });
        this.made.add(child);
        cur = { path: child, layers: [0] };
      } else if (found.kind === "symlink") {
        if (++follows > MAX_SYMLINKS) throw this.escape(`"${rel}": too many levels of symbolic links`);
        const target = readlinkSync(`${this.layers[found.layer]}/${child}`);
        if (target.startsWith("/")) cur = this.dir("", create);
        todo.unshift(...target.split("/"));
        continue;
      } else if (found.kind === "other") {
        throw this.escape(`parent "${child}" is not a directory`);
      } else {
        cur = { path: child, layers: found.layers };
        if (create) this.materialise(cur);
      }
      this.dirCache.set(child, cur);
    }
    this.dirCache.set(rel, cur);
    return cur;
  }

  /** `child` of directory `parent` in the merged view (overlayfs's lookup), or null when absent or whited out. */
  private lookup(parent: Dir, child: string): Found | null {
    let dirs: number[] | undefined;
    for (const i of parent.layers) {
      const path = `${this.layers[i]}/${child}`;
      const st = i === 0 ? this.lstatAt(child) : lstatOrNull(path);
      if (!st) continue;
      if (!dirs) {
        if (st.isCharacterDevice() && st.rdev === 0 && this.opts.mode === "overlay") return null; // a whiteout
        if (st.isSymbolicLink()) return { kind: "symlink", layer: i, st };
        if (!st.isDirectory()) return { kind: "other", layer: i, st };
        dirs = [i];
      } else if (st.isDirectory()) {
        dirs.push(i);
      } else {
        break; // a non-directory below ends the merge
      }
      if (i !== parent.layers.at(-1) && this.layers.length > 1 && lgetxattrs(path).has(OVERLAY_OPAQUE)) break;
    }
    return dirs ? { kind: "dir", layers: dirs } : null;
  }

  /** Make a directory only lower layers have exist in the target, with the topmost lower copy's metadata. */
  private materialise(d: Dir): void {
    if (d.layers[0] === 0) return;
    this.dir(parentOf(d.path), true);
    const path = this.abs(d.path);
    mkdirSync(path, { mode: 0o700 });
    this.made.add(d.path);
    this.copyDirMetadata(`${this.layers[d.layers[0]]}/${d.path}`, path);
    d.layers.unshift(0);
  }

  /** Owner, mode, xattrs (not overlayfs's own) and, at the end, the mtime of directory `from`, onto `to`. */
  private copyDirMetadata(from: string, to: string): void {
    const st = lstatSync(from);
    if (this.asRoot) lchownSync(to, st.uid, st.gid);
    chmodSync(to, st.mode & 0o7777);
    if ((st.mode & S_ISGID) !== 0) this.plain = false;
    for (const [name, value] of lgetxattrs(from)) if (!name.startsWith("trusted.overlay.")) lsetxattr(to, name, value);
    this.dirTimes.push([to, st.mtimeMs / 1000]);
  }

  /**
   * The file a hardlink entry links to, in the target: its parents resolved as an entry's are,
   * its last component not followed. A file only a lower layer has is copied up first (a link
   * cannot reach into another layer's directory).
   */
  private linkSource(linkname: string): string {
    const target = this.relative(linkname, "hardlink target");
    let parent: Dir;
    try {
      parent = this.dir(parentOf(target), false);
    } catch (e) {
      throw e instanceof EscapeError ? this.escape(`hardlink target "${linkname}": ${e.why}`) : e;
    }
    const rel = join(parent.path, posix.basename(target));
    const found = this.lookup(parent, rel);
    if (!found) throw this.escape(`hardlink target "${linkname}" does not exist in the layer`);
    if (found.kind === "dir") throw this.escape(`hardlink target "${linkname}" is a directory`);
    if (found.layer === 0) return this.abs(rel);
    const st = found.st;
    this.dir(parentOf(rel), true);
    const from = `${this.layers[found.layer]}/${rel}`;
    const to = this.abs(rel);
    this.made.add(rel);
    if (st.isFile()) copyFileSync(from, to, fsc.COPYFILE_EXCL);
    else if (st.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
    else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      const kind = st.isCharacterDevice() ? S_IFCHR : st.isBlockDevice() ? S_IFBLK : S_IFIFO;
      mknod(to, kind | (st.mode & 0o777), ...splitDev(st.rdev));
    } else throw this.escape(`hardlink target "${linkname}" is a socket`);
    if (this.asRoot) lchownSync(to, st.uid, st.gid);
    if (!st.isSymbolicLink()) chmodSync(to, st.mode & 0o7777);
    for (const [name, value] of lgetxattrs(from)) lsetxattr(to, name, value);
    lutimesSync(to, st.mtimeMs / 1000, st.mtimeMs / 1000);
    return to;
  }

  /** The entry's path relative to the target, refused when it could land outside. */
  private relative(name: string, what: string): string {
    if (name.startsWith("/")) throw this.escape(`${what} "${name}" is an absolute path`);
    if (name.includes("\0")) throw this.escape(`${what} has a NUL byte`);
    const clean = cleanName(name);
    if (clean === ".." || clean.startsWith("../")) throw this.escape(`${what} "${name}" leaves the root filesystem`);
    return clean === "." ? "" : clean;
  }

  /** lstat of `rel` in the target, without the call when the target started empty and nothing was made there. */
  private lstatAt(rel: string): Stats | null {
    return this.fresh && !this.made.has(rel) ? null : lstatOrNull(this.abs(rel));
  }

  private abs(rel: string): string {
    return rel === "" ? this.root : `${this.root}/${rel}`;
  }

  private escape(why: string): EscapeError {
    return new EscapeError(`layer ${this.opts.layer}, entry "${this.current}": ${why}`, why);
  }
}

/** Names that posix.normalize would change beyond a leading "./" and trailing slashes (".//a" too). */
const UNCLEAN = /^\/|\/\/|(^|\/)\.{1,2}(\/|$)/;

/**
 * posix.normalize(name) without trailing slashes. Nearly every name in a layer is already clean
 * ("./bin/sh", "usr/lib/"): those skip normalize, which showed up in pull profiles.
 */
export function cleanName(name: string): string {
  const n = name.startsWith("./") ? name.slice(2) : name;
  if (n === "") return ".";
  if (UNCLEAN.test(n)) return posix.normalize(name).replace(/\/+$/, "");
  return n.endsWith("/") ? n.replace(/\/+$/, "") : n;
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? "" : rel.slice(0, i);
}

function join(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

const S_ISGID = 0o2000;

let umaskRead: number | undefined;
/** The process's umask, from /proc (process.umask() without an argument sets it twice: racy, deprecated); unknown: 0o777. */
function processUmask(): number {
  if (umaskRead === undefined) {
    let m: RegExpExecArray | null = null;
    try {
      m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    } catch {
      // no /proc: every mode gets its chmod
    }
    umaskRead = m ? parseInt(m[1], 8) : 0o777;
  }
  return umaskRead;
}

function lstatOrNull(path: string): Stats | null {
  // no exception (and its stack trace) for the usual answer, "not there yet": ~300 of them for busybox
  return lstatSync(path, { throwIfNoEntry: false }) ?? null;
}

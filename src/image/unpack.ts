// Unpack one image layer into a directory: node spawns the C unpacker (native/layer/, built as
// native/build/Release/polis-layer) and reads its one-line report; the layer's bytes never pass
// through node's heap when they come from a file, and only on their way to a pipe while a pull
// feeds a layer as it downloads. The child writes every entry; what it does and refuses is in
// native/layer/layer.c and unpack.c. Two modes:
//   "apply":   onto a root filesystem (a bundle's rootfs): OCI whiteouts delete what lower
//              layers put there, `.wh..wh..opq` empties a directory of lower content.
//   "overlay": into a fresh, per-layer directory used as an overlayfs lower layer: whiteouts
//              become overlayfs's own (a 0/0 char device; the trusted.overlay.opaque xattr).
// Errors name the layer and the entry; on error the target may hold part of the layer: callers
// unpack into a temp dir.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { PolisError } from "../errors.js";
import { packageRoot } from "../paths.js";

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

/** The C unpacker built by node-gyp beside the shim; POLIS_LAYER overrides it (tests, packagers). */
export function layerBinary(): string {
  return process.env.POLIS_LAYER || join(packageRoot(), "native", "build", "Release", "polis-layer");
}

/** Unpack the layer blob at `blob`. */
export async function unpackLayer(blob: string, opts: UnpackOptions): Promise<UnpackResult> {
  const child = new LayerChild(opts.layer, [...argsOf(opts), "--from", blob], "ignore");
  return checkDiffId(await child.result(), opts);
}

function checkDiffId(r: UnpackResult, opts: UnpackOptions): UnpackResult {
  if (opts.diffId) verifyDiffId(opts.layer, r.diffId, opts.diffId);
  return r;
}

/** The uncompressed digest of `layer` against the image config's rootfs.diff_ids entry. */
export function verifyDiffId(layer: string, got: string, want: string): void {
  if (got !== want) {
    throw new PolisError(
      `layer ${layer}: uncompressed content has digest ${got}, but the image config's rootfs.diff_ids says ${want}`,
    );
  }
}

/** What the child said: its stdout is the report (native/layer/layer.c). */
const REPORT = /^ok (sha256:[0-9a-f]{64}) (\d+) (\d+)\n$/;
/** stderr kept for a child that ends without a report (the loader's complaint, a crash) */
const STDERR_MAX = 4096;

/** One polis-layer process and its report. */
class LayerChild {
  readonly process: ChildProcess;
  private readonly done: Promise<UnpackResult>;
  exited = false;

  /** `layer` names the layer in messages; it may be set later (`name`), before the report. */
  constructor(
    private layer: string,
    args: string[],
    stdin: "ignore" | "pipe",
  ) {
    const bin = layerBinary();
    const child = spawn(bin, args, { stdio: [stdin, "pipe", "pipe"] });
    this.process = child;
    let out = "";
    let err = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      if (err.length < STDERR_MAX) err += d;
    });
    this.done = new Promise((resolve, reject) => {
      let spawnError: Error | undefined;
      child.once("error", (e) => (spawnError = e));
      child.once("exit", () => (this.exited = true));
      child.once("close", (code, signal) => {
        this.exited = true;
        const layer = this.layer;
        const step = { step: `unpack layer ${layer}` };
        if (spawnError) {
          const hint = (spawnError as NodeJS.ErrnoException).code === "ENOENT" ? " (build it: npm run install)" : "";
          return reject(new PolisError(`layer ${layer}: cannot run the unpacker ${bin}: ${spawnError.message}${hint}`, step));
        }
        const m = REPORT.exec(out);
        if (code === 0 && m) return resolve({ diffId: m[1], size: Number(m[2]), entries: Number(m[3]) });
        if (out.startsWith("error ")) {
          const msg = out.slice(6).replace(/\n$/, "");
          return reject(new PolisError(`layer ${layer}${msg.startsWith('entry "') ? ", " : ": "}${msg}`, step));
        }
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const said = err.trim().split("\n")[0];
        reject(new PolisError(`layer ${layer}: the unpacker ${bin} ${how} without a report${said ? `: ${said}` : ""}`, step));
      });
    });
    this.done.catch(() => {}); // awaited by result()
  }

  name(layer: string): void {
    this.layer = layer;
  }

  result(): Promise<UnpackResult> {
    return this.done;
  }

  /** SIGKILL (by pid) unless it has ended; resolves once it is gone. */
  async kill(): Promise<void> {
    if (!this.exited && this.process.pid !== undefined) {
      try {
        process.kill(this.process.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    await this.done.then(noop, noop);
  }
}

/** polis-layer's arguments for `opts` (native/layer/layer.c). */
function argsOf(opts: Omit<UnpackOptions, "layer">): string[] {
  const args = ["--target", opts.target, "--mode", opts.mode];
  if (opts.mode === "overlay") for (const l of opts.lowers ?? []) args.push("--lower", l);
  return args;
}

const noop = () => {};

/**
 * A layer unpacked while its compressed bytes arrive: `pull` writes a small base layer this way
 * as it downloads, one pass instead of download, then read back and unpack. The child reads the
 * layer on its stdin (a pipe): `push` writes the blob's bytes in order from byte 0; bytes out of
 * order (a download that starts over or resumes a killed pull's file) make it give up, and the
 * caller unpacks the stored blob as usual. An unpack error is kept until `finish`, not thrown at
 * the feeder: the download goes on, so a corrupted blob is still reported as a digest mismatch.
 * Nothing is checked against the blob's digest here: the caller commits the directory only once
 * the blob verified.
 *
 * The seam for a downloader that is itself a process (polis-fetch): spawn
 * it with `sink` as its stdout (`spawn(bin, args, { stdio: ["ignore", stream.sink, "pipe"] })`:
 * node hands the child the pipe's fd), then call `fedElsewhere()`, which closes node's own end so
 * that the unpacker sees the end of the layer when the downloader exits. From then on `push` is
 * not used and `finish` awaits the report as usual.
 *
 * The layer's digest is only for messages: a stream may be started before the pull knows which
 * layer it is for, and be named with `name` once it does.
 */
export class LayerStream {
  private next = 0;
  private gaveUp = false;
  private elsewhere = false;
  /** the child stopped reading (it failed: its report says why) */
  private broken = false;
  private readonly child: LayerChild;
  /** The unpacker's stdin: the layer's compressed bytes go there, in order. */
  readonly sink: Writable;

  constructor(opts: UnpackOptions) {
    this.child = new LayerChild(opts.layer, argsOf(opts), "pipe");
    this.sink = this.child.process.stdin as Writable;
    // EPIPE once the child has failed: its report (awaited by finish) has the reason
    this.sink.on("error", () => (this.broken = true));
  }

  /** The blob's bytes from `offset` on; a promise when the pipe is full (wait before the next chunk). */
  push(chunk: Buffer, offset: number): undefined | Promise<void> {
    if (this.gaveUp || this.elsewhere) return;
    if (offset !== this.next) {
      void this.giveUp();
      return;
    }
    this.next += chunk.length;
    if (this.broken || this.child.exited) return;
    if (this.sink.write(chunk)) return;
    return new Promise((resolve) => {
      const done = () => {
        this.sink.off("drain", done);
        this.sink.off("close", done);
        this.child.process.off("exit", done);
        resolve();
      };
      this.sink.once("drain", done);
      this.sink.once("close", done);
      this.child.process.once("exit", done);
    });
  }

  /** The layer this stream unpacks, for messages. */
  name(layer: string): void {
    this.child.name(layer);
  }

  /** The downloader was spawned with `sink` as its stdout: close node's end (see the class comment). */
  fedElsewhere(): void {
    this.elsewhere = true;
    this.sink.destroy();
  }

  /**
   * Once the whole blob was fed: the layer's diff_id, size and entry count, with every entry
   * written; undefined when the stream gave up (the blob is unpacked the usual way). Throws the
   * unpack's error, if any.
   */
  async finish(): Promise<UnpackResult | undefined> {
    if (this.gaveUp || (!this.elsewhere && this.next === 0)) {
      await this.giveUp();
      return undefined;
    }
    if (!this.elsewhere) this.sink.end();
    try {
      return await this.child.result();
    } catch (e) {
      if (this.gaveUp) return undefined; // killed by giveUp meanwhile
      throw e;
    }
  }

  /** Stop unpacking: the child is killed (by its pid); resolves once it is gone, so the caller can remove the directory. */
  async giveUp(): Promise<void> {
    this.gaveUp = true;
    this.sink.destroy();
    await this.child.kill();
  }
}

// The store's unpacked layers (<root>/images/layers/<chain id>/), one directory per layer as
// overlayfs stacks them. Keyed by chain id, not diff_id: where a layer's entries land depends on
// the layers below it (a `lib -> usr/lib` symlink below sends `lib/x` to usr/lib/x), as
// containerd's snapshots and containers/storage's overlay layers are.
import { mkdirSync, renameSync, rmSync } from "node:fs";
import type { Writable } from "node:stream";
import { blobPath, hasLayer, hex, layerDir, tmpPath } from "./content.js";
import type { Tee } from "./fetch-blob.js";
import type { LayerStream, UnpackResult } from "./unpack.js";

/** The spare streamed layer of a pull (StreamedLayer.spare), until a layer takes it. */
export interface Spare {
  layer?: StreamedLayer;
}

/**
 * Unpacks layer `digest` for overlayfs under the last of `chain` (its chain id), over the layers
 * of the ids before it, unless it is there already; the temp dir + rename makes a concurrent
 * pull of the same layer harmless (the second rename loses, theirs is as good).
 */
export async function unpackInto(
  root: string,
  digest: string,
  diffId: string,
  chain: string[],
  fetched?: Set<string>,
): Promise<void> {
  const id = chain[chain.length - 1];
  if (hasLayer(root, id)) return;
  const tmp = tmpPath(root, `layer-${hex(id)}`);
  mkdirSync(tmp, { mode: 0o755 });
  let renamed = false;
  try {
    const lowers = chain
      .slice(0, -1)
      .map((c) => layerDir(root, c))
      .reverse();
    // loaded only to unpack (node:child_process): a pulled image's layers are all there
    const { unpackLayer } = await import("./unpack.js");
    await unpackLayer(blobPath(root, digest), { target: tmp, mode: "overlay", layer: digest, diffId, lowers });
    renamed = commit(root, tmp, id, fetched);
  } finally {
    if (!renamed) rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The temp dir of an unpacked layer takes its chain id's name (unless another pull's got there
 * first: false, and the temp dir is still there).
 */
function commit(root: string, tmp: string, id: string, fetched?: Set<string>): boolean {
  try {
    renameSync(tmp, layerDir(root, id));
    fetched?.add(id);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
    return false;
  }
}

/**
 * Base layers up to this size (compressed) are unpacked as they download (the download waits when
 * the unpacker's pipe is full); bigger ones from their blob once it verified, as upper layers are.
 */
export const STREAMED_LAYER_MAX = 4 << 20;

/**
 * A base layer (no layers below it: its chain id is its diff_id) unpacked into a temp dir while
 * it downloads (unpack.ts's LayerStream): `tee` is handed to fetchBlob, `finish` is called once
 * the blob verified, `commit` once the image config gave the diff_id, and `dispose` always
 * (it stops the unpacker and removes the temp dir unless it was committed). A polis killed
 * half-way leaves the temp dir (the unpacker dies with it), which the next pull sweeps (sweepTmp).
 *
 * The unpacker starts with `begin`, or at the first byte: spawning it forks node (3-5 ms, the
 * event loop stopped), so the pull calls `begin` once its requests are out, while the registry
 * answers, rather than before it sends them.
 */
export class StreamedLayer {
  private readonly tmp: string;
  private stream: LayerStream | undefined;
  /** the temp dir got its real name: nothing left to remove */
  private renamed = false;
  private disposed = false;

  private constructor(
    root: string,
    private digest: string,
    private readonly make: (target: string) => LayerStream,
  ) {
    this.tmp = tmpPath(root, digest ? `layer-${hex(digest)}` : "layer-stream");
  }

  static async start(root: string, digest: string): Promise<StreamedLayer> {
    const { LayerStream } = await import("./unpack.js");
    return new StreamedLayer(root, digest, (target) => new LayerStream({ target, mode: "overlay", layer: digest }));
  }

  /**
   * One started now, before the pull knows its layer (`unpack.js` loaded): the pull spawns it
   * while it waits for the manifest, and `claim`s it for its small base layer, if it has one.
   */
  static spare(root: string, LayerStreamClass: typeof LayerStream): StreamedLayer {
    const s = new StreamedLayer(root, "", (target) => new LayerStreamClass({ target, mode: "overlay", layer: "" }));
    s.begin();
    return s;
  }

  /** A spare, for layer `digest`. */
  claim(digest: string): this {
    this.digest = digest;
    this.stream?.name(digest);
    return this;
  }

  /** The temp dir and the unpacker, once. */
  begin(): LayerStream {
    if (this.stream) return this.stream;
    // a late `begin` (the pull failed before it ran) must not make what dispose already cleaned
    if (this.disposed) throw new Error("internal error: a streamed layer begun after dispose");
    mkdirSync(this.tmp, { mode: 0o755 });
    try {
      this.stream = this.make(this.tmp);
    } catch (e) {
      rmSync(this.tmp, { recursive: true, force: true });
      throw e;
    }
    return this.stream;
  }

  readonly tee: Tee = (chunk, offset) => this.begin().push(chunk, offset);

  /** For a downloader that is a process (polis-fetch): the unpacker's stdin, see LayerStream's seam. */
  get sink(): Writable {
    return this.begin().sink;
  }

  /** The downloader was spawned with `sink` as its stdout (LayerStream.fedElsewhere). */
  fedElsewhere(): void {
    this.begin().fedElsewhere();
  }

  /** What the sink got is not the whole blob in order (fetch-blob.ts's LayerSink): the stream gives up, the file is unpacked. */
  broken(): void {
    void this.begin().giveUp();
  }

  /** After the whole blob came (and verified): the unpacked layer's digest, or undefined when the stream gave up. */
  finish(): Promise<UnpackResult | undefined> {
    return this.begin().finish();
  }

  /** Names the directory by `diffId` (the config's, which `got` must equal). */
  async commit(root: string, got: UnpackResult, diffId: string, fetched?: Set<string>): Promise<void> {
    const { verifyDiffId } = await import("./unpack.js");
    verifyDiffId(this.digest, got.diffId, diffId);
    this.renamed = commit(root, this.tmp, diffId, fetched);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    if (!this.stream) return;
    await this.stream.giveUp(); // the child is gone before its directory is removed
    // after the rename there is nothing to remove (rmSync would load node's rimraf for a miss)
    if (!this.renamed) rmSync(this.tmp, { recursive: true, force: true });
  }
}

// A streaming tar reader: ustar, POSIX pax (path, linkpath, size, ids, mtime, SCHILY.xattr.*) and
// GNU long names. It is push-based and synchronous, so the unpacker can write each entry with
// plain sync fs calls (the anchors' measurements: node-tar's extractor is ~15x slower than GNU
// tar; a parser feeding sync writes is within 1.5x).
export type EntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo";

export interface TarEntry {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** seconds since the epoch (fractional from pax) */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer>;
}

/** What receives the entries; `data` is called with a file's content in order, `end` after it. */
export interface TarSink {
  entry(e: TarEntry): void;
  data(chunk: Buffer): void;
  end(): void;
}

export class TarFormatError extends Error {}

const BLOCK = 512;
/** the type flag byte as a one-character string (String.fromCharCode per header, once) */
const FLAGS = Array.from({ length: 256 }, (_, c) => String.fromCharCode(c));
const TYPES: Record<string, EntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

type Meta = { pax: Map<string, string>; longName?: string; longLink?: string };

/**
 * Shared by every entry without pax records or xattrs (nearly all of a base image's): no two Maps
 * per entry. Nothing writes to them (the unpacker only reads an entry's xattrs).
 */
const NONE = new Map<string, never>();

export class TarReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** bytes of the current entry's body still to come, and the padding after it */
  private bodyLeft = 0;
  private padLeft = 0;
  /** the body being read belongs to a meta entry (pax/GNU) instead of a file */
  private metaKind: string | null = null;
  private metaBuf: Buffer[] = [];
  private meta: Meta = { pax: NONE };
  private globalPax = new Map<string, string>();
  private finished = false;

  constructor(private readonly sink: TarSink) {}

  /** Feed the next bytes of the archive. */
  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.finished) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        if (this.metaKind) this.metaBuf.push(part);
        else this.sink.data(part);
        this.bodyLeft -= n;
        off += n;
        if (this.bodyLeft === 0) this.bodyDone();
        continue;
      }
      if (this.padLeft > 0) {
        const n = Math.min(this.padLeft, chunk.length - off);
        this.padLeft -= n;
        off += n;
        continue;
      }
      // a header: 512 bytes, usually all in `chunk`, else gathered across chunks
      const n = Math.min(BLOCK - this.pendingBytes, chunk.length - off);
      let header: Buffer;
      if (this.pendingBytes === 0 && n === BLOCK) {
        header = chunk.subarray(off, off + BLOCK);
        off += BLOCK;
      } else {
        this.pending.push(chunk.subarray(off, off + n));
        this.pendingBytes += n;
        off += n;
        if (this.pendingBytes < BLOCK) continue;
        header = Buffer.concat(this.pending);
        this.pending = [];
        this.pendingBytes = 0;
      }
      this.header(header);
    }
  }

  /** The stream ended: complain if it stopped inside an entry. */
  finish(): void {
    if (this.finished) return;
    if (this.bodyLeft > 0 || this.pendingBytes > 0 || this.metaKind) throw new TarFormatError("archive is truncated");
    // A missing end-of-archive marker is tolerated, as GNU tar does.
    this.finished = true;
  }

  private header(h: Buffer): void {
    if (isZero(h)) {
      // end of archive (two zero blocks; one is enough to stop)
      this.finished = true;
      return;
    }
    if (!checksumOk(h)) throw new TarFormatError("bad header checksum (not a tar archive, or corrupted)");
    const flag = FLAGS[h[156]];
    const size = num(h, 124, 12);
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      this.metaKind = flag;
      this.metaBuf = [];
      this.startBody(size);
      return;
    }
    if (flag === "S") throw new TarFormatError(`sparse entry ${cstr(h, 0, 100)} is not supported`);
    const type = TYPES[flag];
    // "ustar\0" (POSIX) or "ustar " (GNU), compared as bytes: a string per header showed in profiles
    const ustarish = h[257] === 0x75 && h[258] === 0x73 && h[259] === 0x74 && h[260] === 0x61 && h[261] === 0x72;
    const ustar = ustarish && h[262] === 0;
    const gnu = ustarish && h[262] === 0x20;
    let name = cstr(h, 0, 100);
    if (ustar && h[345] !== 0) name = `${cstr(h, 345, 155)}/${name}`;
    const pax =
      this.meta.pax.size === 0
        ? this.globalPax
        : this.globalPax.size === 0
          ? this.meta.pax
          : new Map([...this.globalPax, ...this.meta.pax]);
    if (this.meta.longName !== undefined) name = this.meta.longName;
    let linkname = this.meta.longLink ?? cstr(h, 157, 100);
    let xattrs: Map<string, Buffer> = NONE;
    if (pax.size > 0) {
      if (pax.has("path")) name = pax.get("path")!;
      if (pax.has("linkpath")) linkname = pax.get("linkpath")!;
      for (const [k, v] of pax) {
        if (xattrs === NONE && (k.startsWith("SCHILY.xattr.") || k.startsWith("LIBARCHIVE.xattr."))) xattrs = new Map();
        if (k.startsWith("SCHILY.xattr.")) xattrs.set(k.slice(13), Buffer.from(v, "latin1"));
        else if (k.startsWith("LIBARCHIVE.xattr.")) xattrs.set(decodeURIComponent(k.slice(17)), Buffer.from(v, "base64"));
      }
    }
    const entrySize = pax.has("size") ? Number(pax.get("size")) : size;
    const entry: TarEntry = {
      name,
      type: type ?? "file",
      mode: num(h, 100, 8) & 0o7777,
      uid: pax.has("uid") ? Number(pax.get("uid")) : num(h, 108, 8),
      gid: pax.has("gid") ? Number(pax.get("gid")) : num(h, 116, 8),
      size: type === undefined || type === "file" ? entrySize : 0,
      mtime: pax.has("mtime") ? Number(pax.get("mtime")) : num(h, 136, 12),
      linkname,
      devmajor: ustar || gnu ? num(h, 329, 8) : 0,
      devminor: ustar || gnu ? num(h, 337, 8) : 0,
      xattrs,
    };
    if (this.meta.pax.size > 0 || this.meta.longName !== undefined || this.meta.longLink !== undefined) this.meta = { pax: NONE };
    if (type === undefined) throw new TarFormatError(`entry ${name} has unknown type '${flag}'`);
    this.sink.entry(entry);
    // Only regular files carry data the sink sees; others' bodies (rare, e.g. hardlinks with
    // size set by some writers) are skipped.
    this.metaKind = entry.type === "file" ? null : "skip";
    this.metaBuf = [];
    this.startBody(entry.type === "file" ? entry.size : entrySize);
    if (entry.type === "file" && entry.size === 0) this.sink.end();
  }

  private startBody(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError(`bad entry size ${size}`);
    this.bodyLeft = size;
    this.padLeft = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.bodyDone(true);
  }

  private bodyDone(empty = false): void {
    const kind = this.metaKind;
    this.metaKind = null;
    if (kind === null) {
      if (!empty) this.sink.end();
      return;
    }
    const body = Buffer.concat(this.metaBuf);
    this.metaBuf = [];
    if (kind === "x") this.meta.pax = parsePax(body);
    else if (kind === "g") for (const [k, v] of parsePax(body)) this.globalPax.set(k, v);
    else if (kind === "L") this.meta.longName = cstr(body, 0, body.length);
    else if (kind === "K") this.meta.longLink = cstr(body, 0, body.length);
  }
}

/** pax records: "<len> <key>=<value>\n", len counting the whole record. Values are UTF-8, except xattrs. */
function parsePax(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < body.length) {
    const sp = body.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number(body.toString("latin1", off, sp));
    if (!Number.isSafeInteger(len) || len <= 0 || off + len > body.length) throw new TarFormatError("bad pax record");
    const rec = body.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarFormatError("bad pax record");
    const key = rec.toString("utf8", 0, eq);
    // xattr values are raw bytes: keep them byte-exact (latin1 round-trips every byte)
    out.set(key, rec.toString(key.startsWith("SCHILY.xattr.") ? "latin1" : "utf8", eq + 1));
    off += len;
  }
  return out;
}

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString("utf8", off, end < 0 || end > off + len ? off + len : end);
}

/** An octal field, or GNU's base-256 (high bit set) for big values. */
function num(b: Buffer, off: number, len: number): number {
  if (b[off] & 0x80) {
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i];
    return v + (b[off] & 0x3f) * 256 ** (len - 1);
  }
  // octal digits, possibly padded with spaces and ended by NUL or space (a byte loop: called
  // seven times per entry, and a string round trip per field showed up in profiles)
  let v = 0;
  let i = off;
  const end = off + len;
  while (i < end && b[i] === 0x20) i++;
  for (; i < end; i++) {
    const c = b[i];
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  return v;
}

function checksumOk(h: Buffer): boolean {
  const want = num(h, 148, 8);
  let sum = 8 * 32; // the checksum field itself counts as spaces
  // four bytes a turn: a fresh process runs this in V8's interpreter, where the loop is the cost
  for (let i = 0; i < 148; i += 4) sum += h[i] + h[i + 1] + h[i + 2] + h[i + 3];
  for (let i = 156; i < BLOCK; i += 4) sum += h[i] + h[i + 1] + h[i + 2] + h[i + 3];
  return sum === want;
}

function isZero(h: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (h[i] !== 0) return false;
  return true;
}

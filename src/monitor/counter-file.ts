// The small kernel files a scrape reads for every container (cgroup counters, /proc/<pid>/net/dev),
// read into one reused buffer and parsed from its bytes. A scrape of 30 containers reads ~330 of
// them; as strings (split into lines, then a map of every key) they were ~0.8 MiB of garbage per
// scrape, which made V8 collect the young generation mid-scrape and promote what the scrape still
// held (README, Performance). Values are exactly what Number() gives for the same text.
import { closeSync, openSync, readvSync } from "node:fs";

/** A key of "key value" lines (memory.stat, cpu.stat …), as `field` looks for it. */
export type FieldKey = Buffer & { readonly __fieldKey: true };

export const fieldKey = (name: string) => Buffer.from(`\n${name} `, "latin1") as FieldKey;

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const ZERO = 0x30;
const NINE = 0x39;
/** Digits that always make an exact double: more go through Number(), which rounds correctly. */
const EXACT_DIGITS = 15;
const blank = (b: number) => b === SPACE || b === TAB || b === CR || b === LF;

/** One file at a time: `read` one, then ask it for its number, a field, or its text. */
export class CounterFile {
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private readonly whole = [this.buf];
  private readonly probe = [Buffer.allocUnsafe(4096)];
  /** Bytes of the file read last; -1: it was absent. */
  private size = -1;

  /**
   * Reads `path` (up to 64 KiB): false when it is absent (the kernel lacks it, the cgroup went
   * with its container). open + readv + close: no stat, and readv's wrapper validates less than
   * read's (~0.2 against ~0.5 KB of garbage a call). `oneRecord`: the file is a seq_file of one
   * record, as every cgroup interface file is (kernfs shows it whole, growing its buffer until it
   * fits), so the first read has all of it and no second read is needed to see the end.
   */
  read(path: string, oneRecord = false): boolean {
    this.size = -1;
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch {
      return false;
    }
    try {
      let n = readvSync(fd, this.whole);
      // A seq_file of many records (net/dev) comes a page at a time: read on until EOF.
      for (let k; !oneRecord && n < this.buf.length && (k = readvSync(fd, this.probe)) > 0; n = Math.min(n + k, this.buf.length))
        this.probe[0].copy(this.buf, n, 0, k);
      this.size = n;
      return true;
    } catch {
      return false;
    } finally {
      closeSync(fd);
    }
  }

  /** The file's text (latin1), undefined when it was absent. */
  text(): string | undefined {
    return this.size < 0 ? undefined : this.buf.toString("latin1", 0, this.size);
  }

  /** The whole file as one number (memory.usage_in_bytes, pids.current …): 0 when absent or not a number. */
  number(): number {
    if (this.size < 0) return 0;
    const n = this.parse(0, this.size);
    return Number.isFinite(n) ? n : 0;
  }

  /** The value of the last line "<key> <value>", undefined without one (or when absent). */
  field(key: FieldKey): number | undefined {
    const last = this.size - key.length; // the last start at which the whole key fits
    const at = last >= 0 ? this.buf.lastIndexOf(key, last) : -1;
    let from: number;
    if (at >= 0) from = at + key.length;
    else if (this.startsWithKey(key)) from = key.length - 1;
    else return undefined;
    let eol = from;
    while (eol < this.size && this.buf[eol] !== LF) eol++;
    return this.parse(from, eol);
  }

  /** The first line is "<key> …" (a key is looked for after a newline). */
  private startsWithKey(key: FieldKey): boolean {
    if (this.size < key.length - 1) return false;
    for (let i = 1; i < key.length; i++) if (this.buf[i - 1] !== key[i]) return false;
    return true;
  }

  /** Number(text of [start, end)): digits between blanks by hand, anything else through Number(). */
  private parse(start: number, end: number): number {
    const b = this.buf;
    let i = start;
    while (i < end && blank(b[i])) i++;
    const first = i;
    let v = 0;
    while (i < end && b[i] >= ZERO && b[i] <= NINE) v = v * 10 + (b[i++] - ZERO);
    const digits = i - first;
    while (i < end && blank(b[i])) i++;
    if (i === end && digits <= EXACT_DIGITS) return v; // no digits at all: Number("  ") is 0 too
    return Number(b.toString("latin1", start, end));
  }
}

// The Prometheus text format (version 0.0.4) for the per-container families of `polis monitor`,
// written straight from a snapshot: the same lines prom-client prints, without its per-series
// objects (label maps, hashes, sorted label lists), which made a scrape of 30 containers cost
// ~2 MiB of garbage and the long-running monitor tens of MiB of heap (README, Performance).

/** One family: its HELP and TYPE lines, then `series(out, scrape)` writes its sample lines. */
export interface TextFamily<S> {
  name: string;
  help: string;
  type: "counter" | "gauge";
  series(out: TextSink, scrape: S): void;
}

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function escapeLabel(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"') : v;
}

const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** A sample value as prom-client writes it (NaN, +Inf, -Inf, else JavaScript's shortest form). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v < 0 ? "-Inf" : "+Inf";
  return `${v}`;
}

/**
 * Writes each family, its lines and then an empty line (prom-client's layout), into `out`, and
 * lets the text out between families. Never one string: the text of 100 containers (~465 KB)
 * was ~0.9 MiB of strings per scrape (its lines, then each family's block), every family held
 * until the last was written, and promoted to the old generation by the young collections
 * under way: a full collection after every scrape (docs/performance.md, session 7).
 */
export async function writeFamilies<S>(families: TextFamily<S>[], scrape: S, out: TextSink): Promise<void> {
  for (let i = 0; i < families.length; i++) {
    const f = families[i];
    out.put(`# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`);
    f.series(out, scrape);
    out.put("\n");
    await out.flush(false);
  }
}

const ZERO = 0x30;
const MINUS = 0x2d;
const LF = 0x0a;
/** A safe integer's sign and 16 digits, and the newline. */
const MAX_INTEGER_LINE_END = 18;

/** Sends one chunk of the body; resolves once its bytes are out of the buffer (or the peer has gone). */
export type SendChunk = (chunk: Buffer) => Promise<void>;

/**
 * Text written as UTF-8 into one buffer, handed to `send` when half of it is used (or at the
 * end) and reused once sent. The sample lines are copied in as bytes (the family's name and the
 * container's labels encoded once, the value's digits written one by one): Buffer#write's
 * argument checks allocate ~200 bytes a call without TurboFan, 0.6 MiB a scrape of 100
 * containers. A family longer than what is free (beyond ~200 containers with a 64 KiB buffer)
 * goes out in copies: more garbage, the same bytes.
 */
export class TextSink {
  private used = 0;
  /** Copies of full buffers (and pieces larger than the buffer) waiting for `flush`, in order. */
  private readonly spilled: Buffer[] = [];

  constructor(
    private readonly buf: Buffer,
    private readonly send: SendChunk,
  ) {}

  /** Appends `text` (UTF-8: at most 3 bytes per UTF-16 unit, so that much room is asked for). */
  put(text: string): void {
    if (this.room(text.length * 3)) this.used += this.buf.write(text, this.used, "utf8");
    else this.spilled.push(Buffer.from(text, "utf8"));
  }

  /** Appends bytes (text encoded once, used for many lines). */
  bytes(b: Uint8Array): void {
    if (!this.room(b.length)) return void this.spilled.push(Buffer.from(b));
    this.buf.set(b, this.used);
    this.used += b.length;
  }

  /** One sample line: `head` (the name and "{"), the container's `labels`, `more` labels (",k=\"v\""), the value. */
  sample(head: Uint8Array, labels: Uint8Array, v: number, more?: string): void {
    this.bytes(head);
    this.bytes(labels);
    if (more !== undefined) this.put(more);
    this.ascii("} ");
    this.value(v);
  }

  /** Appends a sample value (formatValue's text) and the line's end; integers digit by digit. */
  value(v: number): void {
    if (!Number.isSafeInteger(v)) return this.ascii(`${formatValue(v)}\n`);
    this.room(MAX_INTEGER_LINE_END);
    const b = this.buf;
    if (v < 0) {
      b[this.used++] = MINUS;
      v = -v;
    }
    let end = this.used + 1;
    for (let rest = v; rest >= 10; rest = Math.floor(rest / 10)) end++;
    for (let i = end - 1, rest = v; i >= this.used; i--, rest = Math.floor(rest / 10)) b[i] = ZERO + (rest % 10);
    b[end] = LF;
    this.used = end + 1;
  }

  /** Sends what waits: the spilled copies, then the buffer once half full (or `all`). */
  async flush(all: boolean): Promise<void> {
    while (this.spilled.length) await this.send(this.spilled.shift()!);
    if (this.used === 0 || (!all && this.used < this.buf.length >> 1)) return;
    await this.send(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  /** Text known to be ASCII (a value, punctuation), a byte per character. */
  private ascii(text: string): void {
    if (!this.room(text.length)) return void this.spilled.push(Buffer.from(text, "latin1"));
    for (let i = 0; i < text.length; i++) this.buf[this.used++] = text.charCodeAt(i);
  }

  /** Makes `n` bytes free, spilling what is buffered if needed; false when `n` exceeds the buffer. */
  private room(n: number): boolean {
    if (n <= this.buf.length - this.used) return true;
    if (this.used > 0) {
      this.spilled.push(Buffer.from(this.buf.subarray(0, this.used)));
      this.used = 0;
    }
    return n <= this.buf.length;
  }
}

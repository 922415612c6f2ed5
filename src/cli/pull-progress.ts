// `polis pull` on a terminal: one line per layer, rewritten in place while it downloads (bytes,
// a bar and the rate, as podman shows them), left on screen with its final word ("done 3.4MB",
// "skipped: already exists"). Other messages print above the block. Off a terminal, pull prints
// its plain lines instead and this file is not loaded.

type Format = (bytes: number) => string;

interface Row {
  /** the blob's short id (12 hex), as in the plain lines */
  id: string;
  text: string;
  /** when its first bytes were reported, and how many: the rate counts from there */
  started: number;
  base: number;
}

const BAR = 20;
/** "Copying blob <12 hex> <rest>": the plain line that closes a blob's row. */
const BLOB_LINE = /^Copying blob ([0-9a-f]{12}) (.*)$/;

export class PullProgress {
  private readonly rows: Row[] = [];
  private drawn = 0;
  private last = 0;

  constructor(
    private readonly write: (s: string) => void,
    private readonly size: Format,
    private readonly columns: () => number | undefined = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** A blob's bytes so far (fetch-blob's Progress); redrawn at most every 100 ms, and at its end. */
  update = (digest: string, have: number, total: number): void => {
    const row = this.row(digest.replace(/^sha256:/, "").slice(0, 12), have);
    const secs = (this.now() - row.started) / 1000;
    const rate = secs >= 0.1 ? ` | ${this.size((have - row.base) / secs)}/s` : "";
    const filled = total > 0 ? Math.min(BAR, Math.floor((have / total) * BAR)) : BAR;
    const bar = filled >= BAR ? "=".repeat(BAR) : `${"=".repeat(filled)}>${" ".repeat(BAR - filled - 1)}`;
    row.text = `Copying blob ${row.id} [${bar}] ${this.size(have)} / ${this.size(total)}${rate}`;
    const t = this.now();
    if (t - this.last < 100 && have < total) return;
    this.last = t;
    this.redraw();
  };

  /** A plain pull line: a blob's final word goes on its row; anything else above the rows. */
  line = (text: string): void => {
    const m = BLOB_LINE.exec(text);
    if (m) {
      this.row(m[1]).text = text;
      this.redraw();
      return;
    }
    this.up();
    this.write(`\x1b[J${text}\n`);
    this.drawn = 0;
    this.redraw();
  };

  /** Leaves the rows on screen as they ended. */
  done(): void {
    this.redraw();
  }

  private row(id: string, have = 0): Row {
    let row = this.rows.find((r) => r.id === id);
    if (!row) {
      row = { id, text: `Copying blob ${id}`, started: this.now(), base: have };
      this.rows.push(row);
    }
    return row;
  }

  private up(): void {
    if (this.drawn > 0) this.write(`\x1b[${this.drawn}A\r`);
  }

  private redraw(): void {
    this.up();
    // a row wider than the terminal would wrap and break the cursor arithmetic
    const width = this.columns();
    const fit = (s: string) => (width && width > 1 && s.length >= width ? s.slice(0, width - 1) : s);
    this.write(this.rows.map((r) => `\x1b[K${fit(r.text)}\n`).join(""));
    this.drawn = this.rows.length;
  }
}

// The monitor's counter-file reader parses numbers from the bytes: it must give what Number() gives
// for the same text (the /metrics values, byte for byte), which the string parsing it replaced did.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CounterFile, fieldKey } from "../../src/monitor/counter-file.js";

const dir = mkdtempSync(join(tmpdir(), "polis-counter-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fileWith = (text: string) => {
  const path = join(dir, `f${n++}`);
  writeFileSync(path, text, "latin1");
  return path;
};

/** What the string parsing did: Number() of the trimmed text, 0 unless finite. */
const wholeNumber = (text: string) => {
  const v = Number(text.trim());
  return Number.isFinite(v) ? v : 0;
};
/** What the string parsing did: every "key value" line into a map, the last one winning. */
const fields = (text: string) => {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp > 0) out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
};

describe("CounterFile", () => {
  const f = new CounterFile();

  it("a file of one number, as Number() reads it", () => {
    const texts = [
      "0\n",
      "104857600\n",
      "9223372036854771712\n", // memory.limit_in_bytes unlimited: more digits than a double holds exactly
      "123456789012345\n",
      "1234567890123456\n",
      "  42  \n",
      "max\n",
      "\n",
      "",
      "12a\n",
      "-5\n",
      "1e3\n",
      "0x10\n",
      "7", // no newline
    ];
    for (const t of texts) {
      expect(f.read(fileWith(t))).toBe(true);
      expect([t, f.number()]).toEqual([t, wholeNumber(t)]);
    }
  });

  it('"key value" lines: the last line of a key, at the start or further, values as Number() reads them', () => {
    const text =
      "cache 1\nrss 2\ntotal_cache 30000\ntotal_rss 15000\ntotal_inactive_file 10000\nrss 3\nodd  7 \nbig 9223372036854771712\nbad 1x\nempty \n";
    expect(f.read(fileWith(text))).toBe(true);
    const want = fields(text);
    for (const k of ["cache", "rss", "total_cache", "total_rss", "total_inactive_file", "odd", "big", "bad", "empty"])
      expect([k, f.field(fieldKey(k))]).toEqual([k, want[k]]);
    // a key that is only part of another one is not that one
    expect(f.field(fieldKey("inactive_file"))).toBeUndefined();
    expect(f.field(fieldKey("total"))).toBeUndefined();
    expect(f.field(fieldKey("user"))).toBeUndefined();
  });

  it("a key on the last line without a newline, and a file shorter than the key", () => {
    expect(f.read(fileWith("user 250\nsystem 50"))).toBe(true);
    expect([f.field(fieldKey("user")), f.field(fieldKey("system"))]).toEqual([250, 50]);
    expect(f.read(fileWith("a 1\n"))).toBe(true);
    expect(f.field(fieldKey("throttled_time"))).toBeUndefined();
    expect(f.field(fieldKey("a"))).toBe(1);
  });

  it("what the previous, longer file left in the buffer is never read", () => {
    expect(f.read(fileWith("nr_periods 5\nnr_throttled 6\n"))).toBe(true);
    expect(f.read(fileWith("nr_periods 1\n"))).toBe(true);
    expect(f.field(fieldKey("nr_throttled"))).toBeUndefined();
    expect(f.read(fileWith("12"))).toBe(true);
    expect(f.number()).toBe(12);
  });

  it("a file of one record (a cgroup file) in one read; the same text either way", () => {
    const path = fileWith("usage_usec 2500000\nuser_usec 2000000\n");
    expect(f.read(path, true)).toBe(true);
    const once = f.text();
    expect(f.read(path)).toBe(true);
    expect(f.text()).toBe(once);
    expect(f.field(fieldKey("user_usec"))).toBe(2000000);
  });

  it("an absent file: false, no number, no field, no text", () => {
    expect(f.read(join(dir, "absent"))).toBe(false);
    expect(f.number()).toBe(0);
    expect(f.field(fieldKey("user"))).toBeUndefined();
    expect(f.text()).toBeUndefined();
  });

  it("a file longer than one read, and a kernel seq_file of many records, read whole up to 64 KiB", () => {
    const long = `${"x".repeat(10_000)}\nlast 9\n`;
    expect(f.read(fileWith(long))).toBe(true);
    expect(f.text()).toBe(long);
    expect(f.field(fieldKey("last"))).toBe(9);
    // /proc/kallsyms: a seq_file that gives a page or so per read, megabytes long: its first 64 KiB
    expect(f.read("/proc/kallsyms")).toBe(true);
    expect(f.text()).toBe(readFileSync("/proc/kallsyms", "latin1").slice(0, 64 * 1024));
  });
});

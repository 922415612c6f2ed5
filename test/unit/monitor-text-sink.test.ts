// The buffer /metrics is written into (src/monitor/exposition.ts TextSink): whatever the sizes
// of the pieces against its buffer, what it sends is the text written, in order, and the buffer
// is handed out again only after the previous send has resolved.
import { describe, expect, it } from "vitest";
import { formatValue, TextSink } from "../../src/monitor/exposition.js";

/** A sink over a `size`-byte buffer whose sends are recorded as copies (the buffer is reused). */
function sink(size: number) {
  const sent: Buffer[] = [];
  let inFlight = false;
  const out = new TextSink(Buffer.alloc(size), async (chunk) => {
    expect(inFlight).toBe(false);
    inFlight = true;
    sent.push(Buffer.from(chunk));
    await new Promise((r) => setImmediate(r));
    inFlight = false;
  });
  return { out, sent, text: () => Buffer.concat(sent).toString("utf8") };
}

const enc = (s: string) => Buffer.from(s, "utf8");

describe("TextSink", () => {
  it("writes a sample line as name{labels more} value", async () => {
    const { out, text } = sink(4096);
    out.sample(enc("m{"), enc('id="c1"'), 42, ',state="running"');
    out.sample(enc("m{"), enc('id="c2"'), 0.25);
    await out.flush(true);
    expect(text()).toBe('m{id="c1",state="running"} 42\nm{id="c2"} 0.25\n');
  });

  it("writes every value as formatValue does, integers digit by digit", async () => {
    const values = [0, -0, 1, 9, 10, 99, 100, 123456789, -1, -42, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 1e21, 1.5, -0.001];
    values.push(1796565284.861, 1e-7, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity);
    for (let i = 0; i < 200; i++) values.push(Math.floor(Math.random() * 2 ** 53), Math.random() * 10 ** (i % 20));
    const { out, text } = sink(64);
    for (const v of values) out.value(v);
    await out.flush(true);
    expect(text()).toBe(values.map((v) => `${formatValue(v)}\n`).join(""));
  });

  it("keeps multi-byte text whole, and the order of pieces smaller and larger than its buffer", async () => {
    const pieces = ["…", "é", "a".repeat(10), "ü".repeat(40), "x".repeat(100), "z", "€".repeat(3), "😀", "q".repeat(31)];
    const { out, text, sent } = sink(32);
    let want = "";
    for (let round = 0; round < 5; round++)
      for (const p of pieces) {
        if (round % 2) out.bytes(enc(p));
        else out.put(p);
        want += p;
        if (p === "z") await out.flush(false);
      }
    await out.flush(true);
    expect(text()).toBe(want);
    expect(sent.length).toBeGreaterThan(10);
  });

  it("sends when half full between families, everything at the end", async () => {
    const { out, sent } = sink(100);
    out.bytes(enc("a".repeat(40)));
    await out.flush(false);
    expect(sent).toEqual([]); // under half: kept
    out.bytes(enc("b".repeat(20)));
    await out.flush(false);
    expect(sent.map(String)).toEqual(["a".repeat(40) + "b".repeat(20)]);
    out.bytes(enc("c"));
    await out.flush(true);
    expect(sent.map(String)).toEqual(["a".repeat(40) + "b".repeat(20), "c"]);
    await out.flush(true); // nothing left: nothing sent
    expect(sent.length).toBe(2);
  });
});

// One protocol, three texts: the TypeScript tables (src/linux/plan.ts, src/linux/shim.ts), the C
// shim (native/src/shim.h, main.c, sync.c) and native/PROTOCOL.md. A drift between them used to
// show only at run time, as an EINVAL from the shim; here it fails with the op's name.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OP_ARG_NAMES, OpCode, argCount } from "../../src/linux/plan.js";
import { MESSAGE_HEADER_LEN, MessageType } from "../../src/linux/shim.js";

const read = (rel: string) => readFileSync(new URL(`../../${rel}`, import.meta.url), "utf8");
const stripComments = (c: string) => c.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");

/** `enum NAME { A = 1, B, C = 7 … }` from C source, as name -> value (implicit values counted on). */
function parseCEnum(source: string, name: string): Map<string, number> {
  const m = new RegExp(`enum\\s+${name}\\s*\\{([^}]*)\\}`).exec(stripComments(source));
  if (!m) throw new Error(`enum ${name} not found`);
  const out = new Map<string, number>();
  let next = 0;
  for (const entry of m[1]
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean)) {
    const [ident, value] = entry.split("=").map((p) => p.trim());
    if (!/^[A-Za-z_]\w*$/.test(ident)) throw new Error(`enum ${name}: cannot read entry "${entry}"`);
    next = value === undefined ? next : Number(value);
    if (!Number.isInteger(next)) throw new Error(`enum ${name}: ${ident} = ${value} is not a plain number`);
    out.set(ident, next++);
  }
  return out;
}

/** main.c's dispatch table: `[OP_NAME] = { fn, nargs }` -> name -> nargs (-1: variadic). */
function parseDispatch(source: string): Map<string, number> {
  const body = /OPS\[OP__COUNT\]\s*=\s*\{([\s\S]*?)\n\};/.exec(stripComments(source));
  if (!body) throw new Error("main.c: the OPS table was not found");
  const out = new Map<string, number>();
  for (const m of body[1].matchAll(/\[OP_(\w+)\]\s*=\s*\{\s*\w+\s*,\s*(-?\d+)\s*\}/g)) out.set(m[1], Number(m[2]));
  return out;
}

/** The rows `| n | NAME | a, b |` of the table that follows `heading` in PROTOCOL.md. */
function parseDocTable(md: string, heading: string): { code: number; name: string; third: string }[] {
  const at = md.indexOf(heading);
  if (at < 0) throw new Error(`PROTOCOL.md: no "${heading}"`);
  const rows: { code: number; name: string; third: string }[] = [];
  for (const line of md.slice(at).split("\n").slice(1)) {
    if (line.startsWith("#")) break;
    const cells = /^\|\s*(\d+)\s*\|\s*(\w+)\s*\|([^|]*)\|/.exec(line);
    if (cells) rows.push({ code: Number(cells[1]), name: cells[2], third: cells[3].trim() });
  }
  return rows;
}

/** OpCode as [name, code] pairs (a numeric TS enum also maps numbers back to names). */
const tsOps = (): [string, number][] => Object.entries(OpCode).filter((e): e is [string, number] => typeof e[1] === "number");

describe("shim protocol: one definition", () => {
  const shimH = read("native/src/shim.h");
  const mainC = read("native/src/main.c");
  const syncC = read("native/src/sync.c");
  const doc = read("native/PROTOCOL.md");

  it("op codes: every name has the same number in TypeScript and in shim.h", () => {
    const c = parseCEnum(shimH, "op_code");
    const count = c.get("OP__COUNT");
    c.delete("OP__COUNT");
    const fromC = [...c].map(([name, code]) => [name.replace(/^OP_/, ""), code]);
    expect(new Map(fromC as [string, number][])).toEqual(new Map(tsOps()));
    // OP__COUNT sizes the dispatch table: one past the largest code
    expect(count).toBe(Math.max(...tsOps().map(([, n]) => n)) + 1);
  });

  it("argument counts: main.c's dispatch table takes what Plan.add sends", () => {
    const dispatch = parseDispatch(mainC);
    for (const [name, code] of tsOps()) {
      if (code === OpCode.END) continue; // the end of the plan, never dispatched
      const { min, variadic } = argCount(code);
      expect.soft(dispatch.get(name), `OPS[OP_${name}] in main.c`).toBe(variadic ? -1 : min);
    }
    const unknown = [...dispatch.keys()].filter((n) => !(n in OpCode));
    expect(unknown, "ops main.c dispatches that plan.ts does not know").toEqual([]);
    // main.c's rule for a variadic op is "at least one argument": the fixed part must be that
    for (const [, code] of tsOps()) if (argCount(code).variadic) expect(argCount(code).min).toBe(1);
  });

  it("PROTOCOL.md's op table names every op with its arguments, in plan.ts's order", () => {
    const rows = parseDocTable(doc, "## Operations");
    expect(rows.map((r) => [r.name, r.code])).toEqual(tsOps());
    for (const r of rows) {
      const names = r.third === "" ? [] : r.third.split(",").map((a) => a.trim());
      expect.soft(names, `PROTOCOL.md ${r.name}`).toEqual([...OP_ARG_NAMES[r.code as OpCode]]);
    }
  });

  it("message types and the header length agree in shim.ts, shim.h, sync.c and PROTOCOL.md", () => {
    const c = parseCEnum(shimH, "msg_type");
    const ts = Object.entries(MessageType).filter((e): e is [string, number] => typeof e[1] === "number");
    expect(new Map([...c].map(([n, v]) => [n.replace(/^MSG_/, ""), v]))).toEqual(new Map(ts));
    const rows = parseDocTable(doc, "## Messages");
    expect(rows.map((r) => [r.name, r.code])).toEqual(ts);
    expect(Number(/#define HEADER_LEN (\d+)/.exec(syncC)?.[1])).toBe(MESSAGE_HEADER_LEN);
  });
});

describe("the protocol parsers themselves", () => {
  it("count implicit enum values on from the last explicit one, past comments", () => {
    const src = "enum e { A, B = 5, /* C = 9 */ C, D = 9, // x = 1\n E };";
    expect([...parseCEnum(src, "e")]).toEqual([
      ["A", 0],
      ["B", 5],
      ["C", 6],
      ["D", 9],
      ["E", 10],
    ]);
  });

  it("read a dispatch table and see a drifted count", () => {
    const src =
      "static const struct { op_fn fn; int nargs; } OPS[OP__COUNT] = {\n  [OP_SETNS] = { op_setns, 3 },\n  [OP_EXEC] = { op_exec, -1 },\n};";
    expect(parseDispatch(src)).toEqual(
      new Map([
        ["SETNS", 3],
        ["EXEC", -1],
      ]),
    );
    expect(argCount(OpCode.SETNS).min).not.toBe(3);
  });
});

// Where a JSON document first goes wrong, as line and column. V8's JSON.parse messages differ
// from one error to the next (some have a position, some not), so on failure — and only then —
// a small scanner walks the text again to find the offending character itself.

export interface JsonProblem {
  line: number; // 1-based
  column: number; // 1-based, in UTF-16 code units like every editor's "column"
  reason: string;
}

/** Returns null when `text` is valid JSON. */
export function findJsonProblem(text: string): JsonProblem | null {
  let i = 0;
  const fail = (reason: string): never => {
    throw new ScanError(i, reason);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const unexpected = (): never =>
    i >= text.length ? fail("unexpected end of input") : fail(`unexpected character ${JSON.stringify(text[i])}`);
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) unexpected();
      i++;
    }
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) return void i++;
      if (c < 0x20) fail("control character in string (escape it)");
      if (c === 0x5c) {
        i++;
        const e = text[i];
        if (e === "u") {
          for (let k = 1; k <= 4; k++) {
            if (!/[0-9a-fA-F]/.test(text[i + k] ?? "")) {
              i += k;
              fail("bad \\u escape in string");
            }
          }
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else fail("bad escape in string");
      } else i++;
    }
  };
  const digits = () => {
    const start = i;
    while (i < text.length && text[i]! >= "0" && text[i]! <= "9") i++;
    if (i === start) unexpected();
  };
  const number = () => {
    if (text[i] === "-") i++;
    if (text[i] === "0") i++;
    else digits();
    if (text[i] === ".") {
      i++;
      digits();
    }
    if (text[i] === "e" || text[i] === "E") {
      i++;
      if (text[i] === "+" || text[i] === "-") i++;
      digits();
    }
  };
  const value = (depth: number): void => {
    if (depth > 512) fail("nested too deeply");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail(i >= text.length ? "unexpected end of input" : "expected a double-quoted property name");
        string();
        ws();
        if (text[i] !== ":") fail(i >= text.length ? "unexpected end of input" : `expected ":" after property name`);
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") return void i++;
        fail(i >= text.length ? "unexpected end of input" : `expected "," or "}"`);
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") return void i++;
        fail(i >= text.length ? "unexpected end of input" : `expected "," or "]"`);
      }
    }
    if (c === '"') return string();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number();
    unexpected();
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail("unexpected data after the document");
    return null;
  } catch (e) {
    if (!(e instanceof ScanError)) throw e;
    return { ...lineColumn(text, e.offset), reason: e.reason };
  }
}

class ScanError {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {}
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === "\n") {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

// polis-fetch --session's output read into frames, and an answer's head read as node's http
// reads it: pure, for native-http.ts (test/unit/image-native-http.test.ts). The protocol is in
// native/PROTOCOL.md.

export type Frame =
  | { kind: "head"; head: Buffer }
  /** a piece of the body (a frame's bytes may come in several pieces) */
  | { kind: "body"; data: Buffer }
  /** "body 0": the body is whole */
  | { kind: "end" }
  /** "error net CODE text", "error tls text", "error proto text": the words after "error " */
  | { kind: "error"; line: string };

/** polis-fetch --session's output, as it arrives, into frames. */
export class FrameReader {
  private rest: Buffer = Buffer.alloc(0);
  /** bytes of the current body frame not yet seen */
  private bodyLeft = 0;

  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    let b = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = Buffer.alloc(0);
    while (b.length > 0) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, b.length);
        out.push({ kind: "body", data: b.subarray(0, n) });
        this.bodyLeft -= n;
        b = b.subarray(n);
        continue;
      }
      const nl = b.indexOf(10);
      if (nl < 0) {
        if (b.length > 1024) throw new Error("polis-fetch session: a line longer than 1024 bytes");
        this.rest = b;
        break;
      }
      const line = b.toString("utf8", 0, nl);
      const space = line.indexOf(" ");
      const word = space < 0 ? line : line.slice(0, space);
      const arg = space < 0 ? "" : line.slice(space + 1);
      if (word === "error") {
        out.push({ kind: "error", line: arg });
        b = b.subarray(nl + 1);
        continue;
      }
      const n = /^\d{1,9}$/.test(arg) ? Number(arg) : Number.NaN;
      if (word === "head" && n >= 0) {
        if (b.length < nl + 1 + n) {
          this.rest = b;
          break;
        }
        out.push({ kind: "head", head: b.subarray(nl + 1, nl + 1 + n) });
        b = b.subarray(nl + 1 + n);
      } else if (word === "body" && n >= 0) {
        if (n === 0) out.push({ kind: "end" });
        this.bodyLeft = n;
        b = b.subarray(nl + 1);
      } else {
        throw new Error(`polis-fetch session: an unknown frame ${JSON.stringify(line.slice(0, 40))}`);
      }
    }
    return out;
  }
}

/** Headers node keeps the first of when an answer repeats them (node:http's IncomingMessage). */
const FIRST_WINS = new Set([
  "content-type",
  "content-length",
  "user-agent",
  "referer",
  "host",
  "authorization",
  "proxy-authorization",
  "if-modified-since",
  "if-unmodified-since",
  "from",
  "location",
  "max-forwards",
  "retry-after",
  "etag",
  "last-modified",
  "server",
  "age",
  "expires",
]);

export interface Head {
  status: number;
  statusText: string;
  /** lower-case names; repeated ones joined as node joins them */
  headers: Map<string, string>;
}

/** The status line and header lines of an answer (CRLF between them), read as node's http does. */
export function parseHead(head: Buffer): Head {
  const lines = head.toString("latin1").split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`polis-fetch session: not a status line: ${JSON.stringify(lines[0].slice(0, 40))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const had = headers.get(name);
    if (had === undefined) headers.set(name, value);
    else if (!FIRST_WINS.has(name)) headers.set(name, `${had}${name === "cookie" ? "; " : ", "}${value}`);
  }
  return { status: Number(m[1]), statusText: m[2] ?? "", headers };
}

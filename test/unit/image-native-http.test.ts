// The node side of polis-fetch's session mode (src/image/native-http.ts): its frames, read in
// pieces as a pipe delivers them, and an answer's head read as node's http reads it.
import { describe, expect, it } from "vitest";
import { type Frame, FrameReader, parseHead } from "../../src/image/native-http.js";

const HEAD = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11";
const STREAM = Buffer.concat([
  Buffer.from(`head ${HEAD.length}\n${HEAD}`),
  Buffer.from("body 5\nhellobody 6\n world"),
  Buffer.from("body 0\n"),
  Buffer.from("error net ECONNREFUSED connect ECONNREFUSED 127.0.0.1:5443\n"),
]);

/** The frames of `chunks` fed one after the other, body pieces joined back per frame run. */
function read(chunks: Buffer[]): (string | [string, string])[] {
  const r = new FrameReader();
  const out: (string | [string, string])[] = [];
  for (const c of chunks) {
    for (const f of r.push(c) as Frame[]) {
      if (f.kind === "body") {
        const last = out[out.length - 1];
        if (Array.isArray(last) && last[0] === "body") last[1] += f.data.toString();
        else out.push(["body", f.data.toString()]);
      } else if (f.kind === "head") out.push(["head", f.head.toString()]);
      else if (f.kind === "error") out.push(["error", f.line]);
      else out.push(f.kind);
    }
  }
  return out;
}

const WHOLE = [["head", HEAD], ["body", "hello world"], "end", ["error", "net ECONNREFUSED connect ECONNREFUSED 127.0.0.1:5443"]];

describe("polis-fetch session frames", () => {
  it("reads a head, body pieces, the zero chunk and an error line", () => {
    expect(read([STREAM])).toEqual(WHOLE);
  });

  it("reads the same however the pipe cuts the bytes: one at a time, or at every place in two", () => {
    expect(read([...STREAM].map((b) => Buffer.from([b])))).toEqual(WHOLE);
    for (let at = 1; at < STREAM.length; at++) {
      expect(read([STREAM.subarray(0, at), STREAM.subarray(at)]), `cut at ${at}`).toEqual(WHOLE);
    }
  });

  it("hands body bytes on as they come, without waiting for the whole frame", () => {
    const r = new FrameReader();
    expect(r.push(Buffer.from("body 10\nabc"))).toEqual([{ kind: "body", data: Buffer.from("abc") }]);
    expect(r.push(Buffer.from("defghij"))).toEqual([{ kind: "body", data: Buffer.from("defghij") }]);
    expect(r.push(Buffer.from("body 0\n"))).toEqual([{ kind: "end" }]);
  });

  it("binary body bytes, newlines included, are data, not frames", () => {
    const data = Buffer.from([10, 0, 255, 10, 13, 10]);
    expect(read([Buffer.concat([Buffer.from(`body ${data.length}\n`), data, Buffer.from("body 0\n")])])).toEqual([
      ["body", data.toString()],
      "end",
    ]);
  });

  it("an unknown frame or a runaway line is an error (the session is dropped)", () => {
    expect(() => new FrameReader().push(Buffer.from("hello 3\nabc"))).toThrow(/an unknown frame "hello 3"/);
    expect(() => new FrameReader().push(Buffer.from("body x\n"))).toThrow(/an unknown frame/);
    expect(() => new FrameReader().push(Buffer.from("head -1\n"))).toThrow(/an unknown frame/);
    expect(() => new FrameReader().push(Buffer.alloc(2000, 97))).toThrow(/longer than 1024 bytes/);
  });
});

describe("an answer's head, as node's http reads it", () => {
  it("status, reason, lower-case names, values trimmed", () => {
    const h = parseHead(Buffer.from("HTTP/1.1 404 Not Found\r\nDocker-Distribution-API-Version:  registry/2.0 \r\nX-Empty:"));
    expect(h.status).toBe(404);
    expect(h.statusText).toBe("Not Found");
    expect([...h.headers]).toEqual([
      ["docker-distribution-api-version", "registry/2.0"],
      ["x-empty", ""],
    ]);
  });

  it("no reason phrase; HTTP/1.0", () => {
    expect(parseHead(Buffer.from("HTTP/1.0 200"))).toMatchObject({ status: 200, statusText: "" });
  });

  it("repeated headers: joined with ', ' (WWW-Authenticate), the first kept where node keeps it (Location, Content-Type)", () => {
    const h = parseHead(
      Buffer.from(
        [
          "HTTP/1.1 401 Unauthorized",
          'WWW-Authenticate: Bearer realm="https://a/token"',
          'www-authenticate: Basic realm="x"',
          "Location: /first",
          "Location: /second",
          "Content-Type: a/b",
          "content-type: c/d",
        ].join("\r\n"),
      ),
    );
    expect(h.headers.get("www-authenticate")).toBe('Bearer realm="https://a/token", Basic realm="x"');
    expect(h.headers.get("location")).toBe("/first");
    expect(h.headers.get("content-type")).toBe("a/b");
  });

  it("header values are latin1, as node's", () => {
    expect(parseHead(Buffer.from([...Buffer.from("HTTP/1.1 200 OK\r\nX: "), 0xe9])).headers.get("x")).toBe("é");
  });

  it("not a status line is an error", () => {
    expect(() => parseHead(Buffer.from("ICY 200 OK"))).toThrow(/not a status line/);
    expect(() => parseHead(Buffer.from("HTTP/2 200"))).toThrow(/not a status line/);
  });
});

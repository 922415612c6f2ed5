// polis-fetch is C reading what a registry's server sends: a raw TCP server on 127.0.0.1 answers
// it with seeded-random HTTP answers, well-formed and malformed (bad status lines, Content-Length
// and chunk sizes out of range or doubled, long and broken heads, NULs and bare CRs/LFs, 1xx,
// HTTP/1.0, bodies and heads cut, connections closed, reset or left hanging at any point, extra
// bytes after a kept-alive answer) and byte-mutated. Both modes:
// - `--session`, several requests a process: each gets exactly one answer (head, body frames,
//   `body 0`) or one `error net|tls|proto` frame, as FrameReader and parseHead read them; a
//   clean request after the bad ones (to the same server, and to four others) still works; the
//   process exits 0 at stdin's end, never by a signal, never hangs past --timeout-ms;
// - one-shot downloads: exactly one report line on fd 3 in polis-fetch.c's vocabulary, exit 0,
//   no signal, the file never longer than --size, and `ok` only for the right bytes.
// A failure names the seed and the case. Run by hand against a build with
// -fsanitize=address,undefined (POLIS_FETCH=...; nothing may come on stderr).
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchBinary } from "../../src/image/native-http.js";
import { type Frame, FrameReader, parseHead } from "../../src/image/session-frames.js";
import { seeded } from "../helpers/random.js";

const SEED = Number(process.env.POLIS_FUZZ_SEED ?? 1);
const TIMEOUT_MS = 500;
const work = mkdtempSync(join(tmpdir(), "polis-fetch-fuzz-"));

// --- the server: each path's script, played on any connection that asks for it ---------------

interface Script {
  /** written one after the other, a millisecond apart (heads and chunk lines cut across reads) */
  pieces: Buffer[];
  /** then: keep the connection for the next request, close it, reset it, or leave it hanging */
  after: "keep" | "close" | "reset" | "hang";
}

class FuzzServer {
  readonly scripts = new Map<string, Script>();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor() {
    this.server = createServer((s) => this.connection(s));
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private connection(s: Socket): void {
    this.sockets.add(s);
    s.setNoDelay(true);
    s.on("close", () => this.sockets.delete(s));
    s.on("error", () => {});
    let got = Buffer.alloc(0);
    let playing = false;
    const next = (): void => {
      const end = got.indexOf("\r\n\r\n");
      if (playing || end < 0) return;
      const path = /^GET (\S+) HTTP\/1\.1\r\n/.exec(got.toString("latin1", 0, end + 2))?.[1] ?? "";
      got = got.subarray(end + 4);
      const script = this.scripts.get(path) ?? {
        pieces: [Buffer.from("HTTP/1.1 404 No\r\nContent-Length: 0\r\n\r\n")],
        after: "keep",
      };
      playing = true;
      void this.play(s, script).then(() => {
        playing = false;
        if (script.after === "keep") next();
      });
    };
    s.on("data", (b: Buffer) => {
      got = Buffer.concat([got, b]);
      next();
    });
  }

  private async play(s: Socket, script: Script): Promise<void> {
    for (const [i, p] of script.pieces.entries()) {
      if (s.destroyed) return;
      if (i > 0) await new Promise((r) => setTimeout(r, 1));
      s.write(p);
    }
    if (script.after === "close") s.end();
    else if (script.after === "reset") s.resetAndDestroy();
  }
}

// --- answers: the generator ------------------------------------------------------------------

/** What the child must make of an answer; `any` for a mutated one (only the invariants hold). */
type Expect =
  | { kind: "ok"; status: number; body: Buffer }
  /** no head: one error frame matching */
  | { kind: "error"; re: RegExp }
  /** a head, maybe body frames, then an error frame matching */
  | { kind: "cut"; re: RegExp }
  | { kind: "any" };

interface Answer {
  what: string;
  script: Script;
  expect: Expect;
}

const CRLF = "\r\n";
const PROTO = /^proto .+$/;
const HANG_UP = /^net ECONNRESET socket hang up$/;
const TIMED_OUT = /^(net ETIMEDOUT no answer for \d+ ms|proto .+)$/; // or a head refused before the time

function gen(rnd: () => number) {
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const blob = () => bytes(pick([0, 1, 5, 100, 1000, 4000, 20_000, 300_000]));

  /** A head's bytes (with its final empty line) and a body, cut into a few pieces at random places. */
  const pieces = (b: Buffer): Buffer[] => {
    const cuts = [...new Set(Array.from({ length: int(4) }, () => int(b.length + 1)))].sort((x, y) => x - y);
    const out: Buffer[] = [];
    let at = 0;
    for (const c of cuts) {
      if (c > at) out.push(b.subarray(at, c));
      at = c;
    }
    if (at < b.length) out.push(b.subarray(at));
    return out;
  };
  const head = (status: string, headers: string[]) => Buffer.from([status, ...headers, "", ""].join(CRLF), "latin1");
  const chunkedBody = (body: Buffer, ext: boolean, trailers: boolean): Buffer => {
    const out: Buffer[] = [];
    for (let at = 0; at < body.length; ) {
      const n = Math.min(body.length - at, 1 + int(pick([10, 1000, 70_000])));
      const size = rnd() < 0.3 ? n.toString(16).toUpperCase() : n.toString(16);
      out.push(
        Buffer.from(`${rnd() < 0.2 ? "00" : ""}${size}${ext ? ';name="v"' : ""}${CRLF}`),
        body.subarray(at, at + n),
        Buffer.from(CRLF),
      );
      at += n;
    }
    out.push(Buffer.from(`0${ext ? ";x" : ""}${CRLF}${trailers ? `Trailer-One: 1${CRLF}X-Two: 2${CRLF}` : ""}${CRLF}`));
    return Buffer.concat(out);
  };

  /** A well-formed answer: its bytes, how it ends, and the body node must get. */
  function good(): Answer & { status: number; body: Buffer; raw: Buffer } {
    const body = blob();
    const status = pick([200, 200, 200, 201, 401, 404, 500]);
    const reason = pick([" OK", " Whatever it says", "", " "]);
    const extra = rnd() < 0.3 ? [`X-Long: ${"v".repeat(int(12_000))}`] : [];
    const version = rnd() < 0.15 ? "1.0" : "1.1";
    const framing = pick(["length", "length", "chunked", "close"] as const);
    let raw: Buffer;
    let after: Script["after"] = version === "1.0" ? "close" : "keep";
    let what = `${framing} HTTP/${version} ${status} ${body.length} bytes`;
    if (framing === "length") {
      raw = Buffer.concat([
        head(`HTTP/${version} ${status}${reason}`, [
          "Content-Type: application/octet-stream",
          ...extra,
          `Content-Length: ${rnd() < 0.2 ? " " : ""}${body.length}`,
        ]),
        body,
      ]);
    } else if (framing === "chunked") {
      const ext = rnd() < 0.3;
      const trailers = rnd() < 0.3;
      what += `${ext ? " ext" : ""}${trailers ? " trailers" : ""}`;
      raw = Buffer.concat([
        head(`HTTP/${version} ${status}${reason}`, [...extra, "Transfer-Encoding: chunked"]),
        chunkedBody(body, ext, trailers),
      ]);
    } else {
      raw = Buffer.concat([head(`HTTP/${version} ${status}${reason}`, extra), body]);
      after = "close";
    }
    if (after === "keep" && rnd() < 0.2) {
      what += ", connection: close";
      raw = Buffer.concat([
        head(raw.toString("latin1", 0, raw.indexOf("\r\n")), [
          "Connection: close",
          ...raw.toString("latin1", 0, raw.indexOf("\r\n\r\n")).split(CRLF).slice(1),
        ]),
        raw.subarray(raw.indexOf("\r\n\r\n") + 4),
      ]);
      after = "close";
    }
    return { what, script: { pieces: pieces(raw), after }, expect: { kind: "ok", status, body }, status, body, raw };
  }

  const bad: (() => Answer)[] = [
    // status lines node's parser refuses
    () => {
      const line = pick([
        "HTTP/1.1 2000 OK",
        "HTTP/2 200 OK",
        "HTTP/1.1 20 OK",
        "HTTP/1.1 -20 x",
        "HTP/1.1 200 OK",
        "HTTP/1.1 200OK",
        "HTTP/1.1  200 OK",
        "http/1.1 200 OK",
        "HTTP/1.2 200 OK",
        "HTTP/1.1 +20 OK",
        "",
        " HTTP/1.1 200 OK",
        "HTTP/1.1\t200 OK",
        "\x00HTTP/1.1 200 OK",
      ]);
      return {
        what: `status line ${JSON.stringify(line)}`,
        script: { pieces: [head(line, ["Content-Length: 2"]), Buffer.from("hi")], after: "keep" },
        expect: { kind: "error", re: PROTO },
      };
    },
    // Content-Length values node's parser refuses (doubled, signed, not decimal, overflowing)
    () => {
      const values = pick([
        ["-1"],
        ["abc"],
        ["99999999999999999999"],
        ["1e3"],
        ["+2"],
        ["0x2"],
        ["2, 2"],
        ["2", "2"],
        ["2", "3"],
        ["2 2"],
        [""],
        ["-0"],
        ["18446744073709551618"],
        [`${"0".repeat(300)}2`], // longer than the child's copy of a header value
      ]);
      return {
        what: `Content-Length ${JSON.stringify(values)}`,
        script: {
          pieces: [
            head(
              "HTTP/1.1 200 OK",
              values.map((v) => `Content-Length: ${v}`),
            ),
            Buffer.from("hi"),
          ],
          after: "keep",
        },
        expect: { kind: "error", re: PROTO },
      };
    },
    // a Content-Length past what the child takes, or past what comes: cut
    () => {
      const n = pick(["9223372036854775807", "4611686018427387904", "2305843009213693952", "1000000000000000", "5000"]);
      return {
        what: `Content-Length ${n}, 3 bytes, closed`,
        script: { pieces: [head("HTTP/1.1 200 OK", [`Content-Length: ${n}`]), Buffer.from("abc")], after: "close" },
        expect: { kind: "cut", re: /^(net ECONNRESET .+|proto .+)$/ },
      };
    },
    // chunk sizes node's parser refuses, and chunk data without its CRLF
    () => {
      const line = pick([
        "zz",
        "-1",
        "ffffffffffffffffff",
        "10000000000000000",
        "0x5",
        " 5",
        "+5",
        "",
        ";x",
        "5 5",
        "7fffffffffffffff",
        "8000000000000000",
        "ffffffffffffffff",
      ]);
      return {
        what: `chunk size ${JSON.stringify(line)}`,
        script: {
          pieces: [head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"]), Buffer.from(`${line}\r\nhello\r\n0\r\n\r\n`)],
          after: "keep",
        },
        expect: { kind: "cut", re: PROTO },
      };
    },
    () => {
      const data = pick(["helloX0\r\n\r\n", "hello0\r\n\r\n", "hello\r0\r\n\r\n", "hellohello\r\n0\r\n\r\n"]);
      return {
        what: `chunk data ${JSON.stringify(data)}`,
        script: {
          pieces: [head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"]), Buffer.from(`5\r\n${data}`)],
          after: "close",
        },
        expect: { kind: "cut", re: PROTO },
      };
    },
    // a chunk line or a trailer longer than the child reads
    () => ({
      what: "a chunk line of 2000 bytes",
      script: {
        pieces: [
          head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"]),
          Buffer.from(`5;${"e".repeat(2000)}\r\nhello\r\n0\r\n\r\n`),
        ],
        after: "close",
      },
      expect: { kind: "cut", re: PROTO },
    }),
    // a head longer than node's 16 KiB, in one header or many
    () => {
      const headers =
        rnd() < 0.5 ? [`X-Big: ${"b".repeat(17_000)}`] : Array.from({ length: 600 }, (_, i) => `X-H${i}: ${"h".repeat(25)}`);
      return {
        what: "a head over 16 KiB",
        script: { pieces: pieces(Buffer.concat([head("HTTP/1.1 200 OK", [...headers, "Content-Length: 0"])])), after: "keep" },
        expect: { kind: "error", re: PROTO },
      };
    },
    // NULs, bare CRs and LFs in the head (node's parser refuses them)
    () => {
      const h = pick(["X-A: a\x00b", "X-A: a\rb", "X-A: a\nb", "X-\x00A: b", "X-A: b\r\r"]);
      return {
        what: `header ${JSON.stringify(h)}`,
        script: { pieces: [head("HTTP/1.1 200 OK", [h, "Content-Length: 2"]), Buffer.from("hi")], after: "keep" },
        expect: { kind: "error", re: PROTO },
      };
    },
    // a head with LF line ends only, the connection then closed or kept
    () => {
      const after = pick(["close", "hang"] as const);
      return {
        what: `a bare-LF head, then ${after}`,
        script: { pieces: [Buffer.from("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi")], after },
        expect: {
          kind: "error",
          re: after === "close" ? /^(net ECONNRESET socket hang up|proto .+)$/ : TIMED_OUT,
        },
      };
    },
    // Content-Length and chunked at once (node's parser refuses it)
    () => ({
      what: "Content-Length and Transfer-Encoding: chunked",
      script: {
        pieces: [
          head("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked", "Content-Length: 5"]),
          Buffer.from("5\r\nhello\r\n0\r\n\r\n"),
        ],
        after: "keep",
      },
      expect: { kind: "error", re: PROTO },
    }),
    // chunked only as the last coding, as node reads it: "chunkedx" is read to the close
    () => {
      const coding = pick(["gzip, chunked", "chunkedx", "x-chunked", "chunked, gzip"]);
      const last = coding.endsWith(" chunked");
      const raw = Buffer.from(`5\r\nhello\r\n0\r\n\r\n`);
      return {
        what: `Transfer-Encoding: ${coding}`,
        script: { pieces: [head("HTTP/1.1 200 OK", [`Transfer-Encoding: ${coding}`]), raw], after: "close" },
        expect: { kind: "ok", status: 200, body: last ? Buffer.from("hello") : raw },
      };
    },
    // an interim answer before the real one
    () => ({
      what: "100 Continue, then 200",
      script: {
        pieces: [Buffer.from("HTTP/1.1 100 Continue\r\n\r\n"), head("HTTP/1.1 200 OK", ["Content-Length: 2"]), Buffer.from("hi")],
        after: "keep",
      },
      expect: { kind: "error", re: PROTO },
    }),
    // the connection closed, reset or left hanging before a whole head
    () => {
      const g = good();
      const cut = int(g.raw.indexOf("\r\n\r\n") + 3);
      const after = pick(["close", "reset", "hang"] as const);
      return {
        what: `head cut at ${cut} (${g.what}), then ${after}`,
        script: { pieces: pieces(g.raw.subarray(0, cut)), after },
        expect: {
          kind: "error",
          re:
            after === "close"
              ? cut === 0
                ? HANG_UP
                : /^(net ECONNRESET socket hang up|proto .+)$/
              : after === "reset"
                ? /^(net ECONNRESET .+|proto .+)$/
                : TIMED_OUT,
        },
      };
    },
    // ... or inside the body
    () => {
      const g = good();
      const start = g.raw.indexOf("\r\n\r\n") + 4;
      if (g.raw.length === start || g.what.startsWith("close")) return g; // nothing to cut, or the close ends it right
      const cut = start + int(g.raw.length - start);
      const after = pick(["close", "reset", "hang"] as const);
      return {
        what: `body cut at ${cut - start} (${g.what}), then ${after}`,
        script: { pieces: pieces(g.raw.subarray(0, cut)), after },
        expect: { kind: "cut", re: after === "hang" ? TIMED_OUT : /^(net ECONNRESET .+|proto .+)$/ },
      };
    },
    // a kept-alive answer followed by garbage, or by a whole second answer (pipelined), in the
    // same write as its last bytes (garbage coming later, after the next request went out on
    // that connection, would be read as its answer: by node's http as well)
    () => {
      const g = good();
      if (g.what.startsWith("close")) return g; // the extra bytes would be the body's
      const extra = rnd() < 0.5 ? bytes(1 + int(100)) : good().raw;
      const p = g.script.pieces;
      return {
        what: `${g.what}, then ${extra.length} bytes more`,
        script: {
          pieces: [...p.slice(0, -1), Buffer.concat([p[p.length - 1] ?? Buffer.alloc(0), extra])],
          after: g.script.after,
        },
        expect: g.expect,
      };
    },
    // 204 and 304 have no body, whatever follows
    () => {
      const status = pick([204, 304]);
      return {
        what: `${status} with bytes after`,
        script: {
          pieces: [Buffer.concat([head(`HTTP/1.1 ${status} X`, ["Content-Length: 5"]), Buffer.from("hello")])],
          after: "keep",
        },
        expect: { kind: "ok", status, body: Buffer.alloc(0) },
      };
    },
    // random bytes
    () => ({
      what: "random bytes",
      script: { pieces: [bytes(1 + int(300))], after: pick(["close", "reset"] as const) },
      expect: { kind: "any" },
    }),
  ];

  /** A good answer's bytes mutated: bytes changed, inserted, deleted, and maybe cut. */
  function mutated(): Answer {
    const g = good();
    const b = [...g.raw.subarray(0, Math.min(g.raw.length, 400))];
    const special = [0, 9, 10, 13, 32, 0x2b, 0x2d, 0x30, 0x39, 0x3a, 0x3b, 0x46, 0x66, 0x78, 0x7f, 0x80, 0xff];
    for (let n = 1 + int(5); n > 0; n--) {
      const at = int(b.length + 1);
      const v = rnd() < 0.7 ? pick(special) : int(256);
      const op = int(3);
      if (op === 0 && at < b.length) b[at] = v;
      else if (op === 1) b.splice(at, 0, v);
      else b.splice(at, 1);
    }
    let raw = Buffer.concat([Buffer.from(b), g.raw.subarray(400)]);
    if (rnd() < 0.2) raw = raw.subarray(0, int(raw.length));
    // kept alive: in one write, so that what the child does not take is there before its next request
    const after = pick(["close", "close", "reset", "keep"] as const);
    return {
      what: `mutated ${g.what}`,
      script: { pieces: after === "keep" ? [raw] : pieces(raw), after },
      expect: { kind: "any" },
    };
  }

  return { good, bad, mutated, pick, int, rnd };
}

// --- session mode --------------------------------------------------------------------------

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  fd3: string;
  ms: number;
}

/** Runs the child to its end; killed (and failed) after `limitMs`. */
function runChild(args: string[], stdin: string | null, limitMs: number): Promise<Run & { hung: boolean }> {
  const t0 = Date.now();
  const child: ChildProcess = spawn(fetchBinary(), args, { stdio: [stdin === null ? "ignore" : "pipe", "pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  let stderr = "";
  let fd3 = "";
  child.stdout?.on("data", (b: Buffer) => out.push(b));
  child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
  (child.stdio[3] as NodeJS.ReadableStream).on("data", (b: Buffer) => (fd3 += b.toString()));
  child.stdin?.on("error", () => {});
  child.stdin?.end(stdin);
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, limitMs);
  return new Promise((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr, fd3, hung, ms: Date.now() - t0 });
    }),
  );
}

type Reply = { head?: Frame & { kind: "head" }; body: Buffer; end: boolean; error?: string };

/** The session's stdout, one reply per request: a head, body frames and `body 0`, or an error (maybe after a head). */
function replies(stdout: Buffer): Reply[] {
  const out: Reply[] = [];
  let cur: Reply | undefined;
  const pieces: Buffer[] = [];
  for (const f of new FrameReader().push(stdout)) {
    cur ??= { body: Buffer.alloc(0), end: false };
    if (f.kind === "head") {
      if (cur.head) throw new Error("a second head in one reply");
      cur.head = f;
    } else if (f.kind === "body") {
      if (!cur.head) throw new Error("body bytes before a head");
      pieces.push(f.data);
    } else {
      if (f.kind === "end" && !cur.head) throw new Error("body 0 before a head");
      if (f.kind === "end") cur.end = true;
      else cur.error = f.line;
      cur.body = Buffer.concat(pieces);
      pieces.length = 0;
      out.push(cur);
      cur = undefined;
    }
  }
  if (cur || pieces.length) throw new Error("a reply left unfinished");
  return out;
}

const VOCABULARY = /^(net E[A-Z0-9_]+ .+|tls .+|proto .+)$/;

let fuzz: FuzzServer;
/** servers of clean answers: with the fuzz server, one origin more than the child keeps connections to */
let others: FuzzServer[] = [];
beforeAll(async () => {
  fuzz = new FuzzServer();
  others = Array.from({ length: 4 }, () => new FuzzServer());
  for (const s of [fuzz, ...others]) await s.start();
});
afterAll(async () => {
  for (const s of [fuzz, ...others]) await s?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe(`polis-fetch on malformed HTTP answers (POLIS_FUZZ_SEED=${SEED})`, () => {
  it("--session: one answer or one error frame per request, clean requests after bad ones work, exit 0", async () => {
    const g = gen(seeded(SEED));
    const t0 = Date.now();
    let oks = 0;
    let errors = 0;
    for (let p = 0; p < 40; p++) {
      const cases: Answer[] = [];
      for (let k = 0; k < 5; k++) {
        const a = g.rnd() < 0.25 ? g.good() : g.rnd() < 0.7 ? g.pick(g.bad)() : g.mutated();
        const path = `/s/${p}/${k}`;
        fuzz.scripts.set(path, a.script);
        cases.push(a);
      }
      // then clean answers: from the same server (a fresh connection if the last one is
      // spoiled), from four others (five origins: a kept connection is closed for a new one),
      // and from the first again
      const urls = cases.map((_, k) => `http://127.0.0.1:${fuzz.port}/s/${p}/${k}`);
      for (const [i, server] of [fuzz, ...others.slice(p % 4), ...others.slice(0, p % 4), fuzz].entries()) {
        const a = g.good();
        a.what = `clean ${a.what} from server ${server === fuzz ? "fuzz" : others.indexOf(server)}`;
        server.scripts.set(`/s/${p}/clean${i}`, a.script);
        urls.push(`http://127.0.0.1:${server.port}/s/${p}/clean${i}`);
        cases.push(a);
      }
      const stdin = urls.map((u, i) => `GET ${u}\nAccept: */*\nX-Case: ${i}\n\n`).join("");
      const r = await runChild(["--session", "--timeout-ms", String(TIMEOUT_MS)], stdin, urls.length * TIMEOUT_MS + 5000);
      const what = (k: number) => `seed ${SEED} process ${p} request ${k} (${cases[k].what})`;
      const run = `seed ${SEED} process ${p}: ${JSON.stringify({ code: r.code, signal: r.signal, hung: r.hung, stderr: r.stderr, cases: cases.map((c) => c.what) })}`;
      expect(r.hung, run).toBe(false);
      expect(r.signal, run).toBeNull();
      expect(r.code, run).toBe(0);
      expect(r.stderr, run).toBe("");
      let got: Reply[] = [];
      expect(() => (got = replies(r.stdout)), run).not.toThrow();
      expect(got.length, run).toBe(urls.length);
      const expects = cases.map((c) => c.expect);
      for (const [k, reply] of got.entries()) {
        const e = expects[k];
        const desc = `${what(k)}, after ${JSON.stringify(cases.slice(0, k).map((c) => c.what))}: ${JSON.stringify({ head: reply.head?.head.toString("latin1").slice(0, 200), error: reply.error, body: reply.body.length })}`;
        if (reply.error !== undefined) expect(reply.error, desc).toMatch(VOCABULARY);
        if (reply.head) expect(() => parseHead(reply.head?.head ?? Buffer.alloc(0)), desc).not.toThrow();
        if (reply.end) oks++;
        else errors++;
        if (e.kind === "ok") {
          expect(reply.error, desc).toBeUndefined();
          expect(reply.end, desc).toBe(true);
          expect(parseHead(reply.head?.head ?? Buffer.alloc(0)).status, desc).toBe(e.status);
          expect(reply.body.equals(e.body), desc).toBe(true);
        } else if (e.kind === "error") {
          expect(reply.head, desc).toBeUndefined();
          expect(reply.error, desc).toMatch(e.re);
        } else if (e.kind === "cut") {
          expect(reply.end, desc).toBe(false);
          expect(reply.error, desc).toMatch(e.re);
        }
      }
    }
    expect(oks).toBeGreaterThan(240); // the clean ones and more
    expect(errors).toBeGreaterThan(60);
    console.log(`session fuzz: 40 processes, 440 requests, ${oks} answers, ${errors} errors, ${Date.now() - t0} ms`);
  }, 120_000);
});

// --- one-shot downloads ----------------------------------------------------------------------

const REPORT =
  /^(ok \d+ sha256:[0-9a-f]{64}( restarted)?|status \d{3}|proto .+|tls .+|net E[A-Z0-9_]+ .+|over \d+|short \d+|digest sha256:[0-9a-f]{64}|file E[A-Z0-9_]+ .+)\n$/;

describe(`polis-fetch one-shot downloads of malformed answers (POLIS_FUZZ_SEED=${SEED})`, () => {
  it("one report line on fd 3, exit 0, the file never past --size, ok only for the right bytes", async () => {
    const g = gen(seeded(SEED + 1000));
    const t0 = Date.now();
    const seen = new Map<string, number>();
    const N = 200;
    const one = async (k: number, a: Answer, blob: Buffer, prefix: Buffer, tee: boolean): Promise<void> => {
      const path = `/o/${k}`;
      fuzz.scripts.set(path, a.script);
      const file = join(work, `blob-${k}`);
      writeFileSync(file, prefix);
      const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
      const args = [
        "--url",
        `http://127.0.0.1:${fuzz.port}${path}`,
        "--file",
        file,
        "--size",
        String(blob.length),
        "--digest",
        digest,
        "--timeout-ms",
        String(TIMEOUT_MS),
      ];
      const r = await runChild(tee ? [...args, "--tee"] : args, null, 15_000);
      const desc = `seed ${SEED} download ${k} (${a.what}, blob ${blob.length}, prefix ${prefix.length}${tee ? ", tee" : ""}): ${JSON.stringify({ code: r.code, signal: r.signal, hung: r.hung, fd3: r.fd3, stderr: r.stderr })}`;
      expect(r.hung, desc).toBe(false);
      expect(r.signal, desc).toBeNull();
      expect(r.code, desc).toBe(0);
      expect(r.stderr, desc).toBe("");
      expect(r.fd3, desc).toMatch(REPORT);
      const word = r.fd3.split(" ")[0];
      seen.set(word, (seen.get(word) ?? 0) + 1);
      const content = readFileSync(file);
      expect(statSync(file).size, desc).toBeLessThanOrEqual(blob.length);
      if (word === "ok") {
        expect(content.equals(blob), desc).toBe(true);
        expect(r.fd3, desc).toBe(`ok ${blob.length} ${digest}${r.fd3.includes("restarted") ? " restarted" : ""}\n`);
        if (tee)
          expect(r.stdout.equals(r.fd3.includes("restarted") ? Buffer.alloc(0) : blob.subarray(prefix.length)), desc).toBe(true);
      }
      if (a.expect.kind === "ok" && a.expect.status === 200 && prefix.length === 0) expect(r.fd3, desc).toMatch(/^ok /);
      if (a.expect.kind === "ok" && a.expect.status !== 200) expect(r.fd3, desc).toBe(`status ${a.expect.status}\n`);
      if (a.expect.kind === "error") expect(r.fd3, desc).toMatch(/^(proto|net|status) /);
      rmSync(file);
    };
    const jobs: (() => Promise<void>)[] = [];
    for (let k = 0; k < N; k++) {
      const roll = g.rnd();
      let a: Answer;
      let blob: Buffer<ArrayBufferLike>;
      let prefix: Buffer<ArrayBufferLike> = Buffer.alloc(0);
      if (roll < 0.3) {
        // the expected blob, or a wrong one of the same, a longer or a shorter size
        const gd = g.good();
        a = gd;
        blob = gd.body;
        const change = g.int(4);
        if (change === 1 && blob.length > 0) {
          blob = Buffer.from(blob);
          blob[g.int(blob.length)] ^= 1;
          a = { ...gd, what: `${gd.what}, one bit off`, expect: { kind: "any" } };
        } else if (change === 2) {
          blob = blob.subarray(0, g.int(blob.length + 1));
          a = { ...gd, what: `${gd.what}, --size ${blob.length}`, expect: { kind: "any" } };
        } else if (change === 3) {
          blob = Buffer.concat([blob, Buffer.from("more")]);
          a = { ...gd, what: `${gd.what}, --size ${blob.length}`, expect: { kind: "any" } };
        }
      } else if (roll < 0.45) {
        // a resumed download: 206 with the right or a wrong Content-Range, or 200 from the start
        blob = Buffer.from(Array.from({ length: 1 + g.int(5000) }, () => g.int(256)));
        const at = g.int(blob.length);
        prefix = blob.subarray(0, at);
        const start = g.pick([at, at, at + 1, Math.max(0, at - 1), "x", "-5", "99999999999999999999", ""]);
        const whole = g.rnd() < 0.3;
        const rest = whole ? blob : blob.subarray(at);
        // (a length near LLONG_MAX: `have + length` overflowed, UBSan found)
        const length = g.rnd() < 0.15 ? "9223372036854775807" : String(rest.length);
        const raw = Buffer.concat([
          Buffer.from(
            whole
              ? `HTTP/1.1 200 OK\r\nContent-Length: ${rest.length}\r\n\r\n`
              : `HTTP/1.1 206 Partial\r\nContent-Range: bytes ${start}-${blob.length - 1}/${blob.length}\r\nContent-Length: ${length}\r\n\r\n`,
          ),
          rest,
        ]);
        a = {
          what: whole ? "200 to a Range" : `206 from ${start} for ${at}, Content-Length ${length}`,
          script: { pieces: [raw], after: "close" },
          expect: { kind: "any" },
        };
      } else {
        a = g.rnd() < 0.6 ? g.pick(g.bad)() : g.mutated();
        blob = a.expect.kind === "ok" ? a.expect.body : Buffer.from("hi");
        if (a.expect.kind === "ok" && a.expect.status === 200) a = { ...a, expect: { kind: "any" } }; // extra bytes may follow
      }
      const tee = g.rnd() < 0.2;
      jobs.push(() => one(k, a, blob, prefix, tee));
    }
    for (let k = 0; k < jobs.length; k += 2) await Promise.all(jobs.slice(k, k + 2).map((j) => j()));
    const words = Object.fromEntries([...seen].sort());
    console.log(`one-shot fuzz: ${N} downloads, ${JSON.stringify(words)}, ${Date.now() - t0} ms`);
    for (const w of ["ok", "status", "proto", "net", "digest", "short", "over"])
      expect(seen.get(w) ?? 0, `${w} in ${JSON.stringify(words)}`).toBeGreaterThan(0);
  }, 120_000);
});

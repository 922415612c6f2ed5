// How /metrics lets its buffer out (src/monitor/server.ts chunkSender): each send resolves once
// the chunk is written, so the buffer can be reused, and at once when the reader has gone (node
// calls no write callback then): a scrape whose reader vanishes mid-body must still finish.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { chunkSender } from "../../src/monitor/server.js";

const CHUNK = 1 << 20;
let server: Server | undefined;
afterEach(() => {
  server?.closeAllConnections();
  return new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

/** A server whose response is `count` chunks of one reused buffer, each byte its chunk's number. */
function serve(count: number, finished: (sent: number) => void): Promise<number> {
  const buf = Buffer.alloc(CHUNK);
  server = createServer(async (_req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    const send = chunkSender(res);
    let i = 0;
    for (; i < count; i++) {
      buf.fill(i); // reused: only safe once the previous send has resolved
      await send(buf);
    }
    res.end();
    finished(i);
  });
  return new Promise((r) => server!.listen(0, "127.0.0.1", () => r((server!.address() as AddressInfo).port)));
}

describe("chunkSender", () => {
  it("sends every chunk whole and in order while its buffer is reused", async () => {
    let done = -1;
    const port = await serve(24, (n) => (done = n));
    const body = Buffer.from(await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer());
    expect(body.length).toBe(24 * CHUNK);
    for (let i = 0; i < 24; i++) expect(body[i * CHUNK] === i && body[(i + 1) * CHUNK - 1] === i).toBe(true);
    expect(done).toBe(24);
  });

  it("finishes the response when the reader goes away mid-body", async () => {
    let finished: (n: number) => void = () => {};
    const done = new Promise<number>((r) => (finished = r));
    const port = await serve(200, (n) => finished(n)); // 200 MiB: far more than the socket buffers hold
    const sock = connect(port, "127.0.0.1");
    sock.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise<void>((r) => sock.once("data", () => r()));
    sock.pause();
    await new Promise((r) => setTimeout(r, 100));
    sock.destroy();
    const late = new Promise((r) => setTimeout(() => r("still waiting after 10 s"), 10_000));
    expect(await Promise.race([done, late])).toBe(200);
  }, 20_000);
});
